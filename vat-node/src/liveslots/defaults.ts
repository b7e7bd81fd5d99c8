/**
 * The vat's own defaults (what a contract may spend). Worker process limits (heap, wall-clock
 * time per crank) are the kernel's: DEFAULT_LIMITS in kernel/vat-worker.ts.
 */

/**
 * Gas per delivery (liveslots/meter.ts: one unit per function entry and loop iteration).
 * Exhaustion aborts the delivery the same way on every host (the demo's infinite loop ends
 * with "gas limit 10000000 exceeded"); a vat node's `--gas` overrides it.
 */
export const DEFAULT_GAS_LIMIT = 10_000_000;
