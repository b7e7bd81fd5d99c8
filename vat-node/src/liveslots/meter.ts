/**
 * Deterministic gas: the contract-source transform inserts a call to this meter at every
 * function entry (`f`), every loop iteration (`l`) and every catch clause (`c`). The counts
 * depend only on the code path taken, so every host (and every member of a quorum vat)
 * computes the same gas for the same delivery. Builtins run uncounted ('x'.repeat(2**28));
 * the worker's memory limit and the kernel's wall-clock watchdog are the backstop for those.
 */
export class GasExhausted extends Error {
  override name = 'GasExhausted';
}

export interface Meter {
  /** Function entry. */
  f(): void;
  /** Loop iteration. */
  l(): void;
  /** Catch clause: rethrows a gas or stack exhaustion so contract code cannot swallow it. */
  c(caught: unknown): void;
}

export const GAS_PER_CALL = 1;
export const GAS_PER_ITERATION = 1;

export class GasMeter {
  #limit = 0;
  #used = 0;
  #exhausted: Error | null = null;
  // Made ahead, at shallow depth: near the stack limit even constructing an Error fails.
  #outOfGas: Error = new GasExhausted('gas');
  #overflow: Error = new GasExhausted('stack overflow (call depth limit)');
  /** The hardened facade handed to contract code: it can only spend gas, never refill it. */
  readonly facade: Meter;

  constructor() {
    const charge = (n: number): void => {
      if (this.#exhausted) throw this.#exhausted;
      this.#used += n;
      if (this.#used > this.#limit) {
        this.#exhausted = this.#outOfGas;
        throw this.#exhausted;
      }
    };
    this.facade = harden({
      f: () => charge(GAS_PER_CALL),
      l: () => charge(GAS_PER_ITERATION),
      c: (caught: unknown) => {
        if (this.#exhausted) throw this.#exhausted;
        let overflow = true;
        try {
          overflow = isStackOverflow(caught);
        } catch {
          // No stack left even to look at it: that is an overflow too.
        }
        if (overflow) {
          // Stack depth differs between hosts: letting a contract observe it would break
          // determinism, so a stack overflow ends the delivery like gas exhaustion does.
          this.#exhausted = this.#overflow;
          this.#used = this.#limit + 1;
          throw this.#exhausted;
        }
      },
    });
  }

  /** Start metering one delivery. */
  reset(limit: number): void {
    // NaN would never run out (`used > NaN` is false): refuse anything but a positive integer.
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw RangeError(`gas limit must be a positive integer (got ${String(limit)})`);
    }
    if (limit !== this.#limit) this.#outOfGas = new GasExhausted(`gas limit ${limit} exceeded`);
    this.#limit = limit;
    this.#used = 0;
    this.#exhausted = null;
  }

  get used(): number {
    return this.#used;
  }

  /** Set once the delivery ran out of gas (or overflowed the stack), whatever the contract caught. */
  get exhausted(): Error | null {
    return this.#exhausted;
  }

  /**
   * Mark the delivery as failed by the host (e.g. stack overflow seen on the way out). A failed
   * delivery reports the whole limit used, as exhaustion does: how deep a stack went before it
   * overflowed depends on V8's frame sizes (they change as code is optimized), so the count at
   * that point would differ between hosts and between a crank and its replay.
   */
  poison(reason: string): void {
    this.#exhausted ??= new GasExhausted(reason);
    this.#used = this.#limit + 1;
  }
}

/** V8's stack overflow. A plain comparison: a regex may not even compile near the limit. */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && e.message === 'Maximum call stack size exceeded';
}
