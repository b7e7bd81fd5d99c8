/**
 * The kernel of one vat: it owns the vat's c-lists (one per peer vat), its promise table, its
 * run queue and its outboxes, and runs the vat one delivery (crank) at a time.
 *
 *   transport ──receive──▶ c-list translation ──▶ run queue ──crank──▶ vat worker (liveslots)
 *   transport ◀──outbox── c-list translation ◀── syscalls (sends, resolutions) of the crank
 *
 * A crank commits whole or not at all: the worker buffers the crank's syscalls and store
 * writes and the kernel applies them only if the crank succeeded. A failed crank (gas,
 * memory, time) leaves no trace: its result promise is rejected, the worker is replaced by a
 * fresh one loaded from the committed store, and the vat goes on with its next delivery.
 *
 * Durability (keeper.ts): every table lives in the kernel keeper, whose changes commit to the
 * store in one transaction per worker batch (or per inbound batch): the cranks' state
 * changes, transcript rows, outbound messages, run-queue changes and the inbound high-water
 * mark that the ack reports. Nothing leaves the kernel before the commit that produced it:
 * the transport sees only committed outbound messages (`unacked`) and acks only committed
 * inbound ones (`committedInbound`), wake() and host results come after the commit. With a
 * data directory the store is SQLite (store/kernel-db.ts) and a restart loads it whole; with
 * none, the same keeper commits to a Map.
 *
 * Checkpoints: the worker's heap is never persisted, so a replay (verify) can only start where
 * a worker started from the vat store. The kernel checkpoints (store/kernel-db.ts) when a
 * fresh worker starts (at every kernel start, after a failed crank) if the store's policy says
 * so, and when the policy asks for one while the worker runs, it replaces the worker as soon as
 * the vat is quiescent: nothing outside the vat store can be lost then (no promise the vat
 * holds is pending, no object of its heap is reachable from outside). So the transcript since
 * the last checkpoint, and replay time, stay bounded by the policy, whatever the history.
 *
 * Messages to a promise go to the vat that decides it (promise pipelining). A promise this
 * vat decides receives its messages inside the vat, where HandledPromise queues them in order
 * and forwards them wherever the promise resolves (E-order, also when that is another vat).
 * When a peer resolves a promise to something elsewhere while messages this vat sent through
 * the peer are still on their way back, the kernel embargoes the promise: it holds the vat's
 * notification and further sends until an echo through the peer proves the earlier messages
 * arrived (Cap'n Proto's Disembargo, by counting: see `received` in protocol/messages.ts).
 *
 * Settled promises leave the tables once nothing names them (retirement.ts): peers drop their
 * indices, the vat gets a `retire` delivery, the record goes. A fresh worker (restart, failed
 * crank, checkpoint) maps no promise: the kernel rejects those the old heap was to settle and
 * forwards messages to settled ones itself (#vatForgot).
 */
import { hash } from 'node:crypto';
import type { EventSink, VatEvent } from '../events/events.ts';
import type { CrankOutcome, Delivery, Syscall, VatOptions, VRef } from '../liveslots/protocol.ts';
import { ECHO_METHOD } from '../liveslots/protocol.ts';
import { isProtocolError, ProtocolError } from '../protocol/errors.ts';
import type { VatId, VatIdentity } from '../protocol/identity.ts';
import type { CapData, Resolution, Sequenced, VatMessage } from '../protocol/messages.ts';
import {
  isExportRef,
  isHandoffSlot,
  isImportRef,
  isPromiseRef,
  type WireRef,
} from '../protocol/refs.ts';
import { STORE_DEFAULTS } from '../store/defaults.ts';
import {
  type CheckpointPolicy,
  KernelDB,
  type Synchronous,
  shouldCheckpoint,
} from '../store/kernel-db.ts';
import type { KernelPort, Transport } from '../transport/types.ts';
import { decodeHost, encodeHost, HostError } from './hostcaps.ts';
import {
  type Backing,
  DbBacking,
  type KeptCList,
  KernelKeeper,
  MemoryBacking,
  type PromiseRecord,
  type QueuedItem,
  type RunItem,
  type SendItem,
} from './keeper.ts';
import {
  isHeapObject,
  isSingleRef,
  messageTo,
  newPromise,
  promisesIn,
  sendItem,
} from './promises.ts';
import { PromiseRetirement } from './retirement.ts';
import {
  checkRedeemProof,
  formatSturdyRef,
  newSecret,
  parseSturdyRef,
  redeemProof,
  sturdyKey,
} from './sturdyref.ts';
import { Transcript } from './transcript.ts';
import { CListTranslator } from './translation.ts';
import { checkVatLimits, DEFAULT_LIMITS, VatWorker, type WorkerLimits } from './vat-worker.ts';

export interface KernelOptions extends VatOptions {
  readonly vatId: VatId;
  /**
   * Signs three-party handoff certificates and checks other vats' (kernel/handoff.ts).
   * Without it, references to a third vat's objects are proxied through this vat.
   */
  readonly identity?: VatIdentity;
  readonly limits?: WorkerLimits;
  /**
   * Where the kernel reports what an operator may need to know (events/events.ts): aborted
   * cranks, refused peer messages, undeliverable messages, store failures, waiting
   * checkpoints. The vat node turns them into log lines. Default: dropped.
   */
  readonly events?: EventSink;
  /**
   * The vat's data directory (created if new). The kernel commits every crank there and a
   * new Kernel.create on the same directory resumes the vat where the last commit left it.
   * Without it, the state lives in memory only.
   */
  readonly dataDir?: string;
  /** fsync policy of the store (store/kernel-db.ts). Default 'FULL'. */
  readonly synchronous?: Synchronous;
  /**
   * When to checkpoint (store/kernel-db.ts `shouldCheckpoint`). Checkpoints are taken when a
   * fresh worker starts; when the policy asks for one while the worker runs, `refreshWorker`
   * says when to replace it (a checkpoint needs a fresh worker):
   *   'quiescent' (default)  at the first moment nothing outside the vat store can be lost: no
   *                          pending promise held by the vat, no heap object exported, no
   *                          embargo. Heap-only variables of the contract start over, as at a
   *                          restart (they are not durable: README, durable state).
   *   'always'               at once, rejecting what was pending in the heap (as a crash would).
   *   'never'                only at restarts and failed cranks (the transcript grows meanwhile).
   */
  readonly checkpoint?: CheckpointPolicy & {
    readonly refreshWorker?: 'quiescent' | 'always' | 'never';
  };
  /** Called after each commit that wrote something, with how long it took (metrics). */
  readonly onCommit?: (ms: number) => void;
}

/** The kernel cannot take work: its store failed, or it is closed. Not the peer's fault. */
export class KernelUnavailable extends Error {
  override name = 'KernelUnavailable';
}

export interface HostResult {
  readonly rejected: boolean;
  readonly value: unknown;
}

interface HostWaiter {
  resolve(r: HostResult): void;
  reject(e: Error): void;
}

export class Kernel implements KernelPort {
  readonly vatId: VatId;
  readonly #options: KernelOptions;
  readonly #transport: Transport;
  #worker: VatWorker | null = null;
  /** A checkpoint is due and the worker's heap must be discarded (refreshWorker). */
  #refreshDue = false;
  // What keeps the worker's heap from being discarded (see #heapHeld), kept as things happen.
  /** Promises the worker's heap holds unsettled (it decides them, or awaits them). */
  readonly #heapPending = new Set<VRef>();
  /** The first object of this worker's heap that left the vat (to a peer, the host, a sturdyref). */
  #heapObjectOut: VRef | null = null;
  /** This worker's heap objects are `o+N` with N >= this (older ones died with their worker). */
  #heapFloor = 1;
  #checkpointWaitReported = false;
  readonly #db: KernelDB | null;
  /** Every kernel table, and the commit of its changes. */
  readonly #keeper: KernelKeeper;
  readonly #hostWaiters = new Map<VRef, HostWaiter>();
  /** Peers to wake after the next commit. */
  readonly #wakeSet = new Set<VatId>();
  /** Host results to hand out after the next commit. */
  #afterCommit: { waiter: HostWaiter; result: HostResult }[] = [];
  /** What the last commit holds: inbound high-water mark and last outbound seq, per peer. */
  readonly #committedIn = new Map<VatId, number>();
  readonly #committedOut = new Map<VatId, number>();
  #flushScheduled = false;
  /** The store failed: no new work. */
  #broken: KernelUnavailable | null = null;
  /** Checkpoint at the next worker start. */
  #checkpointDue = false;
  readonly #retirement: PromiseRetirement;
  /** C-list translation between our vrefs and each peer's wire refs. */
  readonly #clists: CListTranslator;
  readonly transcript: Transcript;
  #pumping = false;
  #idle: (() => void)[] = [];
  #closed = false;
  /** stopWork() was called: no crank starts any more. */
  #stopping = false;
  /** Counters for tests and metrics (deliveries: messages delivered to the vat). */
  readonly stats = {
    cranks: 0,
    failedCranks: 0,
    workerRestarts: 0,
    checkpoints: 0,
    deliveries: 0,
    gasUsed: 0,
  };

  private constructor(options: KernelOptions, transport: Transport, db: KernelDB | null) {
    this.vatId = options.vatId;
    this.#options = options;
    this.#transport = transport;
    this.#db = db;
    const backing: Backing = db ? new DbBacking(db) : new MemoryBacking();
    this.#keeper = new KernelKeeper(backing);
    this.transcript = db ? new Transcript({ head: db.head, keepEntries: false }) : new Transcript();
    this.#noteCommitted();
    this.#retirement = new PromiseRetirement(this.#keeper, {
      push: (peer, msg) => this.#push(peer, msg),
      retireInVat: (vrefs) => this.#enqueue({ kind: 'vat', delivery: { type: 'retire', vrefs } }),
      hostWaits: (vref) => this.#hostWaiters.has(vref),
      settled: (vref) => this.#heapPending.delete(vref),
    });
    this.#clists = new CListTranslator(this.#keeper, options.vatId, options.identity, {
      handedOut: (vref) => this.#handedOut(vref),
      setResolution: (vref, rec, res) => this.#retirement.setResolution(vref, rec, res),
    });
  }

  /**
   * Start the vat: load its contract in a fresh worker and run buildRootObject. With a data
   * directory that holds a vat, resume it: c-lists, promises, outboxes, run queue, sturdyrefs
   * and the vat store as last committed. Rejects with the store's StoreCorrupt when the
   * directory is damaged, StoreUnavailable when it cannot be written.
   */
  static async create(options: KernelOptions, transport: Transport): Promise<Kernel> {
    checkVatLimits(options); // before the store: a bad gas limit is never recorded
    const db =
      options.dataDir === undefined
        ? null
        : KernelDB.open(options.dataDir, { synchronous: options.synchronous ?? 'FULL' });
    let k: Kernel;
    try {
      k = new Kernel(options, transport, db);
      k.#checkMeta();
      // A fresh worker is a replay's starting point: checkpoint the history before it.
      k.#checkpointDue = db !== null && db.stats().transcriptRows > 0;
      await k.#startWorker();
      k.#flushNow();
    } catch (e) {
      db?.close();
      throw e;
    }
    transport.attach(k);
    // The transport cannot list peers: wake every peer owed a message or an ack.
    for (const [peer, state] of k.#keeper.peers) {
      if ((k.#keeper.outbox.get(peer)?.length ?? 0) > 0 || state.inSeq > 0) transport.wake(peer);
    }
    if (k.#keeper.runQueue.length > 0) k.#startPump();
    return k;
  }

  /** First start: record what the data directory holds; later: check it is the same vat. */
  #checkMeta(): void {
    const { vatId, vatName, contractSource, gasLimit } = this.#options;
    const want: Record<string, string> = {
      vatId,
      vatName,
      contractHash: hash('sha256', contractSource, 'hex'),
      gasLimit: String(gasLimit),
    };
    const meta = this.#keeper.meta;
    if (meta.size === 0) {
      for (const [k, v] of Object.entries(want)) this.#keeper.setMeta(k, v);
      this.#keeper.setMeta('contractSource', contractSource);
      return;
    }
    for (const [k, v] of Object.entries(want)) {
      if (meta.get(k) !== v) {
        throw Error(
          `${this.#options.dataDir}: holds vat ${meta.get('vatName')} with another ${k === 'contractHash' ? 'contract' : k} (${k} ${meta.get(k)?.slice(0, 16)}, asked ${v.slice(0, 16)})`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- host API

  /** Let `peer` reach this vat's root object; returns the wire ref (as this vat writes it). */
  grantRoot(peer: VatId): WireRef {
    return this.grant(peer, 'o+0');
  }

  /** Put one of this vat's refs in `peer`'s c-list; returns the wire ref (as this vat writes it). */
  grant(peer: VatId, vref: VRef): WireRef {
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects can be granted: ${vref}`);
    this.#usable();
    const wire = this.#clist(peer).export(vref);
    this.#handedOut(vref);
    this.#flushNow();
    return wire;
  }

  /** Import a ref that `peer` granted us (its wire ref, as `peer` wrote it); returns our vref. */
  importGranted(peer: VatId, wire: WireRef): VRef {
    this.#usable();
    const vref = this.#clists.importFrom(peer, wire, 'arg');
    this.#flushNow();
    return vref;
  }

  /**
   * Send `method(...args)` to a vref of this vat (its root `o+0`, an import, a promise) as the
   * host, and wait for the result. Args may contain HostRefs. Used by the CLI and tests.
   */
  call(target: VRef, method: string, args: unknown[]): Promise<HostResult> {
    if (this.#broken || this.#closed) return Promise.reject(this.#unavailable());
    const result = `p-${this.#keeper.next('nextPromise')}`;
    this.#keeper.addPromise(result, newPromise(null));
    const done = new Promise<HostResult>((resolve, reject) =>
      this.#hostWaiters.set(result, { resolve, reject }),
    );
    this.#route({ target, method, args: encodeHost(args), result }, FROM_HOST);
    this.#changed();
    return done;
  }

  /**
   * Mint a sturdyref for one of this vat's objects: anyone holding the URI can redeem it for a
   * live reference until it is revoked. `hints` are addresses where this vat listens.
   */
  mintSturdyRef(vref: VRef, hints: readonly string[] = []): string {
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects have sturdyrefs: ${vref}`);
    this.#usable();
    const secret = newSecret();
    this.#keeper.setSturdyRef(sturdyKey(secret), vref);
    this.#handedOut(vref);
    this.#flushNow(); // committed before anyone can hold the URI
    return formatSturdyRef({ vatId: this.vatId, secret, hints });
  }

  /** Revoke a sturdyref: later redemptions fail (references already handed out stay live). */
  revokeSturdyRef(uri: string): boolean {
    const ref = parseSturdyRef(uri);
    if (ref.vatId !== this.vatId) throw TypeError('not a sturdyref of this vat');
    this.#usable();
    const had = this.#keeper.setSturdyRef(sturdyKey(ref.secret), null);
    this.#flushNow();
    return had;
  }

  /** Is this one of our sturdyrefs, not revoked? */
  honours(uri: string): boolean {
    try {
      const ref = parseSturdyRef(uri);
      return ref.vatId === this.vatId && this.#keeper.sturdyRefs.has(sturdyKey(ref.secret));
    } catch {
      return false;
    }
  }

  /** Redeem a sturdyref (of any vat) for a reference this vat holds; resolves to its vref. */
  async redeem(uri: string): Promise<VRef> {
    const ref = parseSturdyRef(uri);
    if (ref.vatId === this.vatId) {
      const vref = this.#keeper.sturdyRefs.get(sturdyKey(ref.secret));
      if (vref === undefined) throw Error('unknown or revoked sturdyref');
      return vref;
    }
    this.#usable();
    if (ref.hints.length > 0) this.#transport.addHints?.(ref.vatId, ref.hints);
    const result = `p-${this.#keeper.next('nextPromise')}`;
    this.#keeper.addPromise(result, newPromise(ref.vatId));
    const done = new Promise<HostResult>((resolve, reject) =>
      this.#hostWaiters.set(result, { resolve, reject }),
    );
    this.#push(ref.vatId, {
      op: 'redeem',
      key: sturdyKey(ref.secret),
      proof: redeemProof(ref.secret, ref.vatId, this.vatId),
      result: this.#clist(ref.vatId).export(result),
    });
    this.#changed();
    const r = await done;
    if (r.rejected)
      throw Error(`sturdyref refused by ${ref.vatId}: ${(r.value as HostError).message}`);
    return (r.value as { vref: VRef }).vref;
  }

  /**
   * How big the kernel's tables are: they follow live state (what is reachable and what is
   * in flight), not history. For tests and metrics.
   */
  tableSizes(): { promises: number; clistEntries: number; runQueue: number } {
    let clistEntries = 0;
    for (const c of this.#keeper.clists.values()) clistEntries += c.size;
    const { promises, runQueue } = this.#keeper;
    return { promises: promises.size, clistEntries, runQueue: runQueue.length };
  }

  /** Messages sent to each peer and not acknowledged yet (metrics). */
  unackedCounts(): Map<VatId, number> {
    const counts = new Map<VatId, number>();
    for (const [peer, box] of this.#keeper.outbox) if (box.length > 0) counts.set(peer, box.length);
    return counts;
  }

  /** The store failed (the kernel refuses new work until restarted): why, else null. */
  get storeFailure(): string | null {
    return this.#broken?.message ?? null;
  }

  /**
   * Start no new crank (a graceful stop): resolves once the batch of cranks in progress, if
   * any, has finished and been committed. What is still queued stays queued, durably, and runs
   * at the next start.
   */
  stopWork(): Promise<void> {
    this.#stopping = true;
    return this.idle();
  }

  /** Resolves when the run queue is empty and no crank is running. */
  idle(): Promise<void> {
    if (!this.#pumping && (this.#stopping || this.#keeper.runQueue.length === 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Stop the vat: commit what is done, stop the worker and the transport, close the store.
   * A crank still running is not committed (it runs again at the next start).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (!this.#broken) this.#flush();
    this.#closed = true;
    await Promise.all([this.#worker?.terminate(), this.#transport.close()]);
    try {
      this.#db?.close();
    } catch {
      // A failed store may refuse even to close; what it committed is on disk.
    }
  }

  // ------------------------------------------------------- KernelPort (transport side)

  receive(peer: VatId, seq: number, msg: VatMessage): 'accepted' | 'duplicate' {
    if (this.#broken) throw this.#broken;
    // A closed kernel drops everything; nothing of it is acked.
    if (this.#closed) return 'duplicate';
    const state = this.#keeper.peerState(peer);
    const last = state.inSeq;
    if (!Number.isSafeInteger(seq) || seq <= 0)
      throw new ProtocolError('out-of-order', `bad seq ${seq}`);
    if (seq <= last) return 'duplicate';
    if (seq !== last + 1)
      throw new ProtocolError(
        'out-of-order',
        `seq gap from ${peer}: got ${seq}, expected ${last + 1}`,
      );
    // The message is consumed even if it is invalid: a retransmit of it is then a duplicate,
    // and one bad message from a peer cannot wedge the link forever.
    this.#keeper.setInbound(peer, seq);
    this.#wakeSet.add(peer); // an ack is owed
    try {
      this.#accept(peer, msg);
    } finally {
      // Committed with the other messages of this turn (one transaction); the ack follows it.
      this.#changed();
    }
    return 'accepted';
  }

  committedInbound(peer: VatId): number {
    return this.#committedIn.get(peer) ?? 0;
  }

  acked(peer: VatId, seq: number): void {
    if (this.#broken || this.#closed) return;
    const sent = this.#committedOut.get(peer) ?? 0;
    if (seq > sent)
      throw new ProtocolError('out-of-order', `ack ${seq} from ${peer} beyond last sent ${sent}`);
    const box = this.#keeper.outbox.get(peer);
    if (!box || box.length === 0 || box[0]!.seq > seq) return;
    this.#keeper.dropAcked(peer, seq);
    this.#changed();
  }

  unacked(peer: VatId, afterSeq: number): readonly Sequenced[] {
    const box = this.#keeper.outbox.get(peer);
    if (!box || box.length === 0) return [];
    // Only committed messages leave the node.
    const committed = this.#committedOut.get(peer) ?? 0;
    // Always a copy: the outbox grows under the caller (a transport may read it later).
    if (box[0]!.seq > afterSeq && box[box.length - 1]!.seq <= committed) return box.slice();
    return box.filter((s) => s.seq > afterSeq && s.seq <= committed);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    const committed = this.#committedOut.get(peer) ?? 0;
    for (const s of this.#keeper.outbox.get(peer) ?? []) {
      if (s.seq > committed) return false;
      if (s.seq > afterSeq) return true;
    }
    return false;
  }

  // ------------------------------------------------------------------ commits

  /**
   * Something changed: commit it soon, with whatever else changes before then. The commit
   * waits for the I/O callbacks already due (setImmediate, not a microtask): frames and host
   * calls that arrived together, or during the last commit's fsync, share one transaction.
   */
  #changed(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Commit now or throw (host calls that hand something out: a grant, a sturdyref). */
  #flushNow(): void {
    if (!this.#flush()) throw this.#unavailable();
  }

  /**
   * Commit every change since the last commit in one transaction, then let out what it
   * allows: wake the transport for new messages and acks, hand results to the host.
   */
  #flush(): boolean {
    if (this.#broken || this.#closed) return false;
    this.#retirement.beforeCommit();
    if (this.#keeper.dirty) {
      let peers: VatId[];
      const start = performance.now();
      try {
        peers = this.#keeper.flush();
      } catch (e) {
        this.#storeFailed(e);
        return false;
      }
      this.#options.onCommit?.(performance.now() - start);
      this.#noteCommitted(peers);
    }
    const after = this.#afterCommit;
    if (after.length > 0) {
      this.#afterCommit = [];
      for (const { waiter, result } of after) waiter.resolve(result);
    }
    for (const peer of this.#wakeSet) this.#transport.wake(peer);
    this.#wakeSet.clear();
    return true;
  }

  #noteCommitted(peers: Iterable<VatId> = this.#keeper.peers.keys()): void {
    for (const peer of peers) {
      const s = this.#keeper.peers.get(peer)!;
      this.#committedIn.set(peer, s.inSeq);
      this.#committedOut.set(peer, s.nextSeq - 1);
    }
  }

  // ------------------------------------------------------------ vat restarts

  /**
   * A fresh worker maps no promise. Those the old one was to settle never will be: reject
   * them (the vat's heap, where their settlement was pending, is gone: see README, durable
   * state). Deliveries queued for promises that are settled go where the promise went, in
   * their place in the queue.
   */
  #vatForgot(): void {
    const results = new Set<VRef>();
    for (const { item } of this.#keeper.runQueue) {
      if (item.kind === 'vat' && item.delivery.type === 'message' && item.delivery.result) {
        results.add(item.delivery.result);
      }
    }
    const orphans: VRef[] = [];
    for (const [vref, rec] of this.#keeper.promises) {
      if (!rec.known) continue;
      this.#vatRetired(vref);
      if (rec.decider === null && rec.resolution === null && !results.has(vref)) orphans.push(vref);
    }
    const lost = encodeHost(
      new HostError(
        'Error',
        'vat restarted before settling this promise (heap state is not durable)',
      ),
    );
    for (const vref of orphans) this.#decide(vref, true, lost, false);
    const queue = this.#keeper.runQueue;
    for (let i = 0, hops = 0; i < queue.length; ) {
      const q = queue[i]!;
      const d = q.item.kind === 'vat' ? q.item.delivery : null;
      const res = d?.type === 'message' ? this.#keeper.promises.get(d.target)?.resolution : null;
      if (d?.type !== 'message' || !res) {
        i++;
        hops = 0;
        continue;
      }
      const from = (q.item as Extract<RunItem, { kind: 'vat' }>).from ?? FROM_HOST;
      const to = !res.rejected && isSingleRef(res.data) ? res.data.slots[0]! : null;
      if (to !== null && hops++ < 100 && (isExportRef(to) || this.#ownerOf(to) === this.vatId)) {
        // Still for this vat: the same place in the queue, the new target.
        this.#countQueued(d, -1);
        const moved: Delivery = { ...d, target: to };
        this.#keeper.replaceQueued(i, { kind: 'vat', delivery: moved, from });
        this.#countQueued(moved, 1);
        continue; // look again: the new target may be settled too
      }
      this.#dequeued(this.#keeper.removeQueued(i));
      this.#forward(d, from, res);
    }
  }

  /** A checkpoint is due: replace the worker when refreshWorker allows (see KernelOptions). */
  #maybeCheckpoint(): void {
    const db = this.#db;
    const mode = this.#options.checkpoint?.refreshWorker ?? 'quiescent';
    if (!db || mode === 'never' || this.#broken || this.#refreshDue) return;
    if (!shouldCheckpoint(db.stats(), this.#options.checkpoint)) return;
    if (mode === 'quiescent') {
      const held = this.#heapHeld();
      if (held !== null) {
        this.#reportCheckpointWait(held);
        return;
      }
      this.#checkpointWaitReported = false;
    }
    this.#checkpointDue = true;
    this.#refreshDue = true;
  }

  /**
   * Can the worker's heap go without losing anything? Returns null if so, else what holds it:
   * a promise the heap holds unsettled (the vat decides it, or awaits it), an object of this
   * worker's heap that left the vat (an `o+N` other than the root, which buildRootObject makes
   * anew), or an embargo holding sends. O(1): kept up to date as things happen.
   */
  #heapHeld(): string | null {
    // The lasting reason first: it is the one worth reporting.
    const out = this.#heapObjectOut;
    if (out !== null) {
      return `heap object ${out} was handed out (to a vat, the host or a sturdyref)`;
    }
    for (const vref of this.#heapPending) return `promise ${vref} is pending in the heap`;
    if (this.#keeper.embargoes.size > 0) return 'an embargo holds sends';
    return null;
  }

  /** An object of this worker's heap leaves the vat: the heap must stay while the worker runs. */
  #handedOut(vref: VRef): void {
    if (this.#heapObjectOut !== null || !isHeapObject(vref)) return;
    if (Number(vref.slice(2)) >= this.#heapFloor) this.#heapObjectOut = vref;
  }

  /** Once per wait, when it has gone on for long: say what keeps the vat from checkpointing. */
  #reportCheckpointWait(held: string): void {
    const rows = this.#db!.stats().transcriptRows;
    const limit =
      (this.#options.checkpoint?.maxRows ?? STORE_DEFAULTS.checkpoint.maxRows) *
      CHECKPOINT_WAIT_REPORT;
    if (rows < limit || this.#checkpointWaitReported) return;
    this.#checkpointWaitReported = true;
    this.#emit({
      type: 'checkpoint-waiting',
      reason: `checkpoint waits for the vat to be quiescent (${rows} cranks since the last): ${held}; objects handed out must be durable (defineKind) for a running vat to checkpoint`,
      held,
    });
  }

  #storeFailed(e: unknown): void {
    const message = `vat ${this.vatId}: store failed, refusing new work: ${e instanceof Error ? e.message : String(e)}`;
    this.#broken = new KernelUnavailable(message, { cause: e });
    this.#wakeSet.clear();
    // Results whose commit failed never happened: their callers get the error instead.
    for (const { waiter } of this.#afterCommit) waiter.reject(this.#broken);
    this.#afterCommit = [];
    for (const w of this.#hostWaiters.values()) w.reject(this.#broken);
    this.#hostWaiters.clear();
    this.#emit({ type: 'store-failed', reason: message });
  }

  #emit(event: VatEvent): void {
    this.#options.events?.(event);
  }

  #usable(): void {
    if (this.#broken || this.#closed) throw this.#unavailable();
  }

  #unavailable(): KernelUnavailable {
    return this.#broken ?? new KernelUnavailable(`vat ${this.vatId} is closed`);
  }

  /** Hand a settled promise to the host if the host waits for it (after the commit). */
  #settleHost(vref: VRef, rejected: boolean, data: CapData): boolean {
    const host = this.#hostWaiters.get(vref);
    if (!host) return false;
    this.#hostWaiters.delete(vref);
    for (const slot of data.slots) this.#handedOut(slot);
    this.#afterCommit.push({ waiter: host, result: { rejected, value: decodeHost(data) } });
    return true;
  }

  // -------------------------------------------------------------- inbound messages

  #accept(peer: VatId, msg: VatMessage): void {
    // A message that carries a third vat's object waits until that vat has added the object to
    // our c-list (the take), so the vat sees the very same presence as for any other reference
    // to it. Later messages from the same peer wait behind it, to keep their order.
    if (this.#keeper.held.has(peer) || this.#startTakes(peer, msg)) {
      this.#keeper.holdInbound(peer, msg);
      return;
    }
    this.#process(peer, msg);
  }

  /** Present the certificates in `msg` that we have not taken yet; true if any is pending. */
  #startTakes(peer: VatId, msg: VatMessage): boolean {
    const slots =
      msg.op === 'deliver'
        ? msg.args.slots
        : msg.op === 'resolve'
          ? msg.resolutions.flatMap((r) => r.value.slots)
          : [];
    let pending = false;
    for (const slot of slots) {
      if (typeof slot !== 'string' || !isHandoffSlot(slot)) continue;
      const cert = this.#clists.readCert(slot);
      if (cert.exporter === this.vatId) continue; // our own object, named by its certificate
      if (cert.giver !== peer)
        throw new ProtocolError('bad-handoff', `handoff signed by ${cert.giver} sent by ${peer}`);
      if (cert.recipient !== this.vatId)
        throw new ProtocolError('bad-handoff', `handoff for ${cert.recipient} sent here`);
      if (cert.exporter === peer)
        throw new ProtocolError('bad-handoff', 'handoff must name a third vat');
      const key = `${cert.giver}:${cert.nonce}`;
      let take = this.#keeper.takes.get(key);
      if (!take) {
        const promise = `p-${this.#keeper.next('nextPromise')}`;
        this.#keeper.addPromise(promise, { ...newPromise(cert.exporter), take: key });
        take = { promise, vref: null, error: null };
        this.#keeper.setTake(key, take);
        const result = this.#clist(cert.exporter).export(promise);
        this.#push(cert.exporter, { op: 'take', cert: slot, result });
      }
      if (take.vref === null && take.error === null) pending = true;
    }
    return pending;
  }

  /** A take was answered: let the held messages through, in order, as far as they can go. */
  #releaseHeld(): void {
    for (const [peer, queue] of [...this.#keeper.held]) {
      while (queue.length > 0 && !this.#startTakes(peer, queue[0]!)) {
        const msg = this.#keeper.releaseHeld(peer)!;
        try {
          this.#process(peer, msg);
        } catch (e) {
          // The peer sent it, but the error is only found now: refuse it, keep the link.
          if (!isProtocolError(e)) throw e;
          this.#emit({ type: 'peer-message-refused', peer, code: e.code, reason: e.message });
        }
      }
    }
  }

  #process(peer: VatId, msg: VatMessage): void {
    switch (msg.op) {
      case 'deliver': {
        const target = this.#clists.importFrom(peer, msg.target, 'target');
        const args = this.#clists.capDataFrom(peer, msg.args);
        const result =
          msg.result === null ? null : this.#clists.importFrom(peer, msg.result, 'result');
        this.#route({ target, method: msg.method, args, result }, peer);
        return;
      }
      case 'resolve':
        for (const r of msg.resolutions) this.#acceptResolution(peer, r);
        return;
      case 'echo': {
        const target = this.#clists.importFrom(peer, msg.target, 'target');
        if (!isPromiseRef(target))
          throw new ProtocolError('malformed', 'echo must target a promise');
        this.#enqueue({ kind: 'echo', peer, token: msg.token });
        return;
      }
      case 'echoed':
        this.#endEmbargo(peer, msg.token);
        return;
      case 'take':
        this.#acceptTake(peer, msg.cert, msg.result);
        return;
      case 'redeem':
        this.#acceptRedeem(peer, msg.key, msg.proof, msg.result);
        return;
      case 'drop':
        this.#retirement.acceptDrop(peer, msg.refs);
        return;
    }
  }

  #acceptResolution(peer: VatId, r: Resolution): void {
    const vref = this.#clists.importFrom(peer, r.promise, 'target');
    const rec = this.#keeper.promiseForUpdate(vref);
    if (!rec || rec.decider !== peer) {
      throw new ProtocolError(
        'not-decider',
        `${peer} resolved ${r.promise}, which it does not decide`,
      );
    }
    if (!Number.isSafeInteger(r.received) || r.received < 0)
      throw new ProtocolError('malformed', 'bad received count');
    this.#settleImport(peer, vref, rec, r);
    this.#retirement.settledBy(peer, vref);
  }

  /** A promise `peer` decides is settled: route what waits on it, tell who needs to know. */
  #settleImport(peer: VatId, vref: VRef, rec: PromiseRecord, r: Resolution): void {
    if (rec.take !== undefined) {
      this.#settleTake(peer, rec.take, r);
      this.#retirement.setResolution(vref, rec, { rejected: r.rejected, data: encodeHost(null) });
      return;
    }
    if (rec.echoFor !== undefined) {
      // Our path echo came back (settled either way): everything sent before it has arrived.
      this.#keeper.deletePromise(vref);
      this.#endEmbargo(peer, rec.echoFor);
      return;
    }
    const data = this.#clists.capDataFrom(peer, r.value);
    rec.decider = null;
    rec.resolvedBy = peer;
    this.#retirement.setResolution(vref, rec, { rejected: r.rejected, data });
    // Tell the other peers that know this promise through us.
    for (const [other, clist] of this.#keeper.clists) {
      if (other !== peer && clist.has(vref)) this.#resolveToPeer(other, vref, rec);
    }
    if (this.#settleHost(vref, r.rejected, data)) return; // the host asked: the vat never held it
    const sent = rec.sent.get(peer) ?? 0;
    const backHome =
      !r.rejected &&
      this.#redirectsAwayFrom(peer, data) &&
      this.#ownerOf(data.slots[0]!) === this.vatId;
    const onward = !r.rejected && this.#redirectsAwayFrom(peer, data) && !backHome;
    // Back to us, the peer's forwards come back on the same link before its resolution: only
    // messages it had not yet processed can be behind. Onward to a third vat, any message we
    // sent through the peer may still be on the peer's link to that vat.
    if ((backHome && sent > r.received) || (onward && sent > 0)) {
      const token = this.#keeper.next('nextToken');
      rec.embargo = { token, held: [] };
      this.#keeper.embargoes.set(token, vref);
      if (backHome) {
        // Back to one of our objects: the messages still on their way come back through the
        // peer, so an echo from the peer, sent after them, proves they arrived.
        this.#push(peer, { op: 'echo', target: this.#clists.exportTo(peer, vref), token });
      } else {
        // On to a third vat: the earlier messages travel peer → third vat, and only an echo
        // that takes the same path (a message to the promise, forwarded where they went, and
        // answered there) proves they arrived before our direct sends can start.
        const echo = `p-${this.#keeper.next('nextPromise')}`;
        this.#keeper.addPromise(echo, { ...newPromise(peer), echoFor: token });
        const args = encodeHost([]);
        this.#sendToPeer(peer, { target: vref, method: ECHO_METHOD, args, result: echo });
      }
      return;
    }
    // Only a vat that holds the promise (or will: a queued delivery names it) needs to hear.
    if (!rec.known && !rec.queued) return;
    this.#enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, r.rejected, data]] },
    });
  }

  /** The exporter answered our take: the object is now in our c-list with it (or refused). */
  #settleTake(exporter: VatId, key: string, r: Resolution): void {
    if (r.rejected) {
      this.#keeper.answerTake(key, { error: `handoff refused by ${exporter}` });
    } else {
      const slot = r.value.slots[0];
      if (r.value.slots.length !== 1 || typeof slot !== 'string' || !isExportRef(slot)) {
        throw new ProtocolError(
          'malformed',
          `take answered with something other than an object of ${exporter}`,
        );
      }
      this.#keeper.answerTake(key, { vref: this.#clists.importFrom(exporter, slot, 'arg') });
    }
    this.#releaseHeld();
  }

  #acceptRedeem(peer: VatId, key: string, proof: string, result: WireRef): void {
    const vref = this.#clists.importFrom(peer, result, 'result');
    const rec = this.#promise(vref);
    const target = checkRedeemProof(key, proof, this.vatId, peer)
      ? this.#keeper.sturdyRefs.get(key)
      : undefined;
    this.#retirement.setResolution(
      vref,
      rec,
      target === undefined
        ? {
            rejected: true,
            data: encodeHost(new HostError('Error', 'unknown or revoked sturdyref')),
          }
        : { rejected: false, data: { body: '#"$0.Alleged: sturdyref"', slots: [target] } },
    );
    this.#resolveToPeer(peer, vref, rec);
  }

  /** A peer presents a certificate for one of our objects: add it to the peer's c-list. */
  #acceptTake(peer: VatId, cert: unknown, result: WireRef): void {
    if (typeof cert !== 'string' || !isHandoffSlot(cert))
      throw new ProtocolError('malformed', 'take without a certificate');
    const vref = this.#clists.importFrom(peer, result, 'result');
    const rec = this.#promise(vref);
    let target: VRef;
    try {
      target = this.#clists.objectForCert(peer, cert);
    } catch (e) {
      // A well-signed certificate for something the giver does not hold: the giver lied, not
      // the presenter. Refuse the take (the presenter drops what depended on it).
      this.#retirement.setResolution(vref, rec, {
        rejected: true,
        data: encodeHost(new HostError('Error', (e as Error).message)),
      });
      this.#resolveToPeer(peer, vref, rec);
      if (isProtocolError(e, 'handoff-not-held')) return;
      throw e;
    }
    this.#retirement.setResolution(vref, rec, {
      rejected: false,
      data: { body: '#"$0.Alleged: handoff"', slots: [target] },
    });
    this.#resolveToPeer(peer, vref, rec);
  }

  /** The vat that holds a vref's object, or decides its promise. */
  #ownerOf(vref: VRef): VatId | null {
    if (isExportRef(vref)) return this.vatId;
    if (isImportRef(vref)) return this.#keeper.imports.get(vref)?.peer ?? null;
    return this.#keeper.promises.get(vref)?.decider ?? this.vatId;
  }

  /** Does this resolution send later messages somewhere else than `peer`? */
  #redirectsAwayFrom(peer: VatId, data: CapData): boolean {
    if (!isSingleRef(data)) return false;
    const slot = data.slots[0]!;
    if (isImportRef(slot)) return this.#keeper.imports.get(slot)?.peer !== peer;
    if (isPromiseRef(slot)) return this.#keeper.promises.get(slot)?.decider !== peer;
    return true; // one of our own objects
  }

  #endEmbargo(peer: VatId, token: number): void {
    const vref = this.#keeper.embargoes.get(token);
    if (vref === undefined)
      throw new ProtocolError('unknown-ref', `unknown echo token ${token} from ${peer}`);
    this.#keeper.embargoes.delete(token);
    const rec = this.#keeper.promiseForUpdate(vref)!;
    const held = rec.embargo?.held ?? [];
    rec.embargo = null;
    const resolution = rec.resolution!;
    // Held sends go first, to where the promise now points; then the vat learns the resolution.
    const to = resolution.data.slots[0]!;
    for (const s of held) this.#route({ ...sendItem(s), target: to }, FROM_VAT);
    this.#enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, resolution.rejected, resolution.data]] },
    });
  }

  // -------------------------------------------------------------------- routing

  /**
   * Send a message to `target` (a vref), from a peer, the vat (FROM_VAT) or the host
   * (FROM_HOST). `via`: the promise the sender named, when the kernel forwards the message
   * from there to where the promise settled.
   */
  #route(s: SendItem, from: VatId, via?: VRef): void {
    const { target } = s;
    if (isExportRef(target)) {
      this.#enqueue({ kind: 'vat', delivery: messageTo(target, s), from }, via);
      return;
    }
    if (isImportRef(target)) {
      const owner = this.#keeper.imports.get(target);
      if (!owner) throw new ProtocolError('unknown-ref', `unknown import ${target}`);
      this.#sendToPeer(owner.peer, s);
      return;
    }
    const rec = this.#promise(target);
    if (rec.embargo && from === FROM_VAT) {
      rec.embargo.held.push(s);
      return;
    }
    const res = rec.resolution;
    if (
      res &&
      (!rec.known || (rec.resolvedBy !== undefined && !res.rejected && isSingleRef(res.data)))
    ) {
      // Settled, and the kernel forwards it: the vat no longer maps the promise (or never
      // did), or a peer settled it to a reference: sends follow it there, in order behind the
      // embargo's held ones (the vat may not have heard of the resolution yet). While the vat
      // still maps a promise it settled, its messages go in and the vat forwards them, in order
      // behind those it received before it settled (until the kernel retires the promise).
      this.#forward(s, from, res);
      return;
    }
    if (rec.decider === null) {
      this.#enqueue({ kind: 'vat', delivery: messageTo(target, s), from }, via);
    } else if (rec.decider === from) {
      throw new ProtocolError('not-decider', `${from} sent a message to a promise it decides`);
    } else {
      rec.sent.set(rec.decider, (rec.sent.get(rec.decider) ?? 0) + 1);
      this.#sendToPeer(rec.decider, s);
    }
  }

  /** A message to a settled promise: on to what it resolved to, or its result rejected. */
  #forward(
    s: SendItem,
    from: VatId,
    res: NonNullable<PromiseRecord['resolution']>,
    via?: VRef,
  ): void {
    if (!res.rejected && isSingleRef(res.data)) {
      this.#route({ ...sendItem(s), target: res.data.slots[0]! }, from, via ?? s.target);
    } else if (s.result !== null) {
      const error = res.rejected
        ? res.data
        : encodeHost(
            new HostError(
              'TypeError',
              `cannot send ${String(s.method)} to data (a settled promise)`,
            ),
          );
      this.#decide(s.result, true, error, false);
    } else {
      // No result to reject: say so, never drop it in silence.
      this.#emit({
        type: 'message-undeliverable',
        target: s.target,
        method: s.method,
        reason: res.rejected
          ? 'sent (without a result) to a rejected promise'
          : 'sent (without a result) to a promise settled to data',
      });
    }
  }

  #sendToPeer(peer: VatId, s: SendItem): void {
    const target = this.#clists.exportTo(peer, s.target);
    const settled = new Map<VRef, VRef>();
    const args = this.#clists.capDataTo(peer, s.args, settled);
    let result: WireRef | null = null;
    if (s.result !== null) {
      result = this.#clists.exportTo(peer, s.result);
      this.#promise(s.result).decider = peer; // the receiver decides the result
    }
    this.#push(peer, { op: 'deliver', target, method: s.method, args, result });
    this.#resolveSettled(peer, settled);
  }

  #resolveToPeer(peer: VatId, vref: VRef, rec: PromiseRecord): void {
    const settled = new Map<VRef, VRef>();
    this.#pushResolution(peer, vref, rec, settled);
    this.#resolveSettled(peer, settled);
  }

  #pushResolution(peer: VatId, vref: VRef, rec: PromiseRecord, settled: Map<VRef, VRef>): void {
    const res = rec.resolution!;
    this.#push(peer, {
      op: 'resolve',
      resolutions: [
        {
          promise: this.#clists.exportTo(peer, vref),
          rejected: res.rejected,
          value: this.#clists.capDataTo(peer, res.data, settled),
          received: rec.received.get(peer) ?? 0,
        },
      ],
    });
  }

  /**
   * Settle the fresh promises a message just gave the peer in place of settled ones (after
   * it, so the peer knows them). Their settlements may name more settled promises: the map
   * grows while it is walked, each settled promise gets one fresh promise per message.
   */
  #resolveSettled(peer: VatId, settled: Map<VRef, VRef>): void {
    for (const fresh of settled.values()) {
      this.#pushResolution(peer, fresh, this.#keeper.promises.get(fresh)!, settled);
    }
  }

  #push(peer: VatId, msg: VatMessage): void {
    this.#keeper.pushOutbound(peer, msg);
    this.#wakeSet.add(peer);
  }

  // --------------------------------------------------------- c-list translation

  #clist(peer: VatId): KeptCList {
    return this.#keeper.clist(peer);
  }

  /** The record of `vref` (created if new), marked for the next commit: callers change it. */
  #promise(vref: VRef): PromiseRecord {
    let rec = this.#keeper.promiseForUpdate(vref);
    if (!rec) {
      rec = newPromise(null);
      this.#keeper.addPromise(vref, rec);
    }
    return rec;
  }

  // ---------------------------------------------------------------------- cranks

  /**
   * Queue an item for the vat. `via`: see #route. A send the vat made to a promise it has not
   * yet heard settled, which the kernel brings back into the vat, goes in before the vat hears
   * the settlement: once the vat knows, its sends to that object are local and immediate, and
   * would overtake this one (E-order). So it takes the place of the queued notify, which moves
   * to the back (#crankBatch never runs such a notify behind other cranks of its batch).
   */
  #enqueue(item: RunItem, via?: VRef): void {
    if (via === undefined || item.kind !== 'vat' || item.from !== FROM_VAT) {
      this.#keeper.enqueue(item);
    } else {
      const queue = this.#keeper.runQueue;
      let i = queue.length - 1;
      for (; i >= 0; i--) {
        const q = queue[i]!.item;
        if (q.kind === 'vat' && q.delivery.type === 'notify') {
          if (q.delivery.resolutions.some(([vref]) => vref === via)) break;
        }
      }
      if (i < 0) {
        this.#keeper.enqueue(item);
      } else {
        const notify = queue[i]!.item;
        this.#keeper.replaceQueued(i, item);
        this.#keeper.enqueue(notify);
      }
    }
    if (item.kind === 'vat') {
      this.#countQueued(item.delivery, 1);
      this.#notifySettled(item.delivery);
    }
    this.#startPump();
  }

  /** A queued entry left the queue for good (the keeper already deleted its row). */
  #dequeued(q: QueuedItem): void {
    if (q.item.kind === 'vat') this.#countQueued(q.item.delivery, -1);
  }

  /** Keep the records of the promises a queued delivery names (they must outlive it). */
  #countQueued(delivery: Delivery, delta: 1 | -1): void {
    for (const vref of promisesIn(delivery)) {
      const rec = this.#promise(vref);
      rec.queued = (rec.queued ?? 0) + delta;
      if (rec.queued <= 0) {
        delete rec.queued;
        this.#retirement.consider(vref);
      }
    }
  }

  /**
   * A delivery hands the vat settled promises (in its arguments, or in a resolution): the vat
   * may have retired them or never known them, so their settlements follow at once, in one
   * notify (collected transitively: a settlement may name further settled promises).
   */
  #notifySettled(delivery: Delivery): void {
    if (delivery.type !== 'message' && delivery.type !== 'notify') return;
    const named = new Set(
      delivery.type === 'notify' ? delivery.resolutions.map(([vref]) => vref) : [],
    );
    const todo = delivery.type === 'message' ? [...delivery.args.slots] : [];
    if (delivery.type === 'notify') for (const r of delivery.resolutions) todo.push(...r[2].slots);
    const resolutions: [VRef, boolean, CapData][] = [];
    for (let slot = todo.pop(); slot !== undefined; slot = todo.pop()) {
      if (!isPromiseRef(slot) || named.has(slot)) continue;
      named.add(slot);
      const rec = this.#keeper.promises.get(slot);
      if (!rec?.resolution || rec.embargo) continue;
      resolutions.push([slot, rec.resolution.rejected, rec.resolution.data]);
      todo.push(...rec.resolution.data.slots);
    }
    if (resolutions.length === 0) return;
    const notify: Delivery = { type: 'notify', resolutions };
    this.#keeper.enqueue({ kind: 'vat', delivery: notify });
    this.#countQueued(notify, 1);
  }

  #startPump(): void {
    if (!this.#pumping && !this.#stopping) {
      this.#pumping = true;
      queueMicrotask(() => void this.#pump());
    }
  }

  async #pump(): Promise<void> {
    const queue = this.#keeper.runQueue;
    try {
      while (queue.length > 0 && !this.#closed && !this.#broken && !this.#stopping) {
        const head = queue[0]!.item;
        if (head.kind === 'echo') {
          this.#keeper.removeQueued(0);
          this.#push(head.peer, { op: 'echoed', token: head.token });
        } else {
          await this.#crankBatch();
        }
        // One commit per worker batch (group commit); then its messages and results go out.
        this.#flush();
        this.#maybeCheckpoint();
      }
    } catch (e) {
      // The worker could not start (a contract that no longer loads) or the store failed.
      if (!this.#broken && !this.#closed) {
        this.#emit({ type: 'vat-start-failed', reason: (e as Error).message });
      }
    } finally {
      this.#pumping = false;
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Run the vat deliveries at the head of the run queue as consecutive cranks in one trip to
   * the worker. Each crank still commits (or fails) on its own, in order, exactly as if they
   * had been sent one by one; batching only saves the round trips (and, with a store, the
   * transactions: the batch commits as one).
   */
  async #crankBatch(): Promise<void> {
    // A notify that settles a promise to something of this vat runs first in its batch, so
    // that every send the vat made to the promise before it is queued ahead of it (#enqueue).
    const batch = this.#keeper.takeRunBatch(
      MAX_BATCH,
      (item) => item.kind === 'vat' && this.#settlesHome(item.delivery),
    );
    let done = 0;
    let failed = false;
    let worker: VatWorker | undefined;
    try {
      if (this.#refreshDue && this.#worker) {
        this.#refreshDue = false;
        // Still quiescent? (Work may have been queued since the scan.)
        if (this.#options.checkpoint?.refreshWorker === 'always' || this.#heapHeld() === null) {
          const old = this.#worker;
          this.#worker = null;
          await this.#startWorker(old);
        } else {
          this.#checkpointDue = false;
        }
      }
      worker = this.#worker ?? (await this.#startWorker());
      await worker.cranks(
        batch.map((b) => (b.item as Extract<RunItem, { kind: 'vat' }>).delivery),
        (i, outcome) => {
          // After close (the worker was killed under the crank) nothing more is applied.
          if (this.#closed || this.#broken) return;
          done = i + 1;
          failed = !outcome.ok;
          const q = batch[i]!;
          const item = q.item as Extract<RunItem, { kind: 'vat' }>;
          this.#keeper.completed(q);
          this.#dequeued(q);
          this.#commit(item.delivery, item.from, outcome);
        },
      );
    } finally {
      // The deliveries after a failed crank never ran: they go back to the head of the queue.
      this.#keeper.requeueFront(batch.slice(done));
    }
    if (failed) {
      // Nothing of the failed crank was applied. Replace the worker: its heap may hold half
      // a turn. The next crank starts a fresh one from the committed store.
      await worker.terminate();
      if (this.#worker === worker) this.#worker = null;
      this.stats.workerRestarts++;
    }
  }

  /** Does this delivery tell the vat that a promise settled to one of its own objects or promises? */
  #settlesHome(d: Delivery): boolean {
    if (d.type !== 'notify') return false;
    return d.resolutions.some(
      ([, rejected, data]) =>
        !rejected && isSingleRef(data) && this.#ownerOf(data.slots[0]!) === this.vatId,
    );
  }

  #commit(delivery: Delivery, from: VatId | undefined, outcome: CrankOutcome): void {
    this.stats.cranks++;
    this.stats.gasUsed += outcome.gas;
    if (delivery.type === 'message') this.stats.deliveries++;
    if (delivery.type === 'message' && isPeer(from) && isPromiseRef(delivery.target)) {
      // Count it before this crank's resolutions go out: a peer that sent it learns from the
      // count whether it was forwarded before the resolution (else it must embargo).
      const rec = this.#promise(delivery.target);
      rec.received.set(from, (rec.received.get(from) ?? 0) + 1);
    }
    this.#keeper.addEntry(this.transcript.append(delivery, outcome));
    if (outcome.ok) {
      if (delivery.type === 'retire') {
        for (const vref of delivery.vrefs) this.#vatRetired(vref);
      } else {
        for (const vref of promisesIn(delivery)) this.#vatKnows(vref);
      }
      this.#keeper.setVatStore(outcome.writes);
      for (const sc of outcome.syscalls) this.#syscall(sc);
      for (const reason of outcome.undeliverable ?? []) {
        const d = delivery.type === 'message' ? delivery : null;
        this.#emit({
          type: 'message-undeliverable',
          target: d?.target ?? '',
          method: d?.method ?? null,
          reason,
        });
      }
      return;
    }
    this.stats.failedCranks++;
    this.#emit({
      type: 'crank-aborted',
      delivery: delivery.type,
      reason: outcome.error,
      gas: outcome.gas,
    });
    if (delivery.type === 'message' && delivery.result !== null) {
      const error = encodeHost(new HostError('Error', `delivery aborted: ${outcome.error}`));
      this.#decide(delivery.result, true, error, true);
    }
  }

  #syscall(sc: Syscall): void {
    if (sc.type === 'send') {
      for (const vref of promisesIn({ ...sc, type: 'message' })) this.#vatKnows(vref);
      // The syscall's own fields stay behind: a held or queued send is a SendItem, nothing more.
      this.#route(sendItem(sc), FROM_VAT);
      return;
    }
    for (const [vref, , data] of sc.resolutions) {
      this.#vatKnows(vref);
      for (const slot of data.slots) if (isPromiseRef(slot)) this.#vatKnows(slot);
    }
    for (const [vref, rejected, data] of sc.resolutions) this.#decide(vref, rejected, data, true);
  }

  /** The vat's heap maps `vref` now (it was handed to the vat, or the vat named it). */
  #vatKnows(vref: VRef): void {
    const rec = this.#promise(vref);
    rec.known = true;
    if (rec.resolution === null) this.#heapPending.add(vref);
  }

  #vatRetired(vref: VRef): void {
    const rec = this.#keeper.promiseForUpdate(vref);
    if (!rec) return;
    delete rec.known;
    this.#heapPending.delete(vref);
    this.#retirement.consider(vref);
  }

  /**
   * Settle a promise this vat decides: by the vat (its resolve syscall) or by the kernel (a
   * message to a settled promise that cannot be delivered). Every peer that knows it, and the
   * host, learn the settlement; the vat too if it holds the promise and did not settle it.
   */
  #decide(vref: VRef, rejected: boolean, data: CapData, byVat: boolean): void {
    const rec = this.#promise(vref);
    // Not ours to decide, or settled already: ignore a confused vat.
    if (rec.decider !== null || rec.resolution !== null) return;
    this.#retirement.setResolution(vref, rec, { rejected, data });
    this.#settleHost(vref, rejected, data);
    for (const [peer, clist] of this.#keeper.clists) {
      if (clist.has(vref)) this.#resolveToPeer(peer, vref, rec);
    }
    if (!byVat && (rec.known || rec.queued)) {
      this.#enqueue({
        kind: 'vat',
        delivery: { type: 'notify', resolutions: [[vref, rejected, data]] },
      });
    }
  }

  /**
   * Start a worker from the committed vat store and run buildRootObject (it runs at every
   * start: it redefines the durable kinds and the root object). A fresh worker is where a
   * replay can start, so a due checkpoint is taken here, just before its startVat crank.
   */
  async #startWorker(reuse?: VatWorker): Promise<VatWorker> {
    this.#vatForgot();
    // Heap objects of older workers are gone: only this worker's can hold its heap.
    this.#heapObjectOut = null;
    this.#heapFloor = Number(this.#keeper.vatStore.get('ls.nextExport') ?? 1);
    this.#flushNow();
    const db = this.#db;
    if (db && (this.#checkpointDue || shouldCheckpoint(db.stats(), this.#options.checkpoint))) {
      try {
        db.checkpoint();
      } catch (e) {
        this.#storeFailed(e);
        throw this.#unavailable();
      }
      this.#checkpointDue = false;
      this.stats.checkpoints++;
    }
    const { vatName, contractSource, gasLimit } = this.#options;
    const limits = this.#options.limits ?? DEFAULT_LIMITS;
    // A planned refresh reuses the worker process: a second init discards the liveslots and the
    // contract's compartment (the whole vat heap) and loads the contract anew from the store,
    // without the cost of a process start. A failed crank always gets a new process.
    const worker = reuse && !reuse.dead ? reuse : VatWorker.spawn(limits);
    if (reuse && worker !== reuse) void reuse.terminate();
    await worker.init({ vatName, contractSource, gasLimit }, [...this.#keeper.vatStore]);
    const outcome = await worker.crank({ type: 'startVat' });
    if (!outcome.ok) {
      await worker.terminate();
      throw Error(`vat ${vatName} failed to start: ${outcome.error}`);
    }
    if (this.#closed || this.#broken) {
      await worker.terminate();
      throw this.#unavailable();
    }
    this.#worker = worker;
    this.#keeper.addEntry(this.transcript.append({ type: 'startVat' }, outcome));
    this.#keeper.setVatStore(outcome.writes);
    for (const sc of outcome.syscalls) this.#syscall(sc);
    return worker;
  }
}

/** Deliveries sent to the worker in one trip (each still its own crank). */
const MAX_BATCH = 64;
/** A checkpoint that waits this many times the policy's rows is reported (once). */
const CHECKPOINT_WAIT_REPORT = 10;

/** Pseudo-senders for routing: never valid VatIds (those are libp2p PeerIds). */
const FROM_VAT = '<vat>';
const FROM_HOST = '<host>';
const isPeer = (from: VatId | undefined): from is VatId =>
  from !== undefined && from !== FROM_VAT && from !== FROM_HOST;
