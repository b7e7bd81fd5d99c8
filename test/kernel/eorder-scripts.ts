/**
 * Scripts for the E-order tests (contracts/eorder.js `run`): each step is a send to the
 * promise p (`p`), a send to the value p resolved to (`v`, only once learned), a round trip to
 * B or C (`ping`, `pingc`, so later sends leave while earlier ones are on their way, or while
 * an embargo holds them), or `learn` (await p). The appends are numbered 1, 2, ... in program
 * order; the log must read exactly that.
 */
import assert from 'node:assert/strict';

export type Step = 'p' | 'v' | 'ping' | 'pingc' | 'learn';
export type Where = 'home' | 'receiver' | 'third';

/** Named scripts: the case and sends before, during and after the resolution. */
export const FAMILY: Record<string, Step[]> = {
  'the issue: p, round trip, p': ['p', 'ping', 'p'],
  'before the resolution only': ['p', 'p', 'p', 'p', 'p'],
  'during: round trips between sends': ['p', 'p', 'ping', 'p', 'p', 'ping', 'p', 'ping', 'p'],
  'after: learned, then p and v alternate': ['p', 'p', 'learn', 'p', 'v', 'p', 'v', 'v', 'p'],
  'interleaved with round trips to B and C': [
    ...(['p', 'p', 'ping', 'p', 'learn', 'v', 'p', 'ping', 'v', 'p', 'pingc', 'p'] as const),
    ...(['v', 'ping', 'p', 'p', 'v', 'pingc', 'v', 'p'] as const),
  ],
  'a trickle: one send per round trip': [
    ...Array.from({ length: 12 }, () => ['p', 'ping'] as Step[]).flat(),
    'learn',
    ...Array.from({ length: 6 }, () => ['v', 'p'] as Step[]).flat(),
  ],
};

/** mulberry32: a small seeded generator, so a failing interleaving can be run again. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random interleaving of `length` steps (sends weigh most; `v` only after `learn`). */
export function randomScript(seed: number, length: number): Step[] {
  const next = random(seed);
  const steps: Step[] = [];
  let learned = false;
  while (steps.length < length) {
    const x = next();
    let step: Step;
    if (x < 0.4) step = 'p';
    else if (x < 0.6) step = learned ? 'v' : 'p';
    else if (x < 0.8) step = 'ping';
    else if (x < 0.9) step = 'pingc';
    else step = learned ? 'p' : 'learn';
    if (step === 'learn') learned = true;
    steps.push(step);
  }
  return steps;
}

/** What the log must hold: every append once, in program order. */
export function expectedLog(steps: readonly Step[]): number[] {
  const n = steps.filter((s) => s === 'p' || s === 'v').length;
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Resolves with `p`, or rejects naming `what` if it has not settled within `ms`. */
/** The script's result: its log read 1..n when entries() arrived and once every append settled. */
export function assertScriptLog(value: unknown, steps: readonly Step[], what: string): void {
  const want = expectedLog(steps);
  const { inOrder, all, settled } = value as { inOrder: number[]; all: number[]; settled: number };
  assert.deepEqual(inOrder, want, `${what}: the log when entries() arrived`);
  assert.deepEqual(all, want, `${what}: the log once every append settled`);
  assert.equal(settled, want.length, `${what}: settled appends`);
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Error(`did not settle within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
