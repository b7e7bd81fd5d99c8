/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and
 * Jitter"): the n-th retry waits a uniform random time in [0, min(cap, base * factor^n)).
 * Full jitter spreads the retries of many peers that lost the same host at the same moment.
 */
import { DEFAULT_BACKOFF } from './defaults.ts';

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  readonly factor: number;
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  readonly random?: () => number;
}

/** The ceiling of the n-th delay (n = 0 for the first retry). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  // Clamp the exponent so a long outage cannot overflow to Infinity.
  return Math.min(policy.capMs, policy.baseMs * policy.factor ** Math.min(attempt, 64));
}

export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  return Math.floor((policy.random ?? Math.random)() * backoffCeiling(attempt, policy));
}

/** The retry state of one peer: each next() waits longer, reset() after a success. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  #attempt = 0;

  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF) {
    if (!(policy.baseMs > 0 && policy.capMs >= policy.baseMs && policy.factor >= 1)) {
      throw new RangeError('backoff needs baseMs > 0, capMs >= baseMs, factor >= 1');
    }
    this.#policy = policy;
  }

  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    const delay = backoffDelay(this.#attempt, this.#policy);
    this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
