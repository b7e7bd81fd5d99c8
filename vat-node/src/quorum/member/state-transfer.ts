/**
 * A member's part in state transfer from a checkpoint (README "State transfer from a
 * checkpoint"):
 *   sign      at each checkpoint height, right after the batch that reached it (everything
 *             committed, nothing in flight), the digest of the committed kernel state that the
 *             checkpoint statement signs with the transcript hash (snapshot.ts). The state is
 *             kept as a candidate until k members certify it;
 *   serve     the latest certified state, as the snapshot protocol sends it
 *             (snapshot-protocol.ts), also kept on disk so a restarted member serves it before
 *             the next checkpoint (an idle quorum takes none);
 *   install   before the kernel opens its store: a host whose store is empty, or whose decided
 *             tip is below the oldest block the members keep, installs a certified state and
 *             catches up by sync from there.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventSink } from '../../events/events.ts';
import type { VatId } from '../../protocol/identity.ts';
import { DB_FILE, KernelDB, type StoreImage } from '../../store/kernel-db.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { ConfigChain } from '../chain.ts';
import type { Observed } from '../ordering/driver.ts';
import { checkpointValue } from '../ordering/statements.ts';
import type { EpochEntry, OrderingStore } from './ordering-store.ts';
import type { Tip } from './resume.ts';
import {
  agreedRows,
  type EpochRoot,
  imageOf,
  type Snapshot,
  snapshotProblem,
  stateDigestOf,
  TIP_ROW,
} from './snapshot.ts';
import {
  fetchQuorumSnapshot,
  MAX_SNAPSHOT_BYTES,
  parseSnapshot,
  type SnapshotHeader,
  SnapshotUnreachable,
} from './snapshot-protocol.ts';

/** How long a member may take to answer a snapshot request, and to send a whole snapshot. */
const SNAPSHOT_REACH_MS = 3_000;
const SNAPSHOT_TRANSFER_MS = 120_000;
/**
 * States at checkpoint heights a member keeps until k members certify one of them; also how
 * many certifications of heights it has not executed yet it remembers.
 */
const KEPT_CANDIDATES = 4;
/** Where a member keeps the snapshot it serves (in its data directory). */
export const SNAPSHOT_FILE = 'checkpoint-snapshot.json';

type StableCheckpoint = Extract<Observed, { type: 'stable-checkpoint' }>;

/** The state at a checkpoint height, kept until k members certify it (then it is served). */
interface Candidate {
  readonly height: number;
  readonly hash: string;
  readonly state: string;
  readonly rows: readonly (readonly [string, string])[];
  readonly epochs: readonly EpochRoot[];
  readonly heap: Pick<StoreImage, 'checkpoint' | 'transcript'>;
}

/** What answering a snapshot request needs of the ordering (undefined before it runs). */
export interface DecidedRange {
  /** The lowest decided height the replica still serves to peers (sync). */
  readonly oldestKept: number;
  readonly decidedHeight: number;
}

export interface StateTransferOptions {
  readonly quorum: VatId;
  readonly self: VatId;
  readonly host: VatHost;
  /** Undefined: in memory (nothing to install, nothing kept on disk). */
  readonly dataDir: string | undefined;
  readonly store: OrderingStore;
  /** The member's epochs (by epoch number): an install adds the snapshot's. */
  readonly epochs: Map<number, EpochEntry>;
  readonly chain: () => ConfigChain;
  /** Asks the members for a newer chain until `enough` holds of the one held. */
  readonly newerChain: (enough: (chain: ConfigChain) => boolean) => Promise<void>;
  readonly events: EventSink;
}

export class StateTransfer {
  readonly #opts: StateTransferOptions;
  /** States at checkpoint heights not yet certified (at most KEPT_CANDIDATES). */
  readonly #candidates = new Map<number, Candidate>();
  /** Certifications that came before this member executed their height (it is behind). */
  readonly #early = new Map<number, StableCheckpoint>();
  /** The latest certified state, serialized, as the snapshot protocol serves it. */
  #served: { height: number; bytes: Uint8Array } | undefined;
  /** The checkpoint this host installed at start, if it did. */
  #restoredFrom: { height: number; peer: VatId } | undefined;

  constructor(opts: StateTransferOptions) {
    this.#opts = opts;
  }

  /** The stable checkpoint this host installed at start, if it did. */
  get restoredFrom(): { readonly height: number; readonly peer: VatId } | undefined {
    return this.#restoredFrom;
  }

  /** The height of the certified state served to hosts catching up, if any. */
  get servedHeight(): number | undefined {
    return this.#served?.height;
  }

  /**
   * The state digest at a checkpoint height (the replica asks, right after the batch that
   * reached it). When the kernel has executed exactly that height, its state is kept as the
   * candidate for that height.
   */
  stateAt(
    height: number,
    image: StoreImage | undefined,
    executed: { readonly height: number; readonly hash: string },
  ): string {
    const epochs = this.#epochRoots(height);
    if (image === undefined) return stateDigestOf([], epochs);
    const rows = agreedRows(image.rows);
    const heap = { checkpoint: image.checkpoint, transcript: image.transcript };
    const state = stateDigestOf(rows, epochs, heap);
    if (executed.height === height && height > (this.#served?.height ?? 0)) {
      const candidate = { height, hash: executed.hash, state, rows, epochs, heap };
      const early = this.#early.get(height);
      if (early !== undefined) {
        this.#early.delete(height);
        this.#serveIfSame(candidate, early);
      } else if (this.#candidates.size < KEPT_CANDIDATES) {
        // A member ahead of the others computes the next checkpoints' states before k members
        // certified this one. When full, it keeps the oldest, which are what gets certified
        // next: dropping those instead would leave a member that stays ahead serving nothing
        // newer, ever (a learner then installs a state the members have pruned past).
        this.#candidates.set(height, candidate);
      }
    }
    return state;
  }

  /**
   * k members certified a checkpoint: if it is the state we kept, serve it from now on; if this
   * member has not executed that height yet, once it has (and finds the same state).
   */
  certified(e: StableCheckpoint): void {
    const c = this.#candidates.get(e.height);
    for (const h of this.#candidates.keys()) if (h <= e.height) this.#candidates.delete(h);
    if (c !== undefined) {
      this.#serveIfSame(c, e);
    } else if (e.height > (this.#served?.height ?? 0)) {
      // Not executed here yet (or dropped while full): served when this member gets there.
      this.#early.set(e.height, e);
      for (const h of [...this.#early.keys()].sort((a, b) => a - b)) {
        if (this.#early.size <= KEPT_CANDIDATES) break;
        this.#early.delete(h);
      }
    }
  }

  #serveIfSame(c: Candidate, e: StableCheckpoint): void {
    if (checkpointValue(c.hash, c.state) !== e.hash) return;
    if (this.#served !== undefined && this.#served.height >= c.height) return;
    const snapshot: Snapshot = {
      quorum: this.#opts.quorum,
      height: c.height,
      hash: c.hash,
      state: c.state,
      certificate: e.certificate,
      rows: c.rows,
      epochs: c.epochs,
      heap: c.heap,
    };
    const bytes = new Uint8Array(Buffer.from(JSON.stringify(snapshot), 'utf8'));
    if (bytes.length > MAX_SNAPSHOT_BYTES) return;
    this.#served = { height: c.height, bytes };
    for (const h of this.#early.keys()) if (h <= c.height) this.#early.delete(h);
    // Losing the file only means serving later (from the next certified checkpoint).
    const dir = this.#opts.dataDir;
    if (dir === undefined) return;
    try {
      writeFileSync(join(dir, `${SNAPSHOT_FILE}.tmp`), bytes);
      renameSync(join(dir, `${SNAPSHOT_FILE}.tmp`), join(dir, SNAPSHOT_FILE));
    } catch {
      // served from memory meanwhile
    }
  }

  /** The snapshot kept on disk (by `certified` or an install), if it is one of this quorum. */
  loadServed(): void {
    const dir = this.#opts.dataDir;
    if (dir === undefined || !existsSync(join(dir, SNAPSHOT_FILE))) return;
    try {
      const bytes = new Uint8Array(readFileSync(join(dir, SNAPSHOT_FILE)));
      const snap = parseSnapshot(Buffer.from(bytes).toString('utf8'));
      if (snap.quorum === this.#opts.quorum) this.#served = { height: snap.height, bytes };
    } catch {
      // a damaged file: serve from the next certified checkpoint on
    }
  }

  /**
   * What this member answers a host whose decided tip is `after`: the certified snapshot when
   * that host is below the oldest decided block we keep, or has nothing yet (a new learner, a
   * member that lost its store); else that sync will do, or that there is no certified
   * checkpoint above its height yet.
   */
  answer(
    after: number,
    ordering: DecidedRange | undefined,
  ): { header: SnapshotHeader; bytes?: Uint8Array } {
    const oldestKept = ordering?.oldestKept ?? 1;
    const height = ordering?.decidedHeight ?? 0;
    const behind = after + 1 < oldestKept;
    // A snapshot older than what we keep could not be followed by sync: not worth sending.
    const served =
      this.#served !== undefined && this.#served.height + 1 >= oldestKept
        ? this.#served
        : undefined;
    if (served !== undefined && served.height > after && (behind || after === 0)) {
      return {
        header: { status: 'snapshot', height: served.height, bytes: served.bytes.length },
        bytes: served.bytes,
      };
    }
    if (!behind) return { header: { status: 'not-needed', oldestKept, height } };
    return { header: { status: 'none', reason: 'no certified checkpoint above that height yet' } };
  }

  /**
   * Before the kernel opens its store: installs the latest stable checkpoint a member serves
   * if this host needs one, checked against the certificate and the chain (snapshotProblem).
   * A snapshot that fails a check is refused with one line and the next member is asked;
   * with none usable the store stays as it is (sync then says if it is too far behind).
   */
  async restore(): Promise<void> {
    const { dataDir: dir, host, quorum, self } = this.#opts;
    if (dir === undefined) return;
    const after = decidedTipIn(dir);
    // The host dials its bootstrap peers as it starts: give it a moment to reach a member (a
    // member that is down, or a fresh quorum whose members are not up yet, costs this wait).
    const others = this.#opts.chain().current.members.filter((m) => m !== self);
    for (let t = 0; t < SNAPSHOT_REACH_MS; t += 100) {
      if (others.some((m) => host.isConnected(m))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const peer of others) {
      const refuse = (reason: string) =>
        this.#opts.events({ type: 'quorum-snapshot-refused', quorum, peer, reason });
      let fetched: Awaited<ReturnType<typeof fetchQuorumSnapshot>>;
      try {
        fetched = await fetchQuorumSnapshot(
          host,
          peer,
          quorum,
          after,
          AbortSignal.timeout(SNAPSHOT_TRANSFER_MS),
          AbortSignal.timeout(SNAPSHOT_REACH_MS),
        );
      } catch (err) {
        // A member that is down (or not started yet: a fresh quorum) is not a refusal.
        if (!(err instanceof SnapshotUnreachable)) {
          refuse(`transfer failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        continue;
      }
      if (fetched.status === 'not-needed') return;
      if (fetched.status === 'none') continue;
      const snap = fetched.snapshot;
      // Certified in an epoch this host's chain does not reach yet: ask for a newer chain.
      const reaches = (c: ConfigChain) => c.configAt(snap.certificate.epoch) !== undefined;
      if (!reaches(this.#opts.chain())) await this.#opts.newerChain(reaches);
      const problem =
        snap.height <= after
          ? `checkpoint at height ${snap.height}, not above this host's ${after}`
          : snapshotProblem(snap, quorum, this.#opts.chain());
      if (problem !== undefined) {
        refuse(problem);
        continue;
      }
      this.#install(dir, snap);
      this.#restoredFrom = { height: snap.height, peer };
      // It is certified: this host serves it too (loadServed at start).
      try {
        writeFileSync(join(dir, SNAPSHOT_FILE), JSON.stringify(snap));
      } catch {
        // served from the next certified checkpoint on
      }
      this.#opts.events({
        type: 'quorum-state-restored',
        quorum,
        peer,
        height: snap.height,
        epoch: snap.certificate.epoch,
        rows: snap.rows.length,
        bytes: fetched.bytes,
        fromHeight: after,
      });
      return;
    }
  }

  /**
   * The kernel store becomes the snapshot's (one transaction; the kernel rebuilds the vat's
   * heap from it when it opens), the ordering store learns the epochs entered up to it.
   */
  #install(dir: string, snap: Snapshot): void {
    const db = KernelDB.open(dir);
    try {
      db.install(imageOf(snap));
    } finally {
      db.close();
    }
    const { store, epochs } = this.#opts;
    const chain = this.#opts.chain();
    for (const [i, r] of chain.records.entries()) store.saveRecord(i, r);
    for (const e of snap.epochs) {
      const record = chain.records[e.epoch - 1]!;
      const entry: EpochEntry = {
        config: chain.configAt(e.epoch)!,
        root: e.root,
        since: e.since,
        request: record.request,
        admin: record.admin,
      };
      epochs.set(e.epoch, entry);
      store.saveEpoch(entry);
    }
  }

  /** The epochs the ordering entered up to `height` (their roots are part of the state). */
  #epochRoots(height: number): EpochRoot[] {
    return [...this.#opts.epochs.values()]
      .filter((e) => e.since - 1 <= height)
      .sort((a, b) => a.config.epoch - b.config.epoch)
      .map((e) => ({ epoch: e.config.epoch, root: e.root, since: e.since }));
  }
}

/** The height of the last block the kernel store in `dir` executed (0: none, or no store). */
function decidedTipIn(dir: string): number {
  if (!existsSync(join(dir, DB_FILE))) return 0;
  const db = KernelDB.open(dir, { check: 'none' }); // the kernel checks it when it opens it
  try {
    const tip = db.get(TIP_ROW);
    return tip === undefined ? 0 : (JSON.parse(tip) as Tip).height;
  } finally {
    db.close();
  }
}
