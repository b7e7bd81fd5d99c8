/**
 * Vat node processes for multi-process tests: `quorumvat node` children on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const CLI = new URL('../../vat-node/src/cli/main.ts', import.meta.url).pathname;
export const contractPath = (name: string) =>
  new URL(`../kernel/contracts/${name}`, import.meta.url).pathname;

export interface NodeProcess {
  readonly vatId: string;
  readonly addrs: string[];
  readonly dataDir: string;
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  sturdyRef(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startNode(
  contract: string,
  options: { bootstrap?: string[]; dataDir?: string } = {},
): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'qv-node-'));
  const args = [CLI, 'node', '--data-dir', dataDir, '--contract', contractPath(contract)];
  for (const b of options.bootstrap ?? []) args.push('--bootstrap', b);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(Error(`node did not start: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(Error(`node exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'vat node ready') {
        clearTimeout(timer);
        resolve(entry);
      }
    });
  });
  const entry = await ready;
  return {
    vatId: entry['vat'] as string,
    addrs: entry['addrs'] as string[],
    dataDir,
    child,
    logs,
    sturdyRef: () => readFileSync(join(dataDir, 'root.sturdyref'), 'utf8').trim(),
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await exited;
      }
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
