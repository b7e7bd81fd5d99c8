/**
 * The vat worker's lifecycle: start a worker from the committed vat store (at kernel start,
 * after a failed crank, for a checkpoint), forget what the old heap held (its pending promises
 * are rejected, messages to settled ones go where they settled), and replace a long-running
 * worker when a checkpoint is due and the vat is quiescent (heap.ts says what holds it).
 */
import type { Delivery, VRef } from '../liveslots/protocol.ts';
import { isExportRef } from '../protocol/refs.ts';
import { STORE_DEFAULTS } from '../store/defaults.ts';
import { shouldCheckpoint } from '../store/kernel-db.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import type { RunItem } from './keeper.ts';
import { CHECKPOINT_WAIT_REPORT, FROM_HOST } from './options.ts';
import { isSingleRef } from './promises.ts';
import { crankOne, DEFAULT_LIMITS, VatWorker, type VatWorkerHandle } from './vat-worker.ts';

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

  /** Can the worker's heap go without losing anything? Null if so, else what holds it. */
  heapHeld(): string | null {
    return this.#ctx.heap.held(this.#ctx.keeper.embargoes.size);
  }

  /** An object of this worker's heap leaves the vat: the heap must stay while the worker runs. */
  handedOut(vref: VRef): void {
    this.#ctx.heap.handedOut(vref);
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
