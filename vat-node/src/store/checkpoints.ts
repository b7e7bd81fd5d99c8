/**
 * Checkpoints: a copy of the `vs.` rows (the vat's whole durable state: worker heaps are never
 * persisted) at transcript position P, with the chain hash at P, the row count, byte count and
 * a digest of the rows (`checkpoint` + `checkpoint_meta`). Transcript rows <= P are deleted,
 * so the file holds live state x 2 + the transcript since the last checkpoint, whatever the
 * history. And the policy that says when to take one.
 */
import type { DatabaseSync } from 'node:sqlite';
import { isChainHash } from './chain.ts';
import { STORE_DEFAULTS } from './defaults.ts';
import { StoreCorrupt } from './errors.ts';
import { checkedRows, prefixRange, type Row, rowsQuery, stateDigest } from './rows.ts';
import type { Head, ReadGuard } from './transcript-rows.ts';

export interface CheckpointInfo extends Head {
  /** The key prefix copied (the vat store's, `vs.`). */
  readonly prefix: string;
  readonly rows: number;
  /** Sum of key + value lengths (UTF-16 code units) of the checkpointed rows. */
  readonly bytes: number;
  /** `stateDigest` of the checkpointed rows. */
  readonly digest: string;
}

export interface CheckpointState extends CheckpointInfo {
  /** The checkpointed rows, keys as stored (with the prefix), sorted. */
  readonly entries: [string, string][];
}

export interface StoreStats {
  readonly position: number;
  readonly hash: string;
  readonly transcriptRows: number;
  /** Sum of entry lengths since the checkpoint. */
  readonly transcriptBytes: number;
  readonly checkpoint: CheckpointInfo;
}

/** When to checkpoint: after this many cranks, or this many transcript bytes (see below). */
export interface CheckpointPolicy {
  /** Default 1000 (STORE_DEFAULTS, defaults.ts). */
  readonly maxRows?: number;
  /** Floor of the byte threshold. Default 1 MiB (STORE_DEFAULTS). */
  readonly minBytes?: number;
}

/**
 * The checkpoint policy: checkpoint when the transcript since the last checkpoint holds
 * `maxRows` cranks, or when its bytes reach max(minBytes, size of the last checkpoint).
 * A checkpoint copies the live vat store (cost ~ its size L) and frees the transcript, so
 * the byte rule copies at most one byte of state per transcript byte written (amortised
 * O(1) per crank) and bounds the file at about 2L + max(L, minBytes) + maxRows entries,
 * independent of history. The row rule bounds replay (verify) time. The kernel asks it after
 * its commits; a checkpoint needs a fresh worker, so when it is due the kernel waits for the
 * vat to be quiescent, then checkpoints as it starts the next worker (KernelOptions.checkpoint
 * in kernel/kernel.ts).
 */
export function shouldCheckpoint(stats: StoreStats, policy: CheckpointPolicy = {}): boolean {
  const maxRows = policy.maxRows ?? STORE_DEFAULTS.checkpoint.maxRows;
  const minBytes = policy.minBytes ?? STORE_DEFAULTS.checkpoint.minBytes;
  if (stats.transcriptRows >= maxRows) return true;
  return stats.transcriptBytes >= Math.max(minBytes, stats.checkpoint.bytes);
}

/** The checkpoint record, validated (StoreCorrupt 'checkpoint' if missing or malformed). */
export function readCheckpointMeta(
  db: DatabaseSync,
  path: string,
  guard: ReadGuard,
): CheckpointInfo {
  const stmt = db.prepare(
    'SELECT prefix, position, hash, rows, bytes, digest FROM checkpoint_meta WHERE id = 1',
  );
  const rows = guard(() => stmt.all(), 'read');
  const r = rows[0];
  if (rows.length !== 1 || r === undefined) {
    throw new StoreCorrupt('checkpoint', `${path}: checkpoint record missing`);
  }
  const info = {
    prefix: r.prefix,
    position: r.position,
    hash: r.hash,
    rows: r.rows,
    bytes: r.bytes,
    digest: r.digest,
  };
  if (
    typeof info.prefix !== 'string' ||
    !isCount(info.position) ||
    !isChainHash(info.hash) ||
    !isCount(info.rows) ||
    !isCount(info.bytes) ||
    !isChainHash(info.digest)
  ) {
    throw new StoreCorrupt('checkpoint', `${path}: checkpoint record malformed`);
  }
  return info as CheckpointInfo;
}

/** StoreCorrupt unless the checkpoint table holds as many rows as its record says (cheap). */
export function checkCheckpointCount(
  db: DatabaseSync,
  cp: CheckpointInfo,
  what: string,
  guard: ReadGuard,
): void {
  const countStmt = db.prepare('SELECT count(*) AS n FROM checkpoint');
  const cpRows = Number((guard(() => countStmt.get(), 'read') as Row).n);
  if (cpRows !== cp.rows) {
    throw new StoreCorrupt(
      'checkpoint',
      `${what}: checkpoint has ${cpRows} rows, its record says ${cp.rows}`,
    );
  }
}

/** The checkpoint's rows, checked against their checksums, its record's count and digest. */
export function checkpointRows(
  db: DatabaseSync,
  cp: CheckpointInfo,
  path: string,
  guard: ReadGuard,
) {
  const entries = readCheckpointRows(db, path, guard);
  if (entries.length !== cp.rows) {
    throw new StoreCorrupt(
      'checkpoint',
      `${path}: checkpoint has ${entries.length} rows, its record says ${cp.rows}`,
    );
  }
  if (stateDigest(entries) !== cp.digest) {
    throw new StoreCorrupt('checkpoint', `${path}: checkpoint rows do not match their digest`);
  }
  return entries;
}

/**
 * Inside the caller's transaction: replace the checkpoint with the kv rows under `prefix`,
 * record `head` as where it stands, and delete the transcript rows up to it.
 */
export function replaceCheckpoint(
  db: DatabaseSync,
  prefix: string,
  head: Head,
  path: string,
  guard: ReadGuard,
): CheckpointInfo {
  const [where, args] = prefixRange(prefix);
  db.prepare('DELETE FROM checkpoint').run();
  db.prepare(`INSERT INTO checkpoint(key, value, sum) SELECT key, value, sum FROM kv ${where}`).run(
    ...args,
  );
  const rows = readCheckpointRows(db, path, guard);
  let bytes = 0;
  for (const [k, v] of rows) bytes += k.length + v.length;
  const info: CheckpointInfo = {
    prefix,
    position: head.position,
    hash: head.hash,
    rows: rows.length,
    bytes,
    digest: stateDigest(rows),
  };
  db.prepare(
    'UPDATE checkpoint_meta SET prefix = ?, position = ?, hash = ?, rows = ?, bytes = ?, digest = ? WHERE id = 1',
  ).run(info.prefix, info.position, info.hash, info.rows, info.bytes, info.digest);
  db.prepare('DELETE FROM transcript WHERE pos <= ?').run(info.position);
  return info;
}

function readCheckpointRows(db: DatabaseSync, path: string, guard: ReadGuard): [string, string][] {
  const [sql, args] = rowsQuery('checkpoint', '');
  const stmt = db.prepare(sql);
  stmt.setReturnArrays(true);
  const rows = guard(() => stmt.all(...args), 'read') as unknown as unknown[][];
  return checkedRows(rows, 'checkpoint', path);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}
