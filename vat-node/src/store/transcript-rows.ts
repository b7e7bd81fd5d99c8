/**
 * The transcript table: one row per crank since the checkpoint, holding the crank's entry
 * (the JSON string the chain hashes) and `hash = sha256(prevHash || sha256(entry))`
 * (chain.ts). Rows are contiguous from the checkpoint's position + 1 to the head.
 */
import type { DatabaseSync } from 'node:sqlite';
import { chainHash, isChainHash } from './chain.ts';
import { StoreCorrupt } from './errors.ts';
import type { Row } from './rows.ts';

/** One transcript row. `entry` is the crank's JSON string, exactly as hashed. */
export interface TranscriptRow {
  readonly pos: number;
  readonly entry: string;
  readonly hash: string;
}

/** Transcript head after a commit: position of the last row (0 = none yet) and its hash. */
export interface Head {
  readonly position: number;
  readonly hash: string;
}

export type ChainReport =
  | { readonly ok: true; readonly from: Head; readonly head: Head; readonly rows: number }
  | {
      readonly ok: false;
      readonly from: Head;
      /** Rows checked and found good before the mismatch. */
      readonly rows: number;
      readonly mismatch: {
        /** Position where the chain breaks. */
        readonly position: number;
        readonly kind: 'gap' | 'hash';
        /** What the chain requires there (position or hash). */
        readonly expected: string;
        /** What the store holds there. */
        readonly stored: string;
      };
      readonly message: string;
    };

/** The head and size of the transcript since the checkpoint (rows: count, bytes: entry lengths). */
export interface TranscriptSpan extends Head {
  readonly rows: number;
  readonly bytes: number;
}

/** Runs a read, mapping its failure to a store error (KernelDB's guard). */
export type ReadGuard = <T>(fn: () => T, op: string) => T;

/** All transcript rows, in order. */
export const TRANSCRIPT_ROWS = 'SELECT pos, entry, hash FROM transcript ORDER BY pos';

/**
 * Where the transcript stands after the checkpoint at `from`: its last row, or `from` itself
 * when there is none. StoreCorrupt 'chain' unless the rows follow `from` contiguously.
 */
export function readTranscriptSpan(
  db: DatabaseSync,
  from: Head,
  what: string,
  guard: ReadGuard,
): TranscriptSpan {
  const stmt = db.prepare(
    'SELECT min(pos) AS lo, max(pos) AS hi, count(*) AS n, sum(length(entry)) AS bytes FROM transcript',
  );
  const r = guard(() => stmt.get(), 'read') as Row;
  const n = Number(r.n);
  if (n === 0) return { position: from.position, hash: from.hash, rows: 0, bytes: 0 };
  const lo = Number(r.lo);
  const hi = Number(r.hi);
  if (lo !== from.position + 1 || hi - lo + 1 !== n) {
    throw new StoreCorrupt(
      'chain',
      `${what}: transcript rows ${lo}..${hi} (${n} rows) do not follow the checkpoint at ${from.position} contiguously`,
    );
  }
  const last = db.prepare('SELECT hash FROM transcript WHERE pos = ?').get(hi) as Row;
  if (!isChainHash(last.hash))
    throw new StoreCorrupt('chain', `${what}: transcript row ${hi} malformed`);
  return { position: hi, hash: last.hash, rows: n, bytes: Number(r.bytes) };
}

/**
 * Recomputes the chain from `from` over `rows` (in position order) and reports the first
 * break: a missing position (gap) or a stored hash that does not chain.
 */
export function checkChain(
  from: Head,
  rows: Iterable<Row>,
  hashFn: (prevHex: string, entry: string) => string = chainHash,
): ChainReport {
  let expectedPos = from.position + 1;
  let prev = from.hash;
  let count = 0;
  for (const r of rows) {
    const pos = Number(r.pos);
    if (pos !== expectedPos) {
      return broken(from, count, expectedPos, 'gap', String(expectedPos), String(pos));
    }
    const h = hashFn(prev, String(r.entry));
    if (h !== r.hash) return broken(from, count, pos, 'hash', h, String(r.hash));
    prev = h;
    expectedPos++;
    count++;
  }
  return { ok: true, from, head: { position: expectedPos - 1, hash: prev }, rows: count };
}

function broken(
  from: Head,
  rows: number,
  position: number,
  kind: 'gap' | 'hash',
  expected: string,
  stored: string,
): ChainReport {
  const message =
    kind === 'gap'
      ? `transcript chain broken at position ${position}: row missing (next row is ${stored})`
      : `transcript chain broken at position ${position}: stored hash ${stored.slice(0, 16)}… but the chain gives ${expected.slice(0, 16)}…`;
  return { ok: false, from, rows, mismatch: { position, kind, expected, stored }, message };
}
