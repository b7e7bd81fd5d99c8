/** One peer's c-list, persisted through the kernel keeper (keeper.ts). */
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import { isPromiseRef, type WireRef } from '../protocol/refs.ts';
import type { KernelKeeper } from './keeper.ts';

const PAD = 16;
const _pad = (n: number) => String(n).padStart(PAD, '0');

/**
 * One peer's c-list, persisted through the keeper. Indices are never reused; promise entries
 * are deleted once both sides are done with the promise (retirement.ts).
 */
export class KeptCList {
  readonly peer: VatId;
  readonly #keeper: KernelKeeper;
  readonly #wireToVref = new Map<WireRef, VRef>();
  readonly #vrefToWire = new Map<VRef, WireRef>();

  constructor(keeper: KernelKeeper, peer: VatId) {
    this.#keeper = keeper;
    this.peer = peer;
  }

  vrefOf(wire: WireRef): VRef | undefined {
    return this.#wireToVref.get(wire);
  }

  wireOf(vref: VRef): WireRef | undefined {
    return this.#vrefToWire.get(vref);
  }

  has(vref: VRef): boolean {
    return this.#vrefToWire.has(vref);
  }

  /** The wire ref for a vref, allocating one of ours (`o+K`/`p+K`) the first time. */
  export(vref: VRef): WireRef {
    const known = this.#vrefToWire.get(vref);
    if (known !== undefined) return known;
    const state = this.#keeper.peerState(this.peer);
    const wire = isPromiseRef(vref) ? `p+${state.nextP++}` : `o+${state.nextO++}`;
    this.#keeper.touchPeer(this.peer);
    this.add(wire, vref);
    return wire;
  }

  add(wire: WireRef, vref: VRef): void {
    this.#set(wire, vref);
    this.#keeper.write(`clist.${this.peer}.${wire}`, vref);
  }

  /** Forget an entry (a retired promise). */
  delete(wire: WireRef): void {
    const vref = this.#wireToVref.get(wire);
    if (vref === undefined) return;
    this.#wireToVref.delete(wire);
    this.#vrefToWire.delete(vref);
    this.#keeper.write(`clist.${this.peer}.${wire}`, null);
  }

  /** Loading only: no write. */
  restore(wire: WireRef, vref: VRef): void {
    this.#set(wire, vref);
  }

  #set(wire: WireRef, vref: VRef): void {
    this.#wireToVref.set(wire, vref);
    this.#vrefToWire.set(vref, wire);
  }

  /** Every entry, wire ref → vref (a copy: the caller may delete while it walks). */
  entries(): [WireRef, VRef][] {
    return [...this.#wireToVref];
  }

  get size(): number {
    return this.#wireToVref.size;
  }
}
