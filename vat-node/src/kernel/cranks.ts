/**
 * Cranks: the run queue and the pump that runs it, one worker batch at a time (each delivery
 * still its own crank, committed or failed on its own), and what a crank's syscalls do.
 */
import type { CrankOutcome, Delivery, Syscall, VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData } from '../protocol/messages.ts';
import { isPromiseRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import type { QueuedItem, RunItem } from './keeper.ts';
import { FROM_VAT, isPeer, KernelUnavailable, MAX_BATCH } from './options.ts';
import { isSingleRef, promisesIn, sendItem } from './promises.ts';
import { isBackstopAbort, type VatWorkerHandle } from './vat-worker.ts';

export class Cranks {
  readonly #ctx: KernelContext;
  pumping = false;
  /** stopWork() was called: no crank starts any more. */
  stopping = false;
  idleWaiters: (() => void)[] = [];

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /**
   * Queue an item for the vat. `via`: see routing.ts route. A send the vat made to a promise it has not
   * yet heard settled, which the kernel brings back into the vat, goes in before the vat hears
   * the settlement: once the vat knows, its sends to that object are local and immediate, and
   * would overtake this one (E-order). So it takes the place of the queued notify, which moves
   * to the back (crankBatch never runs such a notify behind other cranks of its batch).
   */
  enqueue(item: RunItem, via?: VRef): void {
    if (via === undefined || item.kind !== 'vat' || item.from !== FROM_VAT) {
      this.#ctx.keeper.enqueue(item);
    } else {
      const queue = this.#ctx.keeper.runQueue;
      let i = queue.length - 1;
      for (; i >= 0; i--) {
        const q = queue[i]!.item;
        if (q.kind === 'vat' && q.delivery.type === 'notify') {
          if (q.delivery.resolutions.some(([vref]) => vref === via)) break;
        }
      }
      if (i < 0) {
        this.#ctx.keeper.enqueue(item);
      } else {
        const notify = queue[i]!.item;
        this.#ctx.keeper.replaceQueued(i, item);
        this.#ctx.keeper.enqueue(notify);
      }
    }
    if (item.kind === 'vat') {
      this.countQueued(item.delivery, 1);
      this.notifySettled(item.delivery);
    }
    this.startPump();
  }

  /** A queued entry left the queue for good (the keeper already deleted its row). */
  dequeued(q: QueuedItem): void {
    if (q.item.kind === 'vat') this.countQueued(q.item.delivery, -1);
  }

  /** Keep the records of the promises a queued delivery names (they must outlive it). */
  countQueued(delivery: Delivery, delta: 1 | -1): void {
    for (const vref of promisesIn(delivery)) {
      const rec = this.#ctx.router.updatePromise(vref, (p) => {
        p.queued = (p.queued ?? 0) + delta;
        if (p.queued <= 0) delete p.queued;
      });
      if (rec.queued === undefined) this.#ctx.retirement.consider(vref);
    }
  }

  /**
   * A delivery hands the vat settled promises (in its arguments, or in a resolution): the vat
   * may have retired them or never known them, so their settlements follow at once, in one
   * notify (collected transitively: a settlement may name further settled promises).
   */
  notifySettled(delivery: Delivery): void {
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
      const rec = this.#ctx.keeper.promises.get(slot);
      if (!rec?.resolution || rec.embargo) continue;
      resolutions.push([slot, rec.resolution.rejected, rec.resolution.data]);
      todo.push(...rec.resolution.data.slots);
    }
    if (resolutions.length === 0) return;
    const notify: Delivery = { type: 'notify', resolutions };
    this.#ctx.keeper.enqueue({ kind: 'vat', delivery: notify });
    this.countQueued(notify, 1);
  }

  startPump(): void {
    if (!this.pumping && !this.stopping) {
      this.pumping = true;
      queueMicrotask(() => void this.pump());
    }
  }

  async pump(): Promise<void> {
    const queue = this.#ctx.keeper.runQueue;
    try {
      while (queue.length > 0 && !this.#ctx.closed && !this.#ctx.broken && !this.stopping) {
        const head = queue[0]!.item;
        if (head.kind === 'echo') {
          this.#ctx.keeper.removeQueued(0);
          this.#ctx.port.push(head.peer, { op: 'echoed', token: head.token });
        } else {
          await this.crankBatch();
        }
        // One commit per worker batch (group commit); then its messages and results go out.
        if (!this.#ctx.options.holdCommits) this.#ctx.port.commit();
        this.#ctx.lifecycle.maybeCheckpoint();
      }
    } catch (e) {
      // The worker could not start (a contract that no longer loads) or the store failed.
      if (this.#ctx.broken || this.#ctx.closed) {
        // said already
      } else if (this.#ctx.options.haltOnBackstop) {
        // A replica stops rather than wait: settle() rejects with the reason (the host says it).
        this.#ctx.port.halt(
          new KernelUnavailable(
            `vat ${this.#ctx.vatId}: ${(e as Error).message}; it runs nothing more until it restarts`,
          ),
        );
      } else {
        this.#ctx.port.emit({ type: 'vat-start-failed', reason: (e as Error).message });
      }
    } finally {
      this.pumping = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Run the vat deliveries at the head of the run queue as consecutive cranks in one trip to
   * the worker. Each crank still commits (or fails) on its own, in order, exactly as if they
   * had been sent one by one; batching only saves the round trips (and, with a store, the
   * transactions: the batch commits as one).
   */
  async crankBatch(): Promise<void> {
    // A notify that settles a promise to something of this vat runs first in its batch, so
    // that every send the vat made to the promise before it is queued ahead of it (enqueue).
    const batch = this.#ctx.keeper.takeRunBatch(
      MAX_BATCH,
      (item) => item.kind === 'vat' && this.settlesHome(item.delivery),
    );
    let done = 0;
    let failed = false;
    let worker: VatWorkerHandle | undefined;
    try {
      await this.#ctx.lifecycle.refreshIfDue();
      worker = this.#ctx.lifecycle.worker ?? (await this.#ctx.lifecycle.startWorker());
      await worker.cranks(
        batch.map((b) => (b.item as Extract<RunItem, { kind: 'vat' }>).delivery),
        (i, outcome) => {
          // After close (the worker was killed under the crank) nothing more is applied.
          if (this.#ctx.closed || this.#ctx.broken) return;
          if (!outcome.ok && this.#ctx.options.haltOnBackstop && isBackstopAbort(outcome.error)) {
            failed = true;
            this.haltOnBackstop(batch[i]!.item, outcome.error);
            return;
          }
          done = i + 1;
          failed = !outcome.ok;
          const q = batch[i]!;
          const item = q.item as Extract<RunItem, { kind: 'vat' }>;
          this.#ctx.keeper.completed(q);
          this.dequeued(q);
          this.applyCrank(item.delivery, item.from, outcome);
        },
      );
    } finally {
      // The deliveries after a failed crank never ran: they go back to the head of the queue.
      this.#ctx.keeper.requeueFront(batch.slice(done));
    }
    if (failed) {
      // Nothing of the failed crank was applied. Replace the worker: its heap may hold half
      // a turn. The next crank starts a fresh one from the committed store.
      await worker.terminate();
      if (this.#ctx.lifecycle.worker === worker) this.#ctx.lifecycle.worker = null;
      this.#ctx.stats.workerRestarts++;
    }
  }

  /**
   * KernelOptions.haltOnBackstop: a backstop stopped this crank, which another run (a replica)
   * may finish. Nothing of it is applied and nothing since the last commit will be: the kernel
   * refuses work from now on, with the reason, and a restart resumes from the last commit.
   */
  haltOnBackstop(item: RunItem, error: string): void {
    const d = item.kind === 'vat' ? item.delivery : null;
    const what = d?.type === 'message' ? `message ${d.method ?? '(call)'}` : (d?.type ?? item.kind);
    this.#ctx.port.halt(
      new KernelUnavailable(
        `vat ${this.#ctx.vatId}: a backstop stopped a delivery (${what}) that is not stopped by the vat's deterministic limits (${error}): another run may finish it, so nothing of it is applied and this vat runs nothing more until it restarts (from its last commit)`,
      ),
    );
  }

  /** Does this delivery tell the vat that a promise settled to one of its own objects or promises? */
  settlesHome(d: Delivery): boolean {
    if (d.type !== 'notify') return false;
    return d.resolutions.some(
      ([, rejected, data]) =>
        !rejected &&
        isSingleRef(data) &&
        this.#ctx.router.ownerOf(data.slots[0]!) === this.#ctx.vatId,
    );
  }

  applyCrank(delivery: Delivery, from: VatId | undefined, outcome: CrankOutcome): void {
    this.#ctx.stats.cranks++;
    this.#ctx.stats.gasUsed += outcome.gas;
    if (delivery.type === 'message') this.#ctx.stats.deliveries++;
    if (delivery.type === 'message' && isPeer(from) && isPromiseRef(delivery.target)) {
      // Count it before this crank's resolutions go out: a peer that sent it learns from the
      // count whether it was forwarded before the resolution (else it must embargo).
      this.#ctx.router.updatePromise(delivery.target, (p) =>
        p.received.set(from, (p.received.get(from) ?? 0) + 1),
      );
    }
    const appended = this.#ctx.transcript.append(delivery, outcome);
    this.#ctx.keeper.addEntry(appended);
    this.#ctx.options.onCrank?.(delivery, outcome, appended.entry);
    if (outcome.ok) {
      if (delivery.type === 'retire') {
        for (const vref of delivery.vrefs) this.vatRetired(vref);
      } else {
        for (const vref of promisesIn(delivery)) this.vatKnows(vref);
      }
      this.#ctx.keeper.setVatStore(outcome.writes);
      for (const sc of outcome.syscalls) this.syscall(sc);
      for (const reason of outcome.undeliverable ?? []) {
        const d = delivery.type === 'message' ? delivery : null;
        this.#ctx.port.emit({
          type: 'message-undeliverable',
          target: d?.target ?? '',
          method: d?.method ?? null,
          reason,
        });
      }
      return;
    }
    this.#ctx.stats.failedCranks++;
    this.#ctx.port.emit({
      type: 'crank-aborted',
      delivery: delivery.type,
      reason: outcome.error,
      gas: outcome.gas,
    });
    if (delivery.type === 'message' && delivery.result !== null) {
      const error = encodeHost(new HostError('Error', `delivery aborted: ${outcome.error}`));
      this.#ctx.router.decide(delivery.result, true, error, true);
    }
  }

  syscall(sc: Syscall): void {
    if (sc.type === 'send') {
      for (const vref of promisesIn({ ...sc, type: 'message' })) this.vatKnows(vref);
      // The syscall's own fields stay behind: a held or queued send is a SendItem, nothing more.
      this.#ctx.router.route(sendItem(sc), FROM_VAT);
      return;
    }
    for (const [vref, , data] of sc.resolutions) {
      this.vatKnows(vref);
      for (const slot of data.slots) if (isPromiseRef(slot)) this.vatKnows(slot);
    }
    for (const [vref, rejected, data] of sc.resolutions)
      this.#ctx.router.decide(vref, rejected, data, true);
  }

  /** The vat's heap maps `vref` now (it was handed to the vat, or the vat named it). */
  vatKnows(vref: VRef): void {
    const rec = this.#ctx.router.updatePromise(vref, (p) => {
      p.known = true;
    });
    this.#ctx.heap.knows(vref, rec.resolution !== null);
  }

  vatRetired(vref: VRef): void {
    const rec = this.#ctx.keeper.updatePromise(vref, (p) => {
      delete p.known;
    });
    if (!rec) return;
    this.#ctx.heap.released(vref);
    this.#ctx.retirement.consider(vref);
  }
}
