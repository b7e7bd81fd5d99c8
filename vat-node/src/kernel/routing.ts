/**
 * Routing and resolution: where a message to a vref goes (into the vat, to the peer that
 * exports the object or decides the promise, held by an embargo, or on to where a settled
 * promise went), and how settlements of promises this vat decides reach the peers and the
 * host that know them.
 */
import type { VRef } from '../liveslots/protocol.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import { type CapData, MAX_OUTBOUND_MESSAGE_BYTES } from '../protocol/messages.ts';
import { isExportRef, isImportRef, isPromiseRef, type WireRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import type { KeptCList, PromiseDraft, PromiseRecord, SendItem } from './keeper.ts';
import { oversizeOf, tooLargeReason } from './message-size.ts';
import { FROM_VAT } from './options.ts';
import { isSingleRef, messageTo, newPromise, sendItem } from './promises.ts';

export class Router {
  readonly #ctx: KernelContext;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /** The vat that holds a vref's object, or decides its promise. */
  ownerOf(vref: VRef): VatId | null {
    if (isExportRef(vref)) return this.#ctx.vatId;
    if (isImportRef(vref)) return this.#ctx.keeper.imports.get(vref)?.peer ?? null;
    return this.#ctx.keeper.promises.get(vref)?.decider ?? this.#ctx.vatId;
  }

  /** Does this resolution send later messages somewhere else than `peer`? */
  redirectsAwayFrom(peer: VatId, data: CapData): boolean {
    if (!isSingleRef(data)) return false;
    const slot = data.slots[0]!;
    if (isImportRef(slot)) return this.#ctx.keeper.imports.get(slot)?.peer !== peer;
    if (isPromiseRef(slot)) return this.#ctx.keeper.promises.get(slot)?.decider !== peer;
    return true; // one of our own objects
  }

  /**
   * Send a message to `target` (a vref), from a peer, the vat (FROM_VAT) or the host
   * (FROM_HOST). `via`: the promise the sender named, when the kernel forwards the message
   * from there to where the promise settled.
   */
  route(s: SendItem, from: VatId, via?: VRef): void {
    const { target } = s;
    if (isExportRef(target)) {
      this.#ctx.cranks.enqueue({ kind: 'vat', delivery: messageTo(target, s), from }, via);
      return;
    }
    if (isImportRef(target)) {
      const owner = this.#ctx.keeper.imports.get(target);
      if (!owner) throw new ProtocolError('unknown-ref', `unknown import ${target}`);
      this.sendToPeer(owner.peer, s);
      return;
    }
    const rec = this.promise(target);
    if (rec.embargo && from === FROM_VAT) {
      this.updatePromise(target, (p) => p.embargo!.held.push(s));
      return;
    }
    const res = rec.resolution;
    if (
      res &&
      (!rec.known || (rec.resolvedBy !== undefined && !res.rejected && isSingleRef(res.data)))
    ) {
      // Settled, and the kernel forwards it: the vat no longer maps the promise (or never
      // did), or a peer settled it to a reference: sends follow it there, in order behind the
      // embargo's held ones (the vat may not have heard of the resolution yet). While the vat
      // still maps a promise it settled, its messages go in and the vat forwards them, in order
      // behind those it received before it settled (until the kernel retires the promise).
      this.forward(s, from, res);
      return;
    }
    if (rec.decider === null) {
      this.#ctx.cranks.enqueue({ kind: 'vat', delivery: messageTo(target, s), from }, via);
    } else if (rec.decider === from) {
      throw new ProtocolError('not-decider', `${from} sent a message to a promise it decides`);
    } else {
      const decider = rec.decider;
      // Counted only if it goes: the decider's `received` is compared with it (embargoes).
      if (this.sendToPeer(decider, s)) {
        this.updatePromise(target, (p) => p.sent.set(decider, (p.sent.get(decider) ?? 0) + 1));
      }
    }
  }

  /** A message to a settled promise: on to what it resolved to, or its result rejected. */
  forward(
    s: SendItem,
    from: VatId,
    res: NonNullable<PromiseRecord['resolution']>,
    via?: VRef,
  ): void {
    if (!res.rejected && isSingleRef(res.data)) {
      this.route({ ...sendItem(s), target: res.data.slots[0]! }, from, via ?? s.target);
    } else if (s.result !== null) {
      const error = res.rejected
        ? res.data
        : encodeHost(
            new HostError(
              'TypeError',
              `cannot send ${String(s.method)} to data (a settled promise)`,
            ),
          );
      this.decide(s.result, true, error, false);
    } else {
      // No result to reject: say so, never drop it in silence.
      this.#ctx.port.emit({
        type: 'message-undeliverable',
        target: s.target,
        method: s.method,
        reason: res.rejected
          ? 'sent (without a result) to a rejected promise'
          : 'sent (without a result) to a promise settled to data',
      });
    }
  }

  /**
   * Queue `s` for `peer`, or refuse it when it could never be framed (message-size.ts): its
   * result is rejected with the reason, or, with no result, a warning event says so. A refused
   * message is not translated (no c-list entry, fresh promise or certificate is left behind)
   * and holds up nothing queued after it. True if it was queued.
   */
  sendToPeer(peer: VatId, s: SendItem): boolean {
    const bytes = oversizeOf({
      op: 'deliver',
      method: s.method,
      body: s.args.body,
      slotChars: s.args.slots.map((vref) => this.#ctx.clists.refCharsTo(peer, vref)),
    });
    if (bytes !== undefined) {
      const reason = tooLargeReason('message', peer, bytes);
      if (s.result !== null) {
        this.decide(s.result, true, encodeHost(new HostError('Error', reason)), false);
      } else {
        this.#tooLarge(peer, s.target, s.method, bytes, reason);
      }
      return false;
    }
    const target = this.#ctx.clists.exportTo(peer, s.target);
    const settled = new Map<VRef, VRef>();
    const args = this.#ctx.clists.capDataTo(peer, s.args, settled);
    let result: WireRef | null = null;
    if (s.result !== null) {
      result = this.#ctx.clists.exportTo(peer, s.result);
      this.updatePromise(s.result, (p) => {
        p.decider = peer; // the receiver decides the result
      });
    }
    // Keys in canonical (sorted) order: the codec encodes it natively (vattp/codec.ts).
    this.#ctx.port.push(peer, { args, method: s.method, op: 'deliver', result, target });
    this.sendFreshSettlements(peer, settled);
    return true;
  }

  resolveToPeer(peer: VatId, vref: VRef, rec: PromiseRecord): void {
    const settled = new Map<VRef, VRef>();
    this.pushResolution(peer, vref, rec, settled);
    this.sendFreshSettlements(peer, settled);
  }

  /**
   * Tell `peer` how `vref` settled. A settlement too large for a frame goes as a rejection
   * that says so (the peer's promise must settle, and nothing behind it may be held up).
   */
  pushResolution(peer: VatId, vref: VRef, rec: PromiseRecord, settled: Map<VRef, VRef>): void {
    let res = rec.resolution!;
    const bytes = oversizeOf({
      op: 'resolve',
      body: res.data.body,
      slotChars: res.data.slots.map((slot) => this.#ctx.clists.refCharsTo(peer, slot)),
    });
    if (bytes !== undefined) {
      const reason = tooLargeReason('resolution', peer, bytes);
      res = { rejected: true, data: encodeHost(new HostError('Error', reason)) };
      this.#tooLarge(peer, vref, null, bytes, reason);
    }
    const promise = this.#ctx.clists.exportTo(peer, vref);
    const value = this.#ctx.clists.capDataTo(peer, res.data, settled);
    // Keys in canonical (sorted) order: the codec encodes it natively (vattp/codec.ts).
    this.#ctx.port.push(peer, {
      op: 'resolve',
      resolutions: [
        { promise, received: rec.received.get(peer) ?? 0, rejected: res.rejected, value },
      ],
    });
  }

  /** Warn that a message for `peer` was not queued (no result promise says it for us). */
  #tooLarge(peer: VatId, target: VRef, method: string | null, bytes: number, reason: string) {
    this.#ctx.port.emit({
      type: 'message-too-large',
      peer,
      target,
      method: method === null ? null : method.slice(0, 128), // a log line, not a dump
      bytes,
      maxBytes: MAX_OUTBOUND_MESSAGE_BYTES,
      reason,
    });
  }

  /**
   * Settle the fresh promises a message just gave the peer in place of settled ones (after
   * it, so the peer knows them). Their settlements may name more settled promises: the map
   * grows while it is walked, each settled promise gets one fresh promise per message.
   */
  sendFreshSettlements(peer: VatId, settled: Map<VRef, VRef>): void {
    for (const fresh of settled.values()) {
      this.pushResolution(peer, fresh, this.#ctx.keeper.promises.get(fresh)!, settled);
    }
  }

  clist(peer: VatId): KeptCList {
    return this.#ctx.keeper.clist(peer);
  }

  /** The record of `vref` (created if new). */
  promise(vref: VRef): PromiseRecord {
    const rec = this.#ctx.keeper.promises.get(vref);
    if (rec) return rec;
    const fresh = newPromise(null);
    this.#ctx.keeper.addPromise(vref, fresh);
    return fresh;
  }

  /** Change the record of `vref` (created if new) through the keeper, which marks it. */
  updatePromise(vref: VRef, change: (rec: PromiseDraft) => void): PromiseRecord {
    this.promise(vref);
    return this.#ctx.keeper.updatePromise(vref, change)!;
  }

  /**
   * Settle a promise this vat decides: by the vat (its resolve syscall) or by the kernel (a
   * message to a settled promise that cannot be delivered). Every peer that knows it, and the
   * host, learn the settlement; the vat too if it holds the promise and did not settle it.
   */
  decide(vref: VRef, rejected: boolean, data: CapData, byVat: boolean): void {
    const rec = this.promise(vref);
    // Not ours to decide, or settled already: ignore a confused vat.
    if (rec.decider !== null || rec.resolution !== null) return;
    this.#ctx.retirement.setResolution(vref, { rejected, data });
    this.#ctx.host.handToHost(vref, rejected, data);
    for (const [peer, clist] of this.#ctx.keeper.clists) {
      if (clist.has(vref)) this.resolveToPeer(peer, vref, rec);
    }
    if (!byVat && (rec.known || rec.queued)) {
      this.#ctx.cranks.enqueue({
        kind: 'vat',
        delivery: { type: 'notify', resolutions: [[vref, rejected, data]] },
      });
    }
  }
}
