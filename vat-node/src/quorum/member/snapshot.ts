/**
 * State transfer: what a member's checkpoint statement certifies about its state, and the
 * snapshot a learner (or a member that lost its data) installs instead of executing the
 * whole history.
 *
 * **The state digest.** At every checkpoint height, right after the batch that reached it
 * (`kernel.settle()`: nothing is in flight, everything is committed), a member hashes its
 * kernel store's rows (store/rows.ts stateDigest framing over sorted keys) and the epochs its
 * ordering entered up to that height; the checkpoint statement signs it together with the
 * transcript hash (ordering/statements.ts checkpointValue). It covers every row that is the
 * same on every member because it follows from the agreed inputs alone: the vat store (`vs.`),
 * c-lists, promise records, peers' sequence numbers and inbound marks, the run queue (empty
 * there), handoff takes and held messages, sturdyrefs, kernel counters, the contract and what
 * holds the heap (`meta.*`), and the member's position (`meta.host.ordering.tip` / `.hash`).
 * It leaves out what each member keeps for itself (LOCAL_PREFIXES): the outbox (`out.`, trimmed
 * when that member's receivers acknowledge), departed clients (`gone.`, local clock),
 * address hints (`addr.`, learned from its own transport) and the handoff certificates it
 * gave (`cert.`, assembled from its own collection of member signatures). Those are not
 * transferred either: a new member starts with an empty outbox (its claims begin with the
 * next message) and makes new certificates.
 *
 * The digest also covers what rebuilding the vat's heap needs (heap-only contract state): the
 * kernel store's own checkpoint (the vat store where the last worker started; workers restart
 * at the same crank on every member, kernel/lifecycle.ts) and the crank entries since, except
 * `retire` cranks, which the transcript hash leaves out as local too (heapDigestOf).
 *
 * **The snapshot** is the state at the latest stable checkpoint: the certified statement (its
 * certificate, the transcript hash and the state digest), the agreed rows, the epoch roots and
 * the heap part. A learner installs it and its kernel rebuilds the heap by replay, as a
 * restarted member does (kernel/replay.ts): every crank must come out as its entry and the
 * replay must end at the certified vat store, or the node refuses to start.
 */
import { createHash } from 'node:crypto';
import type { VatId } from '../../protocol/identity.ts';
import { imageProblem, type StoreImage } from '../../store/image.ts';
import type { Certificate } from '../certificate.ts';
import { verifyCertificate } from '../certificate.ts';
import type { ConfigChain } from '../chain.ts';
import { checkpointStatement, checkpointValue } from '../ordering/statements.ts';

/** Kernel rows that are one member's own, not agreed: out of the digest and the snapshot. */
export const LOCAL_PREFIXES: readonly string[] = ['out.', 'gone.', 'addr.', 'cert.'];

/** Where the member's position is kept (member.ts, kernel host records). */
export const TIP_ROW = 'meta.host.ordering.tip';
export const HASH_ROW = 'meta.host.ordering.hash';

/** An epoch the ordering entered: the block that started it and the height it starts at. */
export interface EpochRoot {
  readonly epoch: number;
  readonly root: string;
  readonly since: number;
}

export interface Snapshot {
  readonly quorum: VatId;
  readonly height: number;
  /** The member's transcript hash at `height`. */
  readonly hash: string;
  /** stateDigestOf(rows, epochs). */
  readonly state: string;
  /** k members' checkpoint statements on checkpointValue(hash, state), of its epoch. */
  readonly certificate: Certificate;
  /** The agreed kernel rows, sorted. */
  readonly rows: readonly (readonly [string, string])[];
  /** Epochs entered up to `height`, in order. */
  readonly epochs: readonly EpochRoot[];
  /** The vat store where the last worker started, and the transcript since (heap rebuild). */
  readonly heap: HeapPart;
}

export function isLocalRow(key: string): boolean {
  return LOCAL_PREFIXES.some((p) => key.startsWith(p));
}

/** The rows of a store image that every member has alike (sorted as given). */
export function agreedRows(
  rows: readonly (readonly [string, string])[],
): (readonly [string, string])[] {
  return rows.filter(([k]) => !isLocalRow(k));
}

/** What rebuilding the vat's heap needs: the kernel's own checkpoint and the transcript since. */
export type HeapPart = Pick<StoreImage, 'checkpoint' | 'transcript'>;

/**
 * The digest of the heap part, as every member has it alike: the vat store where the last
 * worker started (its rows, not the kernel's transcript position or chain hash there) and the
 * crank entries since, except `retire` cranks (the member's transcript hash leaves them out as
 * local too). Where workers start is decided from the vat's history alone (kernel/lifecycle.ts),
 * so it is the same crank on every member.
 */
export function heapDigestOf(heap: HeapPart): string {
  const h = createHash('sha256').update('quorumvat-heap-v1\n');
  h.update(`${heap.checkpoint.prefix.length}:${heap.checkpoint.prefix}`);
  h.update(rowsDigest(heap.checkpoint.entries));
  for (const entry of heap.transcript) {
    if (isRetire(entry)) continue;
    h.update(`${entry.length}:${entry}`);
  }
  return h.digest('hex');
}

function isRetire(entry: string): boolean {
  if (!entry.startsWith('[{')) return false;
  try {
    return (JSON.parse(entry) as [{ type?: unknown }])[0]?.type === 'retire';
  } catch {
    return false;
  }
}

/** Sorted rows, length-framed, SHA-256 (hex). */
function rowsDigest(rows: readonly (readonly [string, string])[]): string {
  const h = createHash('sha256');
  let prev: string | undefined;
  // Hashed in chunks of about 64 KiB: one update per row costs more than the hashing.
  let chunk = '';
  for (const [k, v] of rows) {
    if (prev !== undefined && !(prev < k)) throw new RangeError('rows must be sorted by key');
    chunk += `${k.length}:${k}${v.length}:${v}`;
    if (chunk.length >= 65_536) {
      h.update(chunk);
      chunk = '';
    }
    prev = k;
  }
  h.update(chunk);
  return h.digest('hex');
}

/**
 * The state digest: the sorted agreed rows (length-framed), the epoch roots and, when given,
 * the heap part's digest; SHA-256.
 */
export function stateDigestOf(
  rows: readonly (readonly [string, string])[],
  epochs: readonly EpochRoot[],
  heap?: HeapPart,
): string {
  for (const [k] of rows) {
    if (isLocalRow(k)) throw new RangeError(`row ${k.slice(0, 8)}… is local to a member`);
  }
  const h = createHash('sha256').update('quorumvat-state-v1\n');
  h.update(rowsDigest(rows));
  for (const e of epochs) h.update(`epoch:${e.epoch}:${e.root}:${e.since}\n`);
  if (heap !== undefined) h.update(`heap:${heapDigestOf(heap)}`);
  return h.digest('hex');
}

/**
 * Why a snapshot must be refused, or undefined. Checks, in order: it is of this quorum; the
 * certificate holds k valid signatures of members of the configuration of its epoch (from the
 * verified chain `chain`) on checkpointValue(hash, state) at `height`; the rows' digest is the
 * certified state; the rows' position is the certified height and transcript hash; the epoch
 * roots are the chain's epochs up to that height; the heap part is a well-formed store image.
 */
export function snapshotProblem(
  snap: Snapshot,
  quorum: VatId,
  chain: ConfigChain,
): string | undefined {
  if (snap.quorum !== quorum) return `snapshot of another quorum vat (${snap.quorum})`;
  const epoch = snap.certificate?.epoch;
  const config = typeof epoch === 'number' ? chain.configAt(epoch) : undefined;
  if (config === undefined)
    return `certificate of epoch ${String(epoch)}, not in this host's chain`;
  const statement = checkpointStatement(
    quorum,
    config.epoch,
    snap.height,
    checkpointValue(snap.hash, snap.state),
  );
  const cert = verifyCertificate(config, statement, snap.certificate);
  if (!cert.ok) return `checkpoint certificate refused: ${cert.message}`;
  const problem = imageProblem({ rows: [], ...snap.heap });
  if (problem !== undefined) return `heap: ${problem}`;
  let digest: string;
  try {
    digest = stateDigestOf(snap.rows, snap.epochs, snap.heap);
  } catch (err) {
    return `rows: ${(err as Error).message}`;
  }
  if (digest !== snap.state) return 'the rows do not match the certified state digest';
  const row = (key: string) => snap.rows.find(([k]) => k === key)?.[1];
  if (row(HASH_ROW) !== snap.hash) return 'the rows resume from another transcript hash';
  let tipHeight: unknown;
  try {
    tipHeight = (JSON.parse(row(TIP_ROW) ?? 'null') as { height?: unknown } | null)?.height;
  } catch {
    tipHeight = undefined;
  }
  if (tipHeight !== snap.height) return 'the rows stand at another height';
  // The epochs entered up to the height are exactly the chain's (roots are in the digest).
  const want: { epoch: number; since: number }[] = [];
  for (let e = 1; chain.configAt(e) !== undefined; e++) {
    const since = chain.configAt(e)!.since;
    if (since - 1 <= snap.height) want.push({ epoch: e, since });
  }
  const got = snap.epochs.map((e) => ({ epoch: e.epoch, since: e.since }));
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    return 'the epochs do not match the configuration chain';
  }
  if (config.epoch !== configEpochAt(want, snap.height)) {
    return `certificate of epoch ${config.epoch}, the height is in another epoch`;
  }
  return undefined;
}

/** The epoch a height was decided in, given the epochs' start heights. */
function configEpochAt(epochs: readonly { epoch: number; since: number }[], height: number) {
  let epoch = 0;
  for (const e of epochs) if (height >= e.since) epoch = e.epoch;
  return epoch;
}

/** The store image a snapshot installs: its rows, and the heap part. */
export function imageOf(snap: Snapshot): StoreImage {
  return { rows: snap.rows, ...snap.heap };
}
