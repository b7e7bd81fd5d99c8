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
 * Checkpoints: the worker's heap is never persisted, so a replay (verify, or a replica's
 * restart with restoreHeapByReplay: lifecycle.ts) can only start where a worker started from
 * the vat store. The kernel checkpoints (store/kernel-db.ts) when a
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
 * forwards messages to settled ones itself (lifecycle.ts forgetHeap). A replica's restart
 * (restoreHeapByReplay) forgets nothing: it rebuilds the heap by replay.
 *
 * This file is the facade (create, close, idle, wiring); the parts share one KernelContext
 * (context.ts): host.ts (host API), port.ts (transport side and commits), inbound.ts (a peer's
 * messages by op), handoffs.ts (takes and held messages), embargoes.ts (a peer's settlements,
 * embargoes; decisions in embargo.ts), routing.ts (routing and resolution), cranks.ts (run
 * queue, pump, syscalls), lifecycle.ts (worker start, refresh, quiescence, checkpoints).
 */
import { hash } from 'node:crypto';
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import type { WireRef } from '../protocol/refs.ts';
import { KernelDB, type StoreImage } from '../store/kernel-db.ts';
import type { KernelPort, Transport } from '../transport/types.ts';
import { KernelContext } from './context.ts';
import { Cranks } from './cranks.ts';
import { Departures } from './departures.ts';
import { Embargoes } from './embargoes.ts';
import { identityCerts } from './handoff.ts';
import { Handoffs } from './handoffs.ts';
import { HostApi } from './host.ts';
import { Inbound } from './inbound.ts';
import { DbBacking, KernelKeeper, MemoryBacking } from './keeper.ts';
import { WorkerLifecycle } from './lifecycle.ts';
import { type HostResult, type KernelOptions, KernelStopping } from './options.ts';
import { CommitPort } from './port.ts';
import { PromiseRetirement } from './retirement.ts';
import { Router } from './routing.ts';
import { Transcript } from './transcript.ts';
import { CListTranslator } from './translation.ts';
import { checkVatLimits, type VatWorkerHandle } from './vat-worker.ts';

export {
  HostRefused,
  type HostResult,
  type KernelOptions,
  KernelStopping,
  KernelUnavailable,
} from './options.ts';

export class Kernel implements KernelPort {
  readonly #ctx: KernelContext;

  private constructor(options: KernelOptions, transport: Transport, db: KernelDB | null) {
    const keeper = new KernelKeeper(db ? new DbBacking(db) : new MemoryBacking());
    const transcript = db
      ? new Transcript({ head: db.head, keepEntries: false })
      : new Transcript();
    const ctx = new KernelContext(options, transport, db, keeper, transcript);
    this.#ctx = ctx;
    ctx.port = new CommitPort(ctx);
    ctx.host = new HostApi(ctx);
    ctx.lifecycle = new WorkerLifecycle(ctx);
    ctx.inbound = new Inbound(ctx);
    ctx.handoffs = new Handoffs(ctx);
    ctx.embargoes = new Embargoes(ctx);
    ctx.router = new Router(ctx);
    ctx.cranks = new Cranks(ctx);
    ctx.departures = new Departures(ctx);
    ctx.port.noteCommitted();
    ctx.retirement = new PromiseRetirement(keeper, {
      push: (peer, msg) => ctx.port.push(peer, msg),
      retireInVat: (vrefs) =>
        ctx.cranks.enqueue({ kind: 'vat', delivery: { type: 'retire', vrefs } }),
      hostWaits: (vref) => ctx.host.hostWaiters.has(vref),
      settled: (vref) => ctx.heap.released(vref),
    });
    const certs =
      options.handoffCerts ??
      (options.identity === undefined ? undefined : identityCerts(options.identity));
    ctx.clists = new CListTranslator(keeper, options.vatId, certs, {
      handedOut: (vref) => ctx.lifecycle.handedOut(vref),
      setResolution: (vref, res) => ctx.retirement.setResolution(vref, res),
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
    let worker: VatWorkerHandle | null = null;
    try {
      k = new Kernel(options, transport, db);
      k.#checkMeta();
      // Rebuild the heap as it was (a replica), or start a fresh worker: a replay's starting
      // point, so the history before it is checkpointed.
      if (!options.restoreHeapByReplay || !(await k.#ctx.lifecycle.restoreWorker())) {
        k.#ctx.lifecycle.checkpointDue = db !== null && db.stats().transcriptRows > 0;
        await k.#ctx.lifecycle.startWorker();
      }
      worker = k.#ctx.lifecycle.worker;
      k.#ctx.port.commitNow();
    } catch (e) {
      await worker?.terminate();
      db?.close();
      throw e;
    }
    transport.attach(k);
    const keeper = k.#ctx.keeper;
    // Addresses learned before the restart (sturdyrefs, certificates): a quorum vat's are its
    // members', the only way to reach it before its configuration is learned again.
    for (const [peer, addrs] of keeper.addresses) transport.addHints?.(peer, addrs);
    // The transport cannot list peers: wake every peer owed a message or an ack.
    for (const [peer, state] of keeper.peers) {
      if ((keeper.outbox.get(peer)?.length ?? 0) > 0 || state.inSeq > 0) transport.wake(peer);
    }
    if (keeper.runQueue.length > 0) k.#ctx.cranks.startPump();
    k.#ctx.departures.resume();
    return k;
  }

  /** First start: record what the data directory holds; later: check it is the same vat. */
  #checkMeta(): void {
    const { options, keeper } = this.#ctx;
    const { vatId, vatName, contractSource, gasLimit } = options;
    const want: Record<string, string> = {
      vatId,
      vatName,
      contractHash: hash('sha256', contractSource, 'hex'),
      gasLimit: String(gasLimit),
    };
    const meta = keeper.meta;
    if (meta.size === 0) {
      for (const [k, v] of Object.entries(want)) keeper.setMeta(k, v);
      keeper.setMeta('contractSource', contractSource);
      for (const key of options.bootstrapKeys ?? []) keeper.setSturdyRef(key, 'o+0');
      return;
    }
    for (const [k, v] of Object.entries(want)) {
      if (meta.get(k) !== v) {
        throw Error(
          `${options.dataDir}: holds vat ${meta.get('vatName')} with another ${k === 'contractHash' ? 'contract' : k} (${k} ${meta.get(k)?.slice(0, 16)}, asked ${v.slice(0, 16)})`,
        );
      }
    }
  }

  get vatId(): VatId {
    return this.#ctx.vatId;
  }

  get transcript(): Transcript {
    return this.#ctx.transcript;
  }

  /** Counters for tests and metrics. */
  get stats(): KernelContext['stats'] {
    return this.#ctx.stats;
  }

  // ---------------------------------------------------------------- host API (host.ts)

  /** Let `peer` reach this vat's root object; returns the wire ref (as this vat writes it). */
  grantRoot(peer: VatId): WireRef {
    return this.#ctx.host.grantRoot(peer);
  }

  /** Put one of this vat's refs in `peer`'s c-list; returns the wire ref (as this vat writes it). */
  grant(peer: VatId, vref: VRef): WireRef {
    return this.#ctx.host.grant(peer, vref);
  }

  /** Import a ref that `peer` granted us (its wire ref, as `peer` wrote it); returns our vref. */
  importGranted(peer: VatId, wire: WireRef): VRef {
    return this.#ctx.host.importGranted(peer, wire);
  }

  /**
   * Send `method(...args)` to a vref of this vat (its root `o+0`, an import, a promise) as the
   * host, and wait for the result. Args may contain HostRefs. Used by the CLI and tests.
   */
  call(target: VRef, method: string, args: unknown[]): Promise<HostResult> {
    return this.#ctx.host.call(target, method, args);
  }

  /**
   * Mint a sturdyref for one of this vat's objects: anyone holding the URI can redeem it for a
   * live reference until it is revoked. `hints` are addresses where this vat listens.
   */
  mintSturdyRef(vref: VRef, hints: readonly string[] = []): string {
    return this.#ctx.host.mintSturdyRef(vref, hints);
  }

  /** Revoke a sturdyref: later redemptions fail (references already handed out stay live). */
  revokeSturdyRef(uri: string): boolean {
    return this.#ctx.host.revokeSturdyRef(uri);
  }

  /** Is this one of our sturdyrefs, not revoked? */
  honours(uri: string): boolean {
    return this.#ctx.host.honours(uri);
  }

  /** Redeem a sturdyref (of any vat) for a reference this vat holds; resolves to its vref. */
  redeem(uri: string): Promise<VRef> {
    return this.#ctx.host.redeem(uri);
  }

  // ------------------------------------------------------- KernelPort (port.ts)

  receive(peer: VatId, seq: number, msg: VatMessage): 'accepted' | 'duplicate' {
    return this.#ctx.port.receive(peer, seq, msg);
  }

  committedInbound(peer: VatId): number {
    return this.#ctx.port.committedInbound(peer);
  }

  acked(peer: VatId, seq: number): void {
    this.#ctx.port.acked(peer, seq);
  }

  unacked(peer: VatId, afterSeq: number): readonly Sequenced[] {
    return this.#ctx.port.unacked(peer, afterSeq);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    return this.#ctx.port.owed(peer, afterSeq);
  }

  departed(peer: VatId): void {
    this.#ctx.departures.departed(peer);
  }

  returned(peer: VatId): void {
    this.#ctx.departures.returned(peer);
  }

  /** Clients that left owed messages, and since when (ms since the epoch): tests and metrics. */
  departedPeers(): ReadonlyMap<VatId, number> {
    return this.#ctx.keeper.departures;
  }

  // ------------------------------------------------------------------- the vat

  /**
   * How big the kernel's tables are: they follow live state (what is reachable and what is
   * in flight), not history. For tests and metrics.
   */
  tableSizes(): { promises: number; clistEntries: number; runQueue: number } {
    let clistEntries = 0;
    for (const c of this.#ctx.keeper.clists.values()) clistEntries += c.size;
    const { promises, runQueue } = this.#ctx.keeper;
    return { promises: promises.size, clistEntries, runQueue: runQueue.length };
  }

  /** The highest committed inbound seq of every peer that sent us something. */
  committedInboundMarks(): Map<VatId, number> {
    const marks = new Map<VatId, number>();
    for (const [peer, seq] of this.#ctx.port.committedIn) if (seq > 0) marks.set(peer, seq);
    return marks;
  }

  /**
   * A row the host keeps in the vat's store (a quorum member's ordering position): written
   * with the kernel's next commit, atomically with the cranks and inbound marks before it.
   */
  setHostRecord(key: string, value: string): void {
    this.#ctx.port.usable();
    this.#ctx.keeper.setMeta(`host.${key}`, value);
    this.#ctx.port.scheduleCommit();
  }

  hostRecord(key: string): string | undefined {
    return this.#ctx.keeper.meta.get(`host.${key}`);
  }

  /**
   * What the store has committed, whole (store/image.ts): a quorum member's state at a
   * checkpoint height, read right after the batch that reached it. Undefined without a data
   * directory.
   */
  storeImage(): StoreImage | undefined {
    return this.#ctx.db?.image();
  }

  /**
   * Resolves once the vat has run everything queued and all of it is committed (a quorum
   * member runs one agreed batch after another this way). Rejects if the store failed.
   */
  async settle(): Promise<void> {
    const { cranks, keeper, port } = this.#ctx;
    for (;;) {
      await this.idle();
      port.usable();
      // Stopped with held work still queued: committing now would store half a batch as if
      // whole (a replica's batch is all or nothing). Nothing is committed; it runs again.
      if (cranks.stopping && this.#ctx.options.holdCommits && keeper.runQueue.length > 0) {
        throw new KernelStopping(
          'the vat node is stopping: this batch runs again at the next start',
        );
      }
      if (!port.commit()) throw port.unavailable();
      if (!cranks.pumping && (cranks.stopping || keeper.runQueue.length === 0)) return;
    }
  }

  /** Messages sent to each peer and not acknowledged yet (metrics). */
  unackedCounts(): Map<VatId, number> {
    const counts = new Map<VatId, number>();
    for (const [peer, box] of this.#ctx.keeper.outbox) {
      if (box.length > 0) counts.set(peer, box.length);
    }
    return counts;
  }

  /**
   * The kernel refuses new work until restarted: its store failed, or (haltOnBackstop) a
   * backstop stopped a crank. Why, else null.
   */
  get storeFailure(): string | null {
    return this.#ctx.broken?.message ?? null;
  }

  /**
   * Start no new crank (a graceful stop): resolves once the batch of cranks in progress, if
   * any, has finished and been committed. What is still queued stays queued, durably, and runs
   * at the next start.
   */
  stopWork(): Promise<void> {
    this.#ctx.cranks.stopping = true;
    return this.idle();
  }

  /** Resolves when the run queue is empty (or work is stopped) and no crank is running. */
  idle(): Promise<void> {
    const { cranks, keeper } = this.#ctx;
    if (!cranks.pumping && (cranks.stopping || keeper.runQueue.length === 0)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => cranks.idleWaiters.push(resolve));
  }

  /**
   * Stop the vat: commit what is done, stop the worker and the transport, close the store.
   * A crank still running is not committed (it runs again at the next start).
   */
  async close(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    // Held commits: what ran since the last settle() is dropped (it runs again at the restart).
    if (!ctx.broken && !ctx.options.holdCommits) ctx.port.commit();
    ctx.closed = true;
    ctx.departures.close();
    await Promise.all([ctx.lifecycle.worker?.terminate(), ctx.transport.close()]);
    try {
      ctx.db?.close();
    } catch {
      // A failed store may refuse even to close; what it committed is on disk.
    }
  }
}
