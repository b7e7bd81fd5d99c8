/**
 * The c-list between this vat and one peer vat: small integers on the wire ↔ vrefs in the vat.
 * Wire refs are stored from OUR point of view: `o+K`/`p+K` we allocated, `o-K`/`p-K` the peer
 * allocated. Indices are never reused. A peer can only name what is in its c-list: an index it
 * was never given is rejected, so knowing a number grants nothing.
 */
import type { VRef } from '../liveslots/protocol.ts';
import type { WireRef } from './messages.ts';

const WIRE_REF = /^[op][+-][1-9][0-9]{0,14}$/;

export function isWireRef(s: unknown): s is WireRef {
  return typeof s === 'string' && WIRE_REF.test(s);
}

/** A ref as the sender wrote it ↔ the same ref from the receiver's point of view. */
export function flip(ref: WireRef): WireRef {
  return ref[0] + (ref[1] === '+' ? '-' : '+') + ref.slice(2);
}

export class CList {
  readonly #wireToVref = new Map<WireRef, VRef>();
  readonly #vrefToWire = new Map<VRef, WireRef>();
  #nextObject = 1;
  #nextPromise = 1;

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
    const wire = vref.startsWith('p') ? `p+${this.#nextPromise++}` : `o+${this.#nextObject++}`;
    this.add(wire, vref);
    return wire;
  }

  add(wire: WireRef, vref: VRef): void {
    this.#wireToVref.set(wire, vref);
    this.#vrefToWire.set(vref, wire);
  }

  get size(): number {
    return this.#wireToVref.size;
  }
}
