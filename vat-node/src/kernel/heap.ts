/**
 * What keeps a vat worker's heap from being discarded (a checkpoint needs a fresh worker,
 * kernel.ts): promises the heap holds unsettled, and objects of this worker's heap that left
 * the vat. Kept up to date as things happen, so the question is O(1) after every batch.
 */
import type { VRef } from '../liveslots/protocol.ts';
import { isHeapObject } from './promises.ts';

export class HeapTracker {
  /** Promises the worker's heap holds unsettled (it decides them, or awaits them). */
  readonly #pending = new Set<VRef>();
  /** The first object of this worker's heap that left the vat (to a peer, the host, a sturdyref). */
  #objectOut: VRef | null = null;
  /** This worker's heap objects are `o+N` with N >= this (older ones died with their worker). */
  #floor = 1;

  /** A fresh worker starts: objects below `floor` (`ls.nextExport`) belong to dead heaps. */
  freshWorker(floor: number): void {
    this.#objectOut = null;
    this.#floor = floor;
  }

  /** The vat's heap maps `vref`, a promise; `settled` says whether it is settled already. */
  knows(vref: VRef, settled: boolean): void {
    if (!settled) this.#pending.add(vref);
  }

  /** A promise got its settlement, or the vat no longer maps it: it holds nothing. */
  released(vref: VRef): void {
    this.#pending.delete(vref);
  }

  /**
   * One of our objects leaves the vat: if it lives in this worker's heap, the heap must stay.
   * True when that is new (the first such object of this worker).
   */
  handedOut(vref: VRef): boolean {
    if (this.#objectOut !== null || !isHeapObject(vref)) return false;
    if (Number(vref.slice(2)) < this.#floor) return false;
    this.#objectOut = vref;
    return true;
  }

  /** What outlives the process when the heap is rebuilt by replay (the kernel stores it). */
  get saved(): { readonly floor: number; readonly out: VRef | null } {
    return { floor: this.#floor, out: this.#objectOut };
  }

  /**
   * The heap was rebuilt by replay (a restart): it stands where it stood, `saved` as stored and
   * the promises it holds pending (those the vat knows, unsettled: what `knows` and `released`
   * leave in the set).
   */
  restore(
    saved: { readonly floor: number; readonly out: VRef | null },
    pending: Iterable<VRef>,
  ): void {
    this.#floor = saved.floor;
    this.#objectOut = saved.out;
    this.#pending.clear();
    for (const vref of pending) this.#pending.add(vref);
  }

  /**
   * Can the heap go without losing anything? Null if so, else what holds it: an object handed
   * out (the lasting reason, reported first), a pending promise, or an embargo holding sends.
   */
  held(embargoes: number): string | null {
    if (this.#objectOut !== null) {
      return `heap object ${this.#objectOut} was handed out (to a vat, the host or a sturdyref)`;
    }
    for (const vref of this.#pending) return `promise ${vref} is pending in the heap`;
    if (embargoes > 0) return 'an embargo holds sends';
    return null;
  }
}
