/**
 * The store's defaults, in one place (overridable per KernelDB.open / KernelOptions).
 */
export const STORE_DEFAULTS = {
  /**
   * Durability: 'FULL' makes every commit durable before `commit` returns (one WAL fsync per
   * transaction; group commit batches cranks into one). Nothing leaves the node (no message,
   * ack or host result) before the commit that produced it, so this is what "exactly once"
   * rests on; 'NORMAL' and 'OFF' are for benches and tests of size.
   */
  synchronous: 'FULL',
  /** How long to wait for another process's lock on the file before StoreUnavailable. */
  busyTimeoutMs: 2_000,
  /**
   * Checkpoint policy (shouldCheckpoint in kernel-db.ts): after `maxRows` cranks (bounds
   * replay time), or when the transcript's bytes reach max(minBytes, the last checkpoint's
   * size) (bounds the file at a small multiple of live state, whatever the history).
   */
  checkpoint: { maxRows: 1_000, minBytes: 1 << 20 },
} as const;
