/**
 * Vat node processes for multi-process tests: `quorumvat node` children on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { spawnVatNode, type VatNodeProcess } from '../../vat-node/src/node/spawn.ts';
import { VatNode } from '../../vat-node/src/node/vat-node.ts';

const CLI = new URL('../../vat-node/src/cli/main.ts', import.meta.url).pathname;
export const contractPath = (name: string) =>
  new URL(`../kernel/contracts/${name}`, import.meta.url).pathname;

export interface NodeProcess extends VatNodeProcess {
  readonly dataDir: string;
  sturdyRef(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startNode(
  contract: string,
  options: { bootstrap?: string[]; dataDir?: string } = {},
): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'qv-node-'));
  const node = await spawnVatNode({
    dataDir,
    contractPath: contractPath(contract),
    bootstrap: options.bootstrap,
  });
  return {
    ...node,
    dataDir,
    sturdyRef: () => readFileSync(node.sturdyRefFile, 'utf8').trim(),
    kill: async (signal = 'SIGTERM') => {
      await node.stop(signal);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `quorumvat send`: returns the exit code and the printed JSON. */
export async function send(
  uri: string,
  method: string,
  args: unknown[],
  options: { bootstrap?: string[] } = {},
): Promise<{ code: number; value: unknown }> {
  const argv = [CLI, 'send', uri, method, ...args.map((a) => JSON.stringify(a))];
  for (const b of options.bootstrap ?? []) argv.push('--bootstrap', b);
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  const line = out.trim().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = { stdout: out, stderr: err };
  }
  return { code, value };
}

/** A client vat node in the test process (ephemeral identity), stopped after the test. */
export async function startDriver(t: { after: (fn: () => unknown) => void }): Promise<VatNode> {
  const dir = mkdtempSync(join(tmpdir(), 'qv-driver-'));
  const driver = await VatNode.start({
    dataDir: dir,
    ephemeral: true,
    contractSource: readFileSync(
      new URL('../../vat-node/contracts/client.js', import.meta.url),
      'utf8',
    ),
    logger: pino({ level: 'error' }),
  });
  t.after(async () => {
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return driver;
}

/**
 * Three vat node processes running `contract`, and the test itself as a fourth (client) vat
 * that has redeemed their root sturdyrefs. Everything is stopped after the test.
 */
export async function threeNodesAndDriver(
  t: { after: (fn: () => unknown) => void },
  contract: string,
): Promise<{ nodes: [NodeProcess, NodeProcess, NodeProcess]; k: Kernel; roots: string[] }> {
  const nodes = await Promise.all([
    startNode(contract),
    startNode(contract),
    startNode(contract),
  ] as const);
  t.after(() => Promise.all(nodes.map((n) => n.kill())));
  const k = (await startDriver(t)).kernel;
  const roots = await Promise.all(nodes.map((n) => k.redeem(n.sturdyRef())));
  return { nodes, k, roots };
}
