/**
 * Running the `quorumvat` command line as a user would: a real process, its exit code, its
 * stdout and stderr, how long it took.
 */
import { spawn } from 'node:child_process';

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
  options: { env?: Record<string, string>; timeoutMs?: number; wrap?: readonly string[] } = {},
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
