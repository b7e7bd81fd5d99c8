/** Where the kernel keeper's committed rows go: a KernelDB (a data directory) or a Map. */
import type { KernelDB } from '../store/kernel-db.ts';

/** A transcript row waiting for its commit. */
export interface PendingEntry {
  readonly entry: string;
  readonly hash: string;
}

/** Where committed rows go. */
export interface Backing {
  /** Every committed row (any order). */
  load(): Iterable<readonly [string, string]>;
  /** Writes (null = delete) and transcript rows, all in one transaction, or throws. */
  commit(
    writes: readonly (readonly [string, string | null])[],
    entries: readonly PendingEntry[],
  ): void;
}

/** No data directory: committed rows live in a Map (the same keeper code, nothing on disk). */
export class MemoryBacking implements Backing {
  readonly rows = new Map<string, string>();
  load(): Iterable<readonly [string, string]> {
    return this.rows;
  }
  commit(writes: readonly (readonly [string, string | null])[]): void {
    for (const [k, v] of writes) {
      if (v === null) this.rows.delete(k);
      else this.rows.set(k, v);
    }
  }
}

/** A data directory: one KernelDB transaction per flush (group commit over its cranks). */
export class DbBacking implements Backing {
  readonly db: KernelDB;
  constructor(db: KernelDB) {
    this.db = db;
  }
  load(): Iterable<readonly [string, string]> {
    return this.db.entries();
  }
  commit(
    writes: readonly (readonly [string, string | null])[],
    entries: readonly PendingEntry[],
  ): void {
    if (entries.length === 0) {
      if (writes.length > 0) this.db.commit(writes);
      return;
    }
    this.db.commitMany(
      entries.map((e, i) => ({
        writes: i === 0 ? writes : [],
        transcript: { entry: e.entry, hash: e.hash },
      })),
    );
  }
}
