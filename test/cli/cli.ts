/**
 * Running the `quorumvat` command line as a user would: a real process, its exit code, its
 * stdout and stderr, how long it took.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type SpawnOptions,
  spawnVatNode,
  type VatNodeProcess,
} from '../../vat-node/src/node/spawn.ts';

/** A TCP port free on 127.0.0.1 now (below the ephemeral range). */
export { freePort } from '../../vat-node/src/node/free-port.ts';

export const CLI = new URL('../../vat-node/src/cli/main.ts', import.meta.url).pathname;
export const CONTRACTS = new URL('../../vat-node/contracts/', import.meta.url).pathname;

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export function runCli(
  args: readonly string[],
  options: {
    env?: Record<string, string>;
    timeoutMs?: number;
    wrap?: readonly string[];
    onSpawn?: (child: ChildProcess) => void;
  } = {},
): Promise<CliRun> {
  const t0 = performance.now();
  // QUORUMVAT_* variables of the test's own environment must not leak into the cases.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('QUORUMVAT_')),
  );
  const [cmd, ...argv] = [...(options.wrap ?? []), process.execPath, CLI, ...args];
  const child = spawn(cmd!, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, ...options.env },
  });
  options.onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    }),
  );
}

/** Lines of a stream, without the empty last one. */
export const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');

/** Runs `jobs` with at most `width` at a time (the machine has two cores). */
export async function pool<T>(jobs: (() => Promise<T>)[], width = 3): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

export interface TestNode extends VatNodeProcess {
  readonly dataDir: string;
  sturdyRef(): string;
}

/** A `quorumvat node` process, stopped (SIGKILL) after the test if still running. */
export async function startTestNode(
  t: { after: (fn: () => unknown) => void },
  options: Partial<SpawnOptions> & { contract?: string } = {},
): Promise<TestNode> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'qv-cli-node-'));
  const node = await spawnVatNode({
    contractPath: options.contract ?? join(FIXTURES, 'forwarder.js'),
    ...options,
    dataDir,
  });
  t.after(() => node.stop('SIGKILL'));
  return { ...node, dataDir, sturdyRef: () => readFileSync(node.sturdyRefFile, 'utf8').trim() };
}

/** Polls `cond` every 50 ms until it holds, or fails after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
