/**
 * The vat worker's lifecycle: start a worker from the committed vat store (at kernel start,
 * after a failed crank, for a checkpoint), forget what the old heap held (its pending promises
 * are rejected, messages to settled ones go where they settled), and replace a long-running
 * worker when a checkpoint is due and the vat is quiescent (heap.ts says what holds it).
 *
 * With `restoreHeapByReplay` (a quorum member: the other members' heaps did not restart), a
 * restart instead rebuilds the heap by replaying the transcript since the last checkpoint
 * (replay.ts rebuildHeap, every crank checked against its entry), and forgets nothing. Planned
 * refreshes are then decided where the outcome depends only on the vat's history: just before
 * a worker batch, from the committed store's stats and what holds the heap, which is itself
 * committed (`meta.heap`) or derived from committed tables. So a replica that restarted
 * refreshes at the same crank as one that did not.
 */
import type { Delivery, VRef } from '../liveslots/protocol.ts';
import { isExportRef } from '../protocol/refs.ts';
import { STORE_DEFAULTS } from '../store/defaults.ts';
import { shouldCheckpoint } from '../store/kernel-db.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import type { RunItem } from './keeper.ts';
import { CHECKPOINT_WAIT_REPORT, FROM_HOST, KernelUnavailable } from './options.ts';
import { isSingleRef } from './promises.ts';
import { ReplayInterrupted, rebuildHeap } from './replay.ts';
import {
  crankOne,
  DEFAULT_LIMITS,
  VatWorker,
  type VatWorkerHandle,
  type WorkerLimits,
} from './vat-worker.ts';

/** Attempts at rebuilding a heap when a backstop stops the replay (a busy machine). */
const REPLAY_ATTEMPTS = 3;

export class WorkerLifecycle {
  readonly #ctx: KernelContext;
  worker: VatWorkerHandle | null = null;
  /** A checkpoint is due and the worker's heap must be discarded (refreshWorker). */
  refreshDue = false;
  checkpointWaitReported = false;
  /** Checkpoint at the next worker start. */
  checkpointDue = false;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /**
   * A fresh worker maps no promise. Those the old one was to settle never will be: reject
   * them (the vat's heap, where their settlement was pending, is gone: see README, durable
   * state). Deliveries queued for promises that are settled go where the promise went, in
   * their place in the queue.
   */
  forgetHeap(): void {
    const results = new Set<VRef>();
    for (const { item } of this.#ctx.keeper.runQueue) {
      if (item.kind === 'vat' && item.delivery.type === 'message' && item.delivery.result) {
        results.add(item.delivery.result);
      }
    }
    const orphans: VRef[] = [];
    for (const [vref, rec] of this.#ctx.keeper.promises) {
      if (!rec.known) continue;
      this.#ctx.cranks.vatRetired(vref);
      if (rec.decider === null && rec.resolution === null && !results.has(vref)) orphans.push(vref);
    }
    const lost = encodeHost(
      new HostError(
        'Error',
        'vat restarted before settling this promise (heap state is not durable)',
      ),
    );
    for (const vref of orphans) this.#ctx.router.decide(vref, true, lost, false);
    const queue = this.#ctx.keeper.runQueue;
    for (let i = 0, hops = 0; i < queue.length; ) {
      const q = queue[i]!;
      const d = q.item.kind === 'vat' ? q.item.delivery : null;
      const res =
        d?.type === 'message' ? this.#ctx.keeper.promises.get(d.target)?.resolution : null;
      if (d?.type !== 'message' || !res) {
        i++;
        hops = 0;
        continue;
      }
      const from = (q.item as Extract<RunItem, { kind: 'vat' }>).from ?? FROM_HOST;
      const to = !res.rejected && isSingleRef(res.data) ? res.data.slots[0]! : null;
      if (
        to !== null &&
        hops++ < 100 &&
        (isExportRef(to) || this.#ctx.router.ownerOf(to) === this.#ctx.vatId)
      ) {
        // Still for this vat: the same place in the queue, the new target.
        this.#ctx.cranks.countQueued(d, -1);
        const moved: Delivery = { ...d, target: to };
        this.#ctx.keeper.replaceQueued(i, { kind: 'vat', delivery: moved, from });
        this.#ctx.cranks.countQueued(moved, 1);
        continue; // look again: the new target may be settled too
      }
      this.#ctx.cranks.dequeued(this.#ctx.keeper.removeQueued(i));
      this.#ctx.router.forward(d, from, res);
    }
  }

  /** A checkpoint is due: replace the worker when refreshWorker allows (see KernelOptions). */
  maybeCheckpoint(): void {
    const db = this.#ctx.db;
    const mode = this.#ctx.options.checkpoint?.refreshWorker ?? 'quiescent';
    if (this.#ctx.options.restoreHeapByReplay) return; // decided in refreshIfDue
    if (!db || mode === 'never' || this.#ctx.broken || this.refreshDue) return;
    if (!shouldCheckpoint(db.stats(), this.#ctx.options.checkpoint)) return;
    if (mode === 'quiescent') {
      const held = this.heapHeld();
      if (held !== null) {
        this.reportCheckpointWait(held);
        return;
      }
      this.checkpointWaitReported = false;
    }
    this.checkpointDue = true;
    this.refreshDue = true;
  }

  /** Before a worker batch: replace the worker now if a planned refresh is due. */
  async refreshIfDue(): Promise<void> {
    const old = this.worker;
    if (old === null) return;
    let due: boolean;
    if (this.#ctx.options.restoreHeapByReplay) {
      due = this.#refreshDueByHistory();
    } else {
      if (!this.refreshDue) return;
      this.refreshDue = false;
      // Still quiescent? (Work may have been queued since the scan.)
      due = this.#ctx.options.checkpoint?.refreshWorker === 'always' || this.heapHeld() === null;
      if (!due) this.checkpointDue = false;
    }
    if (!due) return;
    this.worker = null;
    await this.startWorker(old);
  }

  /**
   * The policy, asked only of what every replica of this vat has at the same crank: the
   * committed store's stats (committed at the same points: KernelOptions.holdCommits) and what
   * holds the heap.
   */
  #refreshDueByHistory(): boolean {
    const db = this.#ctx.db;
    const mode = this.#ctx.options.checkpoint?.refreshWorker ?? 'quiescent';
    if (!db || mode === 'never' || this.#ctx.broken) return false;
    if (!shouldCheckpoint(db.stats(), this.#ctx.options.checkpoint)) return false;
    if (mode === 'quiescent') {
      const held = this.heapHeld();
      if (held !== null) {
        this.reportCheckpointWait(held);
        return false;
      }
      this.checkpointWaitReported = false;
    }
    this.checkpointDue = true;
    return true;
  }

  /**
   * Kernel start with `restoreHeapByReplay`: rebuild the worker's heap from the checkpoint and
   * the transcript since (a backstop during the replay: try again). False when there is nothing
   * to replay (no crank since the checkpoint): the caller starts a fresh worker as usual.
   * Throws ReplayMismatch when the vat does not do again what it did (the store or the
   * vat is not what it was): the vat cannot go on as its replicas do.
   */
  async restoreWorker(): Promise<boolean> {
    const ctx = this.#ctx;
    const db = ctx.db;
    if (db === null) throw Error('restoreHeapByReplay needs a data directory');
    const rows = db.transcriptSince();
    if (rows.length === 0) return false;
    const cp = db.checkpointState();
    const start = {
      store: new Map(cp.entries.map(([k, v]) => [k.slice(cp.prefix.length), v] as const)),
      position: cp.position,
    };
    const { vatName, contractSource, gasLimit } = ctx.options;
    const limits: WorkerLimits = ctx.options.limits ?? DEFAULT_LIMITS;
    const spawn = () => (ctx.options.worker ?? VatWorker.spawn)(limits);
    const t0 = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const rebuilt = await rebuildHeap(
          spawn,
          { vatName, contractSource, gasLimit },
          start,
          rows.map((r) => r.entry),
        );
        const store = ctx.keeper.vatStore;
        const same =
          rebuilt.store.size === store.size &&
          [...store].every(([k, v]) => rebuilt.store.get(k) === v);
        if (!same) {
          await rebuilt.worker?.terminate();
          throw new KernelUnavailable(
            `vat ${ctx.vatId}: the replay since the checkpoint does not lead to the committed vat store`,
          );
        }
        this.worker = rebuilt.worker;
        break;
      } catch (e) {
        if (!(e instanceof ReplayInterrupted) || attempt >= REPLAY_ATTEMPTS) throw e;
      }
    }
    ctx.stats.replayedCranks += rows.length;
    ctx.stats.replayMs += performance.now() - t0;
    const saved = ctx.keeper.meta.get('heap');
    const pending: VRef[] = [];
    for (const [vref, rec] of ctx.keeper.promises) {
      if (rec.known && rec.resolution === null) pending.push(vref);
    }
    ctx.heap.restore(
      saved === undefined
        ? { floor: Number(start.store.get('ls.nextExport') ?? 1), out: null }
        : (JSON.parse(saved) as { floor: number; out: VRef | null }),
      pending,
    );
    return true;
  }

  /** Can the worker's heap go without losing anything? Null if so, else what holds it. */
  heapHeld(): string | null {
    return this.#ctx.heap.held(this.#ctx.keeper.embargoes.size);
  }

  /** An object of this worker's heap leaves the vat: the heap must stay while the worker runs. */
  handedOut(vref: VRef): void {
    if (this.#ctx.heap.handedOut(vref)) this.#saveHeap();
  }

  /** What holds the heap outlives the process when a restart rebuilds it (restoreWorker). */
  #saveHeap(): void {
    if (!this.#ctx.options.restoreHeapByReplay) return;
    this.#ctx.keeper.setMeta('heap', JSON.stringify(this.#ctx.heap.saved));
  }

  /** Once per wait, when it has gone on for long: say what keeps the vat from checkpointing. */
  reportCheckpointWait(held: string): void {
    const rows = this.#ctx.db!.stats().transcriptRows;
    const limit =
      (this.#ctx.options.checkpoint?.maxRows ?? STORE_DEFAULTS.checkpoint.maxRows) *
      CHECKPOINT_WAIT_REPORT;
    if (rows < limit || this.checkpointWaitReported) return;
    this.checkpointWaitReported = true;
    this.#ctx.port.emit({
      type: 'checkpoint-waiting',
      reason: `checkpoint waits for the vat to be quiescent (${rows} cranks since the last): ${held}; objects handed out must be durable (defineKind) for a running vat to checkpoint`,
      held,
    });
  }

  /**
   * Start a worker from the committed vat store and run buildRootObject (it runs at every
   * start: it redefines the durable kinds and the root object). A fresh worker is where a
   * replay can start, so a due checkpoint is taken here, just before its startVat crank.
   */
  async startWorker(reuse?: VatWorkerHandle): Promise<VatWorkerHandle> {
    this.forgetHeap();
    // Heap objects of older workers are gone: only this worker's can hold its heap.
    this.#ctx.heap.freshWorker(Number(this.#ctx.keeper.vatStore.get('ls.nextExport') ?? 1));
    this.#saveHeap();
    this.#ctx.port.commitNow();
    const db = this.#ctx.db;
    if (db && (this.checkpointDue || shouldCheckpoint(db.stats(), this.#ctx.options.checkpoint))) {
      try {
        db.checkpoint();
      } catch (e) {
        this.#ctx.port.storeFailed(e);
        throw this.#ctx.port.unavailable();
      }
      this.checkpointDue = false;
      this.#ctx.stats.checkpoints++;
    }
    const { vatName, contractSource, gasLimit } = this.#ctx.options;
    const limits = this.#ctx.options.limits ?? DEFAULT_LIMITS;
    // A planned refresh reuses the worker process: a second init discards the liveslots and the
    // contract's compartment (the whole vat heap) and loads the contract anew from the store,
    // without the cost of a process start. A failed crank always gets a new process.
    const spawn = this.#ctx.options.worker ?? VatWorker.spawn;
    const worker = reuse && !reuse.dead ? reuse : spawn(limits);
    if (reuse && worker !== reuse) void reuse.terminate();
    await worker.init({ vatName, contractSource, gasLimit }, [...this.#ctx.keeper.vatStore]);
    const outcome = await crankOne(worker, { type: 'startVat' });
    if (!outcome.ok) {
      await worker.terminate();
      throw Error(`vat ${vatName} failed to start: ${outcome.error}`);
    }
    if (this.#ctx.closed || this.#ctx.broken) {
      await worker.terminate();
      throw this.#ctx.port.unavailable();
    }
    this.worker = worker;
    this.#ctx.keeper.addEntry(this.#ctx.transcript.append({ type: 'startVat' }, outcome));
    this.#ctx.options.onCrank?.({ type: 'startVat' }, outcome);
    this.#ctx.keeper.setVatStore(outcome.writes);
    for (const sc of outcome.syscalls) this.#ctx.cranks.syscall(sc);
    return worker;
  }
}
