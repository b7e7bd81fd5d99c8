// Small helpers shared by every `bench/*.bench.ts` file.
//
// A bench prints one JSON object per line on stdout (use `emit`); anything else goes to stderr.
// Metric names carry their unit (`msgs_per_s`, `rtt_p50_ms`). `BENCH_QUICK=1` shortens every
// bench (CI smoke runs): pick sizes with `quick(full, short)`.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** True when `BENCH_QUICK=1`: every bench must shorten its runs (whole suite < 20 s). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** `full` normally, `short` under `BENCH_QUICK=1`. */
export function quick<T>(full: T, short: T): T {
  return QUICK ? short : full;
}

/** Prints one JSON line on stdout, adding the Node version and an ISO timestamp. */
export function emit(obj: { bench: string } & Record<string, unknown>): void {
  const line = JSON.stringify({ ...obj, node: process.version, ts: new Date().toISOString() });
  process.stdout.write(`${line}\n`);
}

/** Monotonic clock in nanoseconds (as a float: fine for intervals below ~100 days). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Rounds to `digits` significant digits, for readable JSON (keeps integers >= 10^digits). */
export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const mag = Math.floor(Math.log10(Math.abs(x))) + 1;
  const dec = Math.max(0, digits - mag);
  return Number(x.toFixed(Math.min(dec, 12)));
}

export interface RateOptions {
  /** Stop after this much measured time (ms). Default 1000 (200 under BENCH_QUICK). */
  durationMs?: number;
  /** Stop after this many measured operations (whichever limit comes first). */
  maxOps?: number;
  /** Warm-up time (ms) run and discarded before measuring. Default 200 (50 under BENCH_QUICK). */
  warmupMs?: number;
  /** Operations per clock check, for very cheap operations. Default 1. */
  batch?: number;
}

export interface RateResult {
  ops: number;
  seconds: number;
  perSecond: number;
}

const DEFAULT_MAX_OPS = 100_000_000;

function rateOpts(o: RateOptions) {
  return {
    durationMs: o.durationMs ?? quick(1000, 200),
    maxOps: o.maxOps ?? DEFAULT_MAX_OPS,
    warmupMs: o.warmupMs ?? quick(200, 50),
    batch: Math.max(1, o.batch ?? 1),
  };
}

/** Ops/s of a synchronous function over a fixed duration or count, after a warm-up. */
export function measureSync(fn: (i: number) => void, opts: RateOptions = {}): RateResult {
  const { durationMs, maxOps, warmupMs, batch } = rateOpts(opts);
  const loop = (ms: number, cap: number): RateResult => {
    const start = nowNs();
    const end = start + ms * 1e6;
    let ops = 0;
    let t = start;
    while (ops < cap && t < end) {
      const n = Math.min(batch, cap - ops);
      for (let j = 0; j < n; j++) fn(ops + j);
      ops += n;
      t = nowNs();
    }
    const seconds = (t - start) / 1e9;
    return { ops, seconds, perSecond: ops / seconds };
  };
  if (warmupMs > 0) loop(warmupMs, maxOps);
  return loop(durationMs, maxOps);
}

/**
 * Ops/s of an async function over a fixed duration or count, after a warm-up. `fn` is awaited
 * before the next call, so at most one operation is in flight; `fn` may itself run many
 * operations and return how many it ran (e.g. a window of pipelined calls). Any non-number
 * result counts as one operation: do not return a call's numeric result by accident.
 */
export async function measureAsync(
  fn: (i: number) => Promise<unknown>,
  opts: RateOptions = {},
): Promise<RateResult> {
  const { durationMs, maxOps, warmupMs, batch } = rateOpts(opts);
  const loop = async (ms: number, cap: number): Promise<RateResult> => {
    const start = nowNs();
    const end = start + ms * 1e6;
    let ops = 0;
    let t = start;
    while (ops < cap && t < end) {
      for (let j = 0; j < batch && ops < cap; j++) {
        const n = await fn(ops);
        ops += typeof n === 'number' ? n : 1;
      }
      t = nowNs();
    }
    const seconds = (t - start) / 1e9;
    return { ops, seconds, perSecond: ops / seconds };
  };
  if (warmupMs > 0) await loop(warmupMs, maxOps);
  return loop(durationMs, maxOps);
}

/**
 * Latency samples (ns) of sequential awaited calls: warm-up, then until `count` samples or
 * `durationMs`, whichever comes first.
 */
export async function sampleLatencyNs(
  fn: (i: number) => Promise<unknown>,
  opts: { count: number; durationMs?: number; warmup?: number },
): Promise<number[]> {
  const warmup = opts.warmup ?? Math.min(1000, Math.ceil(opts.count / 10));
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples: number[] = [];
  const deadline = nowNs() + (opts.durationMs ?? quick(5000, 1000)) * 1e6;
  for (let i = 0; i < opts.count; i++) {
    const t0 = nowNs();
    await fn(i);
    const t1 = nowNs();
    samples.push(t1 - t0);
    if (t1 > deadline) break;
  }
  return samples;
}

/** The p-th percentile (0..100, nearest-rank) of samples, in the samples' unit. NaN if empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** n, mean, p50, p99, min, max of samples, divided by `scale` (1e6 turns ns into ms). */
export function summarize(samples: readonly number[], scale = 1): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => percentile(sorted, p) / scale;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length / scale : Number.NaN,
    p50: at(50),
    p99: at(99),
    min: (sorted[0] ?? Number.NaN) / scale,
    max: (sorted[sorted.length - 1] ?? Number.NaN) / scale,
  };
}

/**
 * Runs up to `total` async operations with at most `window` in flight; resolves when all are
 * done. `op(i)` starts operation i. Rejects on the first failure.
 */
export function runWindowed(
  total: number,
  window: number,
  op: (i: number) => Promise<unknown>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let started = 0;
    let done = 0;
    let failed = false;
    const startMore = () => {
      while (!failed && started < total && started - done < window) {
        const i = started++;
        op(i).then(
          () => {
            done++;
            if (done === total) resolve();
            else startMore();
          },
          (err: unknown) => {
            failed = true;
            reject(err);
          },
        );
      }
    };
    if (total <= 0) resolve();
    else startMore();
  });
}

/** The error's message (or its string form), for `{"error": ...}` fields. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.stack && err.stack.length > 0 ? err.stack : err.message;
  return String(err);
}

/** Rejects after `ms` with `what` in the message; clear it with the returned cancel function. */
export function timeout(ms: number, what: string): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

export interface PeerProcess {
  child: ChildProcess;
  /** The first JSON line the peer printed on stdout (its address, typically). */
  hello: Record<string, unknown>;
  /** Kills the peer (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const livePeers = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of livePeers) c.kill('SIGKILL');
  });
}

/**
 * Spawns a peer process (same Node, this bench's file with `args`), waits for its first stdout
 * line (JSON) and returns it. The peer's stdin is a pipe we never write to: a peer must exit when
 * its stdin ends (see `exitWhenParentGoes`), so it dies with us even if we are SIGKILLed.
 */
export async function spawnPeer(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  startTimeoutMs = 20_000,
): Promise<PeerProcess> {
  installExitHook();
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  livePeers.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      livePeers.delete(child);
      resolve();
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
  };
  const lines = createInterface({ input: child.stdout! });
  const first = new Promise<string>((resolve, reject) => {
    let gotFirst = false;
    lines.on('line', (l) => {
      if (!gotFirst) {
        gotFirst = true;
        resolve(l);
      } else {
        // Anything else the peer prints goes to our stderr, never to our stdout.
        process.stderr.write(`[peer] ${l}\n`);
      }
    });
    child.once('exit', (code, sig) => reject(new Error(`peer exited early (${code ?? sig})`)));
  });
  first.catch(() => {});
  const t = timeout(startTimeoutMs, `peer ${args.join(' ')} start`);
  try {
    const line = await Promise.race([first, t.promise]);
    const hello = JSON.parse(line) as Record<string, unknown>;
    return { child, hello, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    t.cancel();
  }
}

/** In a peer process: exit as soon as the parent goes away (our stdin ends) or on SIGTERM. */
export function exitWhenParentGoes(cleanup?: () => Promise<void> | void): void {
  let exiting = false;
  const bye = async () => {
    if (exiting) return;
    exiting = true;
    const hard = setTimeout(() => process.exit(0), 2000);
    hard.unref();
    try {
      await cleanup?.();
    } finally {
      process.exit(0);
    }
  };
  process.stdin.on('end', bye);
  process.stdin.on('error', bye);
  process.stdin.resume();
  process.on('SIGTERM', bye);
}

/**
 * Runs this bench's file again as a child (same Node) with `args` — e.g. to measure a variant
 * in a fresh process, such as one under SES lockdown — forwarding its stdout lines (JSON) to
 * our stdout. Rejects if it exits non-zero.
 */
export async function runSubBench(script: string, args: string[]): Promise<void> {
  installExitHook();
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  livePeers.add(child);
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (l) => process.stdout.write(`${l}\n`));
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  livePeers.delete(child);
  if (code !== 0) throw new Error(`sub-bench ${args.join(' ')} exited with ${code ?? signal}`);
}
