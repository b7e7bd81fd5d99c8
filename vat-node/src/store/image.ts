/**
 * A store's whole image: every kv row, the checkpoint (the vat store at a transcript position)
 * and the transcript since it. What a quorum member hands a learner that catches up from a
 * checkpoint (quorum/member/snapshot.ts): the kv rows are the kernel's state, the checkpoint and
 * the transcript since are what rebuilding the vat's heap needs (kernel/replay.ts rebuildHeap,
 * as after a restart). `installImage` replaces a store's content with one, in one transaction.
 */
import type { DatabaseSync } from 'node:sqlite';
import { chainHash, isChainHash } from './chain.ts';
import type { CheckpointInfo } from './checkpoints.ts';
import { rowSum, stateDigest } from './rows.ts';

export interface StoreImage {
  /** Every kv row, sorted by key. */
  readonly rows: readonly (readonly [string, string])[];
  readonly checkpoint: {
    /** The key prefix the checkpoint copies (`vs.`). */
    readonly prefix: string;
    readonly position: number;
    readonly hash: string;
    /** The checkpointed rows, keys with the prefix, sorted. */
    readonly entries: readonly (readonly [string, string])[];
  };
  /** The transcript entries after the checkpoint, in order (exactly as hashed). */
  readonly transcript: readonly string[];
}

/** A reason the image cannot be a store's content, or undefined. */
export function imageProblem(image: StoreImage): string | undefined {
  const cp = image.checkpoint;
  if (!Number.isSafeInteger(cp.position) || cp.position < 0) return 'bad checkpoint position';
  if (!isChainHash(cp.hash)) return 'bad checkpoint hash';
  const sorted = (rows: readonly (readonly [string, string])[]) =>
    rows.every(
      ([k, v], i) =>
        typeof k === 'string' && typeof v === 'string' && (i === 0 || rows[i - 1]![0] < k),
    );
  if (!sorted(image.rows)) return 'kv rows are not strings sorted by unique key';
  if (!sorted(cp.entries)) return 'checkpoint rows are not strings sorted by unique key';
  if (cp.entries.some(([k]) => !k.startsWith(cp.prefix)))
    return 'checkpoint row outside its prefix';
  if (image.transcript.some((e) => typeof e !== 'string')) return 'transcript entry not a string';
  return undefined;
}

/**
 * Inside the caller's transaction: the store's rows, checkpoint and transcript become the
 * image's (the transcript hashes recomputed from the checkpoint's hash). Returns the new
 * checkpoint record and head.
 */
export function installImage(
  db: DatabaseSync,
  image: StoreImage,
): { checkpoint: CheckpointInfo; position: number; hash: string; bytes: number } {
  const cp = image.checkpoint;
  db.prepare('DELETE FROM kv').run();
  db.prepare('DELETE FROM checkpoint').run();
  db.prepare('DELETE FROM transcript').run();
  const kv = db.prepare('INSERT INTO kv(key, value, sum) VALUES (?, ?, ?)');
  for (const [k, v] of image.rows) kv.run(k, v, rowSum(k, v));
  const c = db.prepare('INSERT INTO checkpoint(key, value, sum) VALUES (?, ?, ?)');
  let bytes = 0;
  for (const [k, v] of cp.entries) {
    c.run(k, v, rowSum(k, v));
    bytes += k.length + v.length;
  }
  const checkpoint: CheckpointInfo = {
    prefix: cp.prefix,
    position: cp.position,
    hash: cp.hash,
    rows: cp.entries.length,
    bytes,
    digest: stateDigest(cp.entries),
  };
  db.prepare(
    'UPDATE checkpoint_meta SET prefix = ?, position = ?, hash = ?, rows = ?, bytes = ?, digest = ? WHERE id = 1',
  ).run(cp.prefix, cp.position, cp.hash, checkpoint.rows, bytes, checkpoint.digest);
  const t = db.prepare('INSERT INTO transcript(pos, entry, hash) VALUES (?, ?, ?)');
  let position = cp.position;
  let hash = cp.hash;
  let txBytes = 0;
  for (const entry of image.transcript) {
    hash = chainHash(hash, entry);
    t.run(++position, entry, hash);
    txBytes += entry.length;
  }
  return { checkpoint, position, hash, bytes: txBytes };
}
