/**
 * The ref grammar: the one place that knows how references are written (in the spirit of
 * swingset-liveslots' parseVatSlots.js). Two spellings share it:
 *
 * Wire refs (WireRef): c-list indices, on the wire and in the kernel's c-lists.
 *   o+N / p+N   an object / promise allocated by whoever writes the ref (N >= 1)
 *   o-N / p-N   allocated by the other side
 * A message is written from its sender's point of view; the receiver flips the sign when it
 * reads it (`flip`), and stores c-list entries from its own point of view.
 *
 * Vat refs (VRef): a vat's own names, between the kernel and its worker (liveslots).
 *   o+N         an object the vat exports (o+0 is its root)
 *   o+dK/N      instance N of the vat's durable kind K (survives a restart)
 *   o-N         an object the vat imports (allocated by the kernel)
 *   p+N / p-N   promises allocated by the vat / by the kernel
 *
 * Handoff slots (`h:` + base64url) stand in a message's slots for a three-party handoff
 * certificate (kernel/handoff.ts); they are not refs.
 *
 * Indices are decimal without leading zeros, at most 15 digits (always a safe integer).
 * The predicates below (isPromiseRef, isImportRef, ...) look only at the prefix: use them on
 * refs that were parsed or validated already; validate untrusted input with isWireRef/parseRef.
 */
import { ProtocolError } from './errors.ts';

/** A c-list index as written on the wire or stored in a c-list: `o+3`, `p-7`. */
export type WireRef = string;
/** A vat's own name for a reference: `o+0`, `o+d2/5`, `o-4`, `p+9`. */
export type VRef = string;

export type RefKind = 'object' | 'promise';
/** `self`: allocated by whoever the ref is written for (the sender, the vat, this c-list's owner). */
export type RefAllocator = 'self' | 'other';

export interface ParsedRef {
  readonly kind: RefKind;
  readonly allocatedBy: RefAllocator;
  /** The index; for a durable object, the instance number within its kind. */
  readonly id: number;
  /** Durable objects only (vrefs `o+dK/N`): the kind K. */
  readonly durableKind?: number;
}

const WIRE_REF = /^[op][+-][1-9][0-9]{0,14}$/;
const INDEX = '(0|[1-9][0-9]{0,14})';
const VREF = new RegExp(`^([op])([+-])(?:${INDEX}|d${INDEX}/${INDEX})$`);
const HANDOFF_SLOT = /^h:[A-Za-z0-9_-]{1,2048}$/;

export const HANDOFF_PREFIX = 'h:';
/** A vat's root object, the one buildRootObject returns. */
export const ROOT_VREF: VRef = 'o+0';

/** A well-formed wire ref (any kind): `o±N` or `p±N`, N >= 1. */
export function isWireRef(s: unknown): s is WireRef {
  return typeof s === 'string' && WIRE_REF.test(s);
}

/** A well-formed wire ref of a promise: `p±N`. */
export function isPromiseWireRef(s: unknown): s is WireRef {
  return isWireRef(s) && s[0] === 'p';
}

/** Parses a wire ref; ProtocolError('malformed') for anything else. */
export function parseWireRef(s: unknown): ParsedRef {
  if (!isWireRef(s)) throw new ProtocolError('malformed', `malformed ref ${describe(s)}`);
  return {
    kind: s[0] === 'p' ? 'promise' : 'object',
    allocatedBy: s[1] === '+' ? 'self' : 'other',
    id: Number(s.slice(2)),
  };
}

/** Parses a vref (any form above); ProtocolError('malformed') for anything else. */
export function parseVRef(s: unknown): ParsedRef {
  const m = typeof s === 'string' ? VREF.exec(s) : null;
  const durable = m?.[4] !== undefined;
  if (m === null || (durable && (m[1] !== 'o' || m[2] !== '+'))) {
    throw new ProtocolError('malformed', `malformed vref ${describe(s)}`);
  }
  const ref: ParsedRef = {
    kind: m[1] === 'p' ? 'promise' : 'object',
    allocatedBy: m[2] === '+' ? 'self' : 'other',
    id: Number(durable ? m[5] : m[3]),
  };
  return durable ? { ...ref, durableKind: Number(m[4]) } : ref;
}

/** A well-formed vref. */
export function isVRef(s: unknown): s is VRef {
  try {
    parseVRef(s);
    return true;
  } catch {
    return false;
  }
}

/** Writes a ref: makeRef('promise', 'other', 7) is `p-7`. */
export function makeRef(kind: RefKind, allocatedBy: RefAllocator, id: number): string {
  return `${kind === 'promise' ? 'p' : 'o'}${allocatedBy === 'self' ? '+' : '-'}${id}`;
}

/** The same ref from the other side's point of view: `o+3` ↔ `o-3`. */
export function flip(ref: WireRef): WireRef {
  return ref[0] + (ref[1] === '+' ? '-' : '+') + ref.slice(2);
}

/** `p±N`. */
export function isPromiseRef(ref: string): boolean {
  return ref[0] === 'p';
}

/** `o±N` (and durable `o+dK/N`). */
export function isObjectRef(ref: string): boolean {
  return ref[0] === 'o';
}

/** An object allocated by whoever the ref is written for: `o+N`, `o+dK/N` (an export). */
export function isExportRef(ref: string): boolean {
  return ref[0] === 'o' && ref[1] === '+';
}

/** An object allocated by the other side: `o-N` (an import). */
export function isImportRef(ref: string): boolean {
  return ref[0] === 'o' && ref[1] === '-';
}

/** A durable object's vref: `o+dK/N`. */
export function isDurableRef(ref: string): boolean {
  return ref.startsWith('o+d');
}

/** Allocated by whoever the ref is written for (`+`), of either kind. */
export function isAllocatedBySelf(ref: string): boolean {
  return ref[1] === '+';
}

/** A slot that carries a handoff certificate rather than a ref (not yet checked). */
export function isHandoffSlot(slot: string): boolean {
  return slot.startsWith(HANDOFF_PREFIX);
}

/** A handoff slot of the form the wire allows (its certificate is checked by the kernel). */
export function isWellFormedHandoffSlot(s: unknown): s is string {
  return typeof s === 'string' && HANDOFF_SLOT.test(s);
}

function describe(s: unknown): string {
  return typeof s === 'string' ? JSON.stringify(s.slice(0, 40)) : typeof s;
}
