/**
 * Wire refs of the c-lists (the c-list itself, persisted, is KeptCList in keeper.ts): small
 * integers on the wire ↔ vrefs in the vat, stored from OUR point of view: `o+K`/`p+K` we
 * allocated, `o-K`/`p-K` the peer allocated. Indices are never reused. A peer can only name
 * what is in its c-list: an index it was never given is rejected, so knowing a number grants
 * nothing.
 */
import type { WireRef } from './messages.ts';

const WIRE_REF = /^[op][+-][1-9][0-9]{0,14}$/;

export function isWireRef(s: unknown): s is WireRef {
  return typeof s === 'string' && WIRE_REF.test(s);
}

/** A ref as the sender wrote it ↔ the same ref from the receiver's point of view. */
export function flip(ref: WireRef): WireRef {
  return ref[0] + (ref[1] === '+' ? '-' : '+') + ref.slice(2);
}
