/**
 * Three-party handoff, both sides (certificates: handoff.ts). As recipient: a message carrying
 * a third vat's certificate is held (with every later message of the same peer) until the
 * exporter has answered our take, so the vat sees the very same presence as for any other
 * reference to the object. As exporter: a take presents a certificate; the object joins the
 * presenter's c-list, or the take is refused.
 */
import type { VRef } from '../liveslots/protocol.ts';
import { isProtocolError, ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Resolution, VatMessage } from '../protocol/messages.ts';
import { isExportRef, isHandoffSlot, type WireRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { decodeHost, encodeHost, HostError } from './hostcaps.ts';
import { newPromise } from './promises.ts';

export class Handoffs {
  readonly #ctx: KernelContext;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /** Present the certificates in `msg` that we have not taken yet; true if any is pending. */
  startTakes(peer: VatId, msg: VatMessage): boolean {
    const slots =
      msg.op === 'deliver'
        ? msg.args.slots
        : msg.op === 'resolve'
          ? msg.resolutions.flatMap((r) => r.value.slots)
          : [];
    let pending = false;
    for (const slot of slots) {
      if (typeof slot !== 'string' || !isHandoffSlot(slot)) continue;
      const cert = this.#ctx.clists.readCert(slot);
      if (cert.exporter === this.#ctx.vatId) continue; // our own object, named by its certificate
      if (cert.giver !== peer)
        throw new ProtocolError('bad-handoff', `handoff signed by ${cert.giver} sent by ${peer}`);
      if (cert.recipient !== this.#ctx.vatId)
        throw new ProtocolError('bad-handoff', `handoff for ${cert.recipient} sent here`);
      if (cert.exporter === peer)
        throw new ProtocolError('bad-handoff', 'handoff must name a third vat');
      const key = `${cert.giver}:${cert.nonce}`;
      let take = this.#ctx.keeper.takes.get(key);
      if (!take) {
        this.#ctx.learnAddresses(cert.exporter, cert.hints);
        const promise = `p-${this.#ctx.keeper.next('nextPromise')}`;
        this.#ctx.keeper.addPromise(promise, { ...newPromise(cert.exporter), take: key });
        take = { promise, vref: null, error: null };
        this.#ctx.keeper.setTake(key, take);
        const result = this.#ctx.router.clist(cert.exporter).export(promise);
        this.#ctx.port.push(cert.exporter, { op: 'take', cert: slot, result });
      }
      if (take.vref === null && take.error === null) pending = true;
    }
    return pending;
  }

  /** A take was answered: let the held messages through, in order, as far as they can go. */
  releaseHeld(): void {
    for (const [peer, queue] of [...this.#ctx.keeper.held]) {
      while (queue.length > 0) {
        const msg = queue[0]!;
        try {
          if (this.startTakes(peer, msg)) break;
          this.#ctx.keeper.releaseHeld(peer);
          this.#ctx.inbound.process(peer, msg);
        } catch (e) {
          // The peer sent it, but the error is only found now: refuse it (its result rejects
          // with the reason), keep the link, and go on with the messages behind it.
          if (!isProtocolError(e)) throw e;
          if (queue[0] === msg) this.#ctx.keeper.releaseHeld(peer);
          if (this.#ctx.inbound.refused(peer, msg, e)) continue;
          this.#ctx.port.emit({
            type: 'peer-message-refused',
            peer,
            code: e.code,
            reason: e.message,
          });
        }
      }
    }
  }

  /** The exporter answered our take: the object is now in our c-list with it (or refused). */
  takeAnswered(exporter: VatId, key: string, r: Resolution): void {
    if (r.rejected) {
      this.#ctx.keeper.answerTake(key, {
        error: `handoff refused by ${exporter}${refusalReason(r)}`,
      });
    } else {
      const slot = r.value.slots[0];
      if (r.value.slots.length !== 1 || typeof slot !== 'string' || !isExportRef(slot)) {
        throw new ProtocolError(
          'malformed',
          `take answered with something other than an object of ${exporter}`,
        );
      }
      this.#ctx.keeper.answerTake(key, {
        vref: this.#ctx.clists.importFrom(exporter, slot, 'arg'),
      });
    }
    this.releaseHeld();
  }

  /** A peer presents a certificate for one of our objects: add it to the peer's c-list. */
  acceptTake(peer: VatId, cert: unknown, result: WireRef): void {
    if (typeof cert !== 'string' || !isHandoffSlot(cert))
      throw new ProtocolError('malformed', 'take without a certificate');
    const vref = this.#ctx.clists.importFrom(peer, result, 'result');
    const rec = this.#ctx.router.promise(vref);
    let target: VRef;
    try {
      target = this.#ctx.clists.objectForCert(peer, cert);
    } catch (e) {
      // A well-signed certificate for something the giver does not hold: the giver lied, not
      // the presenter. Refuse the take (the presenter drops what depended on it).
      this.#ctx.retirement.setResolution(vref, {
        rejected: true,
        data: encodeHost(new HostError('Error', (e as Error).message)),
      });
      this.#ctx.router.resolveToPeer(peer, vref, rec);
      if (isProtocolError(e, 'handoff-not-held')) return;
      throw e;
    }
    this.#ctx.retirement.setResolution(vref, {
      rejected: false,
      data: { body: '#"$0.Alleged: handoff"', slots: [target] },
    });
    this.#ctx.router.resolveToPeer(peer, vref, rec);
  }
}

/** The exporter's reason for refusing a take (": reason"), if it gave a readable one. */
function refusalReason(r: Resolution): string {
  try {
    const err = decodeHost(r.value);
    const message = err instanceof HostError ? err.message : undefined;
    return typeof message === 'string' ? `: ${message.slice(0, 256)}` : '';
  } catch {
    return '';
  }
}
