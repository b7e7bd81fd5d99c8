/** Small pure helpers over promise records and deliveries (kernel.ts and its parts). */
import type { Delivery, VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../transport/types.ts';
import type { PromiseRecord } from './keeper.ts';
import type { CapData } from './messages.ts';

export function newPromise(decider: VatId | null): PromiseRecord {
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
    for (const s of slots) if (s[0] === 'p') out.add(s);
  };
  switch (d.type) {
    case 'message':
      if (d.target[0] === 'p') out.add(d.target);
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
  vref[0] === 'o' && vref[1] === '+' && vref[2] !== 'd' && vref !== 'o+0';

/**
 * Can the worker's heap go without losing anything (kernel.ts, checkpoints)? Not while the
 * vat holds a pending promise (it decides it, or awaits it), while an object of its heap (an
 * exported `o+N` other than the root, which buildRootObject makes anew) is reachable from
 * outside (a peer, a sturdyref, the host, a settlement) or named by queued work, or while an
 * embargo holds sends. Returns null when it can, else what holds the heap. Costs O(live state).
 */
export function heapHeldBy(
  k: import('./keeper.ts').KernelKeeper,
  hostHeld: ReadonlySet<VRef>,
): string | null {
  if (k.embargoes.size > 0) return 'an embargo holds sends';
  for (const vref of hostHeld) return `the host holds heap object ${vref}`;
  for (const [vref, rec] of k.promises) {
    if (rec.known && rec.resolution === null) return `promise ${vref} is pending in the heap`;
    const obj = rec.resolution?.data.slots.find(isHeapObject);
    if (obj) return `settlement of ${vref} names heap object ${obj}`;
  }
  for (const clist of k.clists.values()) {
    const obj = clist.findVref(isHeapObject);
    if (obj) return `vat ${clist.peer} holds heap object ${obj}`;
  }
  for (const vref of k.sturdyRefs.values()) {
    if (isHeapObject(vref)) return `a sturdyref names heap object ${vref}`;
  }
  for (const { item } of k.runQueue) {
    if (item.kind !== 'vat' || item.delivery.type !== 'message') continue;
    const { target, args } = item.delivery;
    const obj = isHeapObject(target) ? target : args.slots.find(isHeapObject);
    if (obj) return `queued work names heap object ${obj}`;
  }
  return null;
}
