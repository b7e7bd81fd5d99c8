/** Small pure helpers over promise records and deliveries (the kernel's parts). */
import type { Delivery, VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData } from '../protocol/messages.ts';
import { isDurableRef, isExportRef, isPromiseRef, ROOT_VREF } from '../protocol/refs.ts';
import type { PromiseDraft, SendItem } from './keeper.ts';

export function newPromise(decider: VatId | null): PromiseDraft {
  return { decider, resolution: null, sent: new Map(), received: new Map(), embargo: null };
}

/** A resolution that is exactly one reference (an object or a promise), not data around it. */
export function isSingleRef(data: CapData): boolean {
  return data.slots.length === 1 && /^#"[$&]0[."]/.test(data.body);
}

/** The promises a delivery names (target, result, arguments, settlements). */
export function promisesIn(d: Delivery): Set<VRef> {
  const out = new Set<VRef>();
  const add = (slots: readonly string[]) => {
    for (const s of slots) if (isPromiseRef(s)) out.add(s);
  };
  switch (d.type) {
    case 'message':
      if (isPromiseRef(d.target)) out.add(d.target);
      if (d.result !== null) out.add(d.result);
      add(d.args.slots);
      break;
    case 'notify':
      for (const [vref, , data] of d.resolutions) {
        out.add(vref);
        add(data.slots);
      }
      break;
    case 'retire':
      add(d.vrefs);
      break;
    case 'startVat':
      break;
  }
  return out;
}

/** An object that lives only in the worker's heap (not the root, not durable, not imported). */
export const isHeapObject = (vref: VRef) =>
  isExportRef(vref) && !isDurableRef(vref) && vref !== ROOT_VREF;

/**
 * The four fields of a send, and nothing else: a syscall or a held send carries other fields
 * (a syscall's `type: 'send'`), which must never leak into a delivery or a stored record.
 */
export function sendItem(s: SendItem): SendItem {
  return { target: s.target, method: s.method, args: s.args, result: s.result };
}

/** The delivery of a send to this vat, built field by field (never by spreading a send). */
export function messageTo(target: VRef, s: SendItem): Delivery {
  return { type: 'message', target, method: s.method, args: s.args, result: s.result };
}
