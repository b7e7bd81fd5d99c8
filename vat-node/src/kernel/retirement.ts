/**
 * Promise retirement: settled promises leave the kernel's tables, or a vat answering calls
 * would grow with its history (every call with a result makes a promise on both sides).
 *
 * A vat that learns a settlement from the promise's decider forgets the promise's c-list entry
 * and tells the decider (op drop), which forgets its own: neither names that index again (a
 * settled promise passed on later travels as a fresh, settled one: translation.ts capDataTo).
 * When nothing names a settled promise any more (no c-list entry, queued delivery, other
 * settlement, embargo or host waiter), the kernel retires it in the vat (a retire delivery,
 * queued behind every delivery that could still reach the vat's mapping, so pipelined
 * messages keep their order), then forgets the record.
 */
import type { VRef } from '../liveslots/protocol.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData, VatMessage } from '../protocol/messages.ts';
import { flip, isPromiseRef, isWireRef, type WireRef } from '../protocol/refs.ts';
import type { KernelKeeper, PromiseRecord } from './keeper.ts';

/** Refs per drop message. */
const MAX_DROPS = 1000;

export interface RetirementHooks {
  /** Queue a message to a peer (in this commit). */
  push(peer: VatId, msg: VatMessage): void;
  /** Queue a retire delivery to the vat. */
  retireInVat(vrefs: VRef[]): void;
  /** Does the host wait for this promise? */
  hostWaits(vref: VRef): boolean;
  /** A promise got its settlement. */
  settled(vref: VRef): void;
}

export class PromiseRetirement {
  readonly #keeper: KernelKeeper;
  readonly #hooks: RetirementHooks;
  /** How many promise records' settlements name each promise (derived, not stored). */
  readonly #resolutionRefs = new Map<VRef, number>();
  /** Settled promises to retire or forget at the next commit, if nothing names them. */
  readonly #candidates = new Set<VRef>();
  /** Promise entries to drop from peers' c-lists (we learned their settlement). */
  readonly #drops = new Map<VatId, WireRef[]>();

  constructor(keeper: KernelKeeper, hooks: RetirementHooks) {
    this.#keeper = keeper;
    this.#hooks = hooks;
    for (const [vref, rec] of keeper.promises) {
      if (rec.resolution === null) continue;
      this.#countRefs(rec.resolution.data, 1);
      this.#candidates.add(vref);
    }
  }

  /** Every settlement goes through here: it may keep the promises it names. */
  setResolution(vref: VRef, resolution: NonNullable<PromiseRecord['resolution']>): void {
    const rec = this.#keeper.updatePromise(vref, (p) => {
      p.resolution = resolution;
    });
    if (rec === undefined) throw Error(`settling ${vref}, which has no promise record`);
    this.#countRefs(resolution.data, 1);
    this.#candidates.add(vref);
    this.#hooks.settled(vref);
  }

  /** Something that named `vref` let go of it: check it at the next commit. */
  consider(vref: VRef): void {
    this.#candidates.add(vref);
  }

  /** `peer`, the decider, told us the settlement: both sides forget its index. */
  settledBy(peer: VatId, vref: VRef): void {
    const clist = this.#keeper.clist(peer);
    const wire = clist.wireOf(vref);
    if (wire !== undefined) {
      clist.delete(wire);
      const drops = this.#drops.get(peer);
      if (drops) drops.push(wire);
      else this.#drops.set(peer, [wire]);
    }
    this.#candidates.add(vref);
  }

  /**
   * The peer learned the settlement of these promises and will never name them again: forget
   * their entries in its c-list. Object refs are validated and kept (no distributed GC of
   * objects yet: imports stay alive).
   */
  acceptDrop(peer: VatId, refs: readonly WireRef[]): void {
    const clist = this.#keeper.clist(peer);
    for (const wire of refs) {
      if (!isWireRef(wire)) throw new ProtocolError('malformed', `bad ref ${String(wire)}`);
      if (!isPromiseRef(wire)) continue;
      const ours = flip(wire);
      const vref = clist.vrefOf(ours);
      if (vref === undefined)
        throw new ProtocolError('unknown-ref', `${peer} dropped unknown promise ${wire}`);
      clist.delete(ours);
      this.#candidates.add(vref);
    }
  }

  /** Just before a commit: send the drops, retire or forget what nothing names. */
  beforeCommit(): void {
    for (const [peer, refs] of this.#drops) {
      for (let i = 0; i < refs.length; i += MAX_DROPS) {
        this.#hooks.push(peer, { op: 'drop', refs: refs.slice(i, i + MAX_DROPS) });
      }
    }
    this.#drops.clear();
    // Sends held by an embargo may name any promise: wait until no embargo is up.
    if (this.#keeper.embargoes.size > 0) return;
    const toVat: VRef[] = [];
    while (this.#candidates.size > 0) {
      const batch = [...this.#candidates];
      this.#candidates.clear();
      for (const vref of batch) {
        const rec = this.#keeper.promises.get(vref);
        if (!rec || !this.#unused(vref, rec)) continue;
        if (rec.known) {
          toVat.push(vref);
        } else {
          this.#keeper.deletePromise(vref);
          this.#countRefs(rec.resolution!.data, -1); // may free more
        }
      }
    }
    if (toVat.length > 0) this.#hooks.retireInVat(toVat);
  }

  #unused(vref: VRef, rec: PromiseRecord): boolean {
    if (rec.resolution === null || rec.embargo !== null || rec.queued) return false;
    if (this.#hooks.hostWaits(vref) || this.#resolutionRefs.has(vref)) return false;
    for (const clist of this.#keeper.clists.values()) if (clist.has(vref)) return false;
    return true;
  }

  /** Settlements that name a promise keep its record (they may hand it on later). */
  #countRefs(data: CapData, delta: 1 | -1): void {
    for (const slot of data.slots) {
      if (!isPromiseRef(slot)) continue;
      const n = (this.#resolutionRefs.get(slot) ?? 0) + delta;
      if (n > 0) {
        this.#resolutionRefs.set(slot, n);
      } else {
        this.#resolutionRefs.delete(slot);
        this.#candidates.add(slot);
      }
    }
  }
}
