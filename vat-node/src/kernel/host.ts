/**
 * The host's API of a kernel (the CLI, the node, tests): grant references to peers, call
 * into the vat and wait for the result, mint, revoke and redeem sturdyrefs. Host results are
 * handed out only after the commit that produced them.
 */
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData } from '../protocol/messages.ts';
import type { WireRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { decodeHost, encodeHost, type HostError } from './hostcaps.ts';
import { FROM_HOST, HostRefused, type HostResult, type HostWaiter } from './options.ts';
import { newPromise } from './promises.ts';
import { formatSturdyRef, newSecret, parseSturdyRef, redeemProof, sturdyKey } from './sturdyref.ts';

export class HostApi {
  readonly #ctx: KernelContext;
  /** Host calls waiting for their result promise. */
  readonly hostWaiters = new Map<VRef, HostWaiter>();

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /** Host-initiated work is refused on this kernel (KernelOptions.refuseHost). */
  refused(): void {
    const reason = this.#ctx.options.refuseHost;
    if (reason !== undefined) throw new HostRefused(reason);
  }

  /** Let `peer` reach this vat's root object; returns the wire ref (as this vat writes it). */
  grantRoot(peer: VatId): WireRef {
    return this.grant(peer, 'o+0');
  }

  /** Put one of this vat's refs in `peer`'s c-list; returns the wire ref (as this vat writes it). */
  grant(peer: VatId, vref: VRef): WireRef {
    this.refused();
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects can be granted: ${vref}`);
    this.#ctx.port.usable();
    const wire = this.#ctx.router.clist(peer).export(vref);
    this.#ctx.lifecycle.handedOut(vref);
    this.#ctx.port.commitNow();
    return wire;
  }

  /** Import a ref that `peer` granted us (its wire ref, as `peer` wrote it); returns our vref. */
  importGranted(peer: VatId, wire: WireRef): VRef {
    this.refused();
    this.#ctx.port.usable();
    const vref = this.#ctx.clists.importFrom(peer, wire, 'arg');
    this.#ctx.port.commitNow();
    return vref;
  }

  /**
   * Send `method(...args)` to a vref of this vat (its root `o+0`, an import, a promise) as the
   * host, and wait for the result. Args may contain HostRefs. Used by the CLI and tests.
   */
  call(target: VRef, method: string, args: unknown[]): Promise<HostResult> {
    try {
      this.refused();
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#ctx.broken || this.#ctx.closed) return Promise.reject(this.#ctx.port.unavailable());
    const result = `p-${this.#ctx.keeper.next('nextPromise')}`;
    this.#ctx.keeper.addPromise(result, newPromise(null));
    const done = new Promise<HostResult>((resolve, reject) =>
      this.hostWaiters.set(result, { resolve, reject }),
    );
    this.#ctx.router.route({ target, method, args: encodeHost(args), result }, FROM_HOST);
    this.#ctx.port.scheduleCommit();
    return done;
  }

  /**
   * Mint a sturdyref for one of this vat's objects: anyone holding the URI can redeem it for a
   * live reference until it is revoked. `hints` are addresses where this vat listens.
   */
  mintSturdyRef(vref: VRef, hints: readonly string[] = []): string {
    this.refused();
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects have sturdyrefs: ${vref}`);
    this.#ctx.port.usable();
    const secret = newSecret();
    this.#ctx.keeper.setSturdyRef(sturdyKey(secret), vref);
    this.#ctx.lifecycle.handedOut(vref);
    this.#ctx.port.commitNow(); // committed before anyone can hold the URI
    return formatSturdyRef({ vatId: this.#ctx.vatId, secret, hints });
  }

  /** Revoke a sturdyref: later redemptions fail (references already handed out stay live). */
  revokeSturdyRef(uri: string): boolean {
    this.refused();
    const ref = parseSturdyRef(uri);
    if (ref.vatId !== this.#ctx.vatId) throw TypeError('not a sturdyref of this vat');
    this.#ctx.port.usable();
    const had = this.#ctx.keeper.setSturdyRef(sturdyKey(ref.secret), null);
    this.#ctx.port.commitNow();
    return had;
  }

  /** Is this one of our sturdyrefs, not revoked? */
  honours(uri: string): boolean {
    try {
      const ref = parseSturdyRef(uri);
      return (
        ref.vatId === this.#ctx.vatId && this.#ctx.keeper.sturdyRefs.has(sturdyKey(ref.secret))
      );
    } catch {
      return false;
    }
  }

  /** Redeem a sturdyref (of any vat) for a reference this vat holds; resolves to its vref. */
  async redeem(uri: string): Promise<VRef> {
    this.refused();
    const ref = parseSturdyRef(uri);
    if (ref.vatId === this.#ctx.vatId) {
      const vref = this.#ctx.keeper.sturdyRefs.get(sturdyKey(ref.secret));
      if (vref === undefined) throw Error('unknown or revoked sturdyref');
      return vref;
    }
    this.#ctx.port.usable();
    this.#ctx.learnAddresses(ref.vatId, ref.hints);
    const result = `p-${this.#ctx.keeper.next('nextPromise')}`;
    this.#ctx.keeper.addPromise(result, newPromise(ref.vatId));
    const done = new Promise<HostResult>((resolve, reject) =>
      this.hostWaiters.set(result, { resolve, reject }),
    );
    this.#ctx.port.push(ref.vatId, {
      op: 'redeem',
      key: sturdyKey(ref.secret),
      proof: redeemProof(ref.secret, ref.vatId, this.#ctx.vatId),
      result: this.#ctx.router.clist(ref.vatId).export(result),
    });
    this.#ctx.port.scheduleCommit();
    const r = await done;
    if (r.rejected)
      throw Error(`sturdyref refused by ${ref.vatId}: ${(r.value as HostError).message}`);
    return (r.value as { vref: VRef }).vref;
  }

  /** Hand a settled promise to the host if the host waits for it (after the commit). */
  handToHost(vref: VRef, rejected: boolean, data: CapData): boolean {
    const host = this.hostWaiters.get(vref);
    if (!host) return false;
    this.hostWaiters.delete(vref);
    for (const slot of data.slots) this.#ctx.lifecycle.handedOut(slot);
    this.#ctx.port.afterCommit.push({
      waiter: host,
      result: { rejected, value: decodeHost(data) },
    });
    return true;
  }
}
