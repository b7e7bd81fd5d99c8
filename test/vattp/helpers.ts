/** Spawning and watching vat-process fixtures for the multi-process VatTP tests. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedHash } from './fixtures/workload.ts';

/** A TCP port free on 127.0.0.1 now (below the ephemeral range). */
export { freePort } from '../../vat-node/src/node/free-port.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/vat-process.ts', import.meta.url));

export type Line = Record<string, unknown>;
export interface TestContext {
  after(fn: () => void | Promise<void>): void;
  diagnostic(message: string): void;
}

export interface VatProcess {
  readonly child: ChildProcess;
  /** Every JSON line printed so far (fixture events and pino logs). */
  readonly lines: Line[];
  /** Resolves with the first line (from now on or already seen) matching `pred`. */
  waitFor(what: string, pred: (line: Line) => boolean, timeoutMs?: number): Promise<Line>;
  lastStatus(): Line | undefined;
  exited: Promise<number | null>;
}

export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface SpawnOptions {
  /** The fixture to run (default fixtures/vat-process.ts). */
  readonly fixture?: string;
  /** Words before Node's path, e.g. ['ip', 'netns', 'exec', ns] (which execs Node in place). */
  readonly prefix?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts the fixture; the test's t.after always SIGKILLs it. */
export function spawnVat(t: TestContext, args: string[], options: SpawnOptions = {}): VatProcess {
  const [command = process.execPath, ...rest] = [
    ...(options.prefix ?? []),
    process.execPath,
    options.fixture ?? FIXTURE,
    ...args,
  ];
  const child = spawn(command, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  const lines: Line[] = [];
  const waiters = new Set<{ pred: (l: Line) => boolean; resolve: (l: Line) => void }>();
  let buffer = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk;
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
      let parsed: Line;
      try {
        parsed = JSON.parse(text) as Line;
      } catch {
        parsed = { text };
      }
      lines.push(parsed);
      for (const w of waiters) {
        if (w.pred(parsed)) {
          waiters.delete(w);
          w.resolve(parsed);
        }
      }
    }
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    lines,
    exited,
    lastStatus: () => lines.findLast((l) => l.event === 'status'),
    // The timeout only catches a wedge: wide, so that a loaded machine is not taken for one.
    waitFor(what, pred, timeoutMs = 60_000) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (l: Line) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out waiting for ${what}; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(
            new Error(`exited (${code}) while waiting for ${what}; stderr: ${stderr.slice(-2000)}`),
          );
        });
      });
    },
  };
}

/** Status helpers: what a fixture has received from / has unacked for a peer. */
export function receivedFrom(
  status: Line | undefined,
  peer: string,
): { count: number; hash: string; errors: string[] } {
  const received = (status?.received ?? {}) as Record<
    string,
    { count: number; hash: string; errors: string[] }
  >;
  return received[peer] ?? { count: 0, hash: '', errors: [] };
}

export function outboxFor(status: Line | undefined, peer: string): number {
  const outbox = (status?.outbox ?? {}) as Record<string, number>;
  return outbox[peer] ?? 0;
}

export function sentTo(status: Line | undefined, peer: string): number {
  return ((status?.sent ?? {}) as Record<string, number>)[peer] ?? 0;
}

/**
 * Waits until each side has delivered all `n` messages of the other, sent all its own, and
 * holds nothing unacknowledged; then checks exactly once and in order (count, numbering and
 * rolling hash). Returns each side's final status line.
 */
export async function expectExchangeComplete(
  sides: readonly { name: string; proc: VatProcess; peer: string }[],
  n: number,
  timeoutMs: number,
): Promise<Line[]> {
  const done = (peer: string) => (l: Line) =>
    l.event === 'status' &&
    receivedFrom(l, peer).count >= n &&
    sentTo(l, peer) >= n &&
    outboxFor(l, peer) === 0;
  const finals = await Promise.all(
    sides.map(({ name, proc, peer }) =>
      proc.waitFor(`${name} has everything, sent all, nothing unacked`, done(peer), timeoutMs),
    ),
  );
  const hash = expectedHash(n);
  sides.forEach(({ name, peer }, i) => {
    const status = finals[i];
    const r = receivedFrom(status, peer);
    assert.deepEqual(r.errors, [], `${name} saw out-of-order or duplicate deliveries`);
    assert.equal(r.count, n, `${name} delivered count`);
    assert.equal(r.hash, hash, `${name} rolling hash of bodies 1..${n}`);
    assert.equal(outboxFor(status, peer), 0, `${name} outbox drained`);
    assert.equal(sentTo(status, peer), n, `${name} sent all`);
  });
  return finals;
}
