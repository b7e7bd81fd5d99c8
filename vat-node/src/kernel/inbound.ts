/**
 * Inbound dispatch: a peer's message, once accepted in order (port.ts), is held behind a
 * pending handoff take (handoffs.ts) or handled now by the handler for its op.
 */
import { isProtocolError, ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Resolution, VatMessage } from '../protocol/messages.ts';
import { isPromiseRef, type WireRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import { checkRedeemProof } from './sturdyref.ts';

type OpMessage<Op extends VatMessage['op']> = Extract<VatMessage, { op: Op }>;

export class Inbound {
  readonly #ctx: KernelContext;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  accept(peer: VatId, msg: VatMessage): void {
    try {
      // A message that carries a third vat's object waits until that vat has added the object
      // to our c-list (the take), so the vat sees the very same presence as for any other
      // reference to it. Later messages from the same peer wait behind it, to keep their order.
      if (this.#ctx.keeper.held.has(peer) || this.#ctx.handoffs.startTakes(peer, msg)) {
        this.#ctx.keeper.holdInbound(peer, msg);
        return;
      }
      this.process(peer, msg);
    } catch (e) {
      // A refusal its sender hears of through the result: warn, and keep the link going.
      if (!this.refused(peer, msg, e)) throw e;
    }
  }

  /** Handle a peer's message now: one handler per op (adding an op is adding an entry). */
  process(peer: VatId, msg: VatMessage): void {
    const handle = this.#handlers[msg.op] as ((peer: VatId, msg: VatMessage) => void) | undefined;
    if (!handle) throw new ProtocolError('malformed', `unknown op ${JSON.stringify(msg.op)}`);
    handle(peer, msg);
  }

  /**
   * A delivery was refused (a refused handoff, an unknown ref, ...): its sender must not wait
   * on it forever, so its fresh result promise is rejected with the reason (messages pipelined
   * on that result then settle the same way), with a warning here. False if there is no result
   * to settle: the caller reports the refusal.
   */
  refused(peer: VatId, msg: VatMessage, e: unknown): boolean {
    if (!isProtocolError(e) || msg.op !== 'deliver' || msg.result === null) return false;
    let vref: string;
    try {
      vref = this.#ctx.clists.importFrom(peer, msg.result, 'result');
    } catch {
      return false; // no fresh result to settle
    }
    const rec = this.#ctx.router.promise(vref);
    this.#ctx.retirement.setResolution(vref, {
      rejected: true,
      data: encodeHost(new HostError('Error', e.message)),
    });
    this.#ctx.router.resolveToPeer(peer, vref, rec);
    this.#ctx.port.emit({ type: 'peer-message-refused', peer, code: e.code, reason: e.message });
    return true;
  }

  readonly #handlers: { [Op in VatMessage['op']]: (peer: VatId, msg: OpMessage<Op>) => void } = {
    deliver: (peer, msg) => {
      const { clists } = this.#ctx;
      const target = clists.importFrom(peer, msg.target, 'target');
      const args = clists.capDataFrom(peer, msg.args);
      const result = msg.result === null ? null : clists.importFrom(peer, msg.result, 'result');
      this.#ctx.router.route({ target, method: msg.method, args, result }, peer);
    },
    resolve: (peer, msg) => {
      for (const r of msg.resolutions) this.acceptResolution(peer, r);
    },
    echo: (peer, msg) => {
      const target = this.#ctx.clists.importFrom(peer, msg.target, 'target');
      if (!isPromiseRef(target)) throw new ProtocolError('malformed', 'echo must target a promise');
      this.#ctx.cranks.enqueue({ kind: 'echo', peer, token: msg.token });
    },
    echoed: (peer, msg) => this.#ctx.embargoes.endEmbargo(peer, msg.token),
    take: (peer, msg) => this.#ctx.handoffs.acceptTake(peer, msg.cert, msg.result),
    redeem: (peer, msg) => this.acceptRedeem(peer, msg.key, msg.proof, msg.result),
    drop: (peer, msg) => this.#ctx.retirement.acceptDrop(peer, msg.refs),
  };

  acceptResolution(peer: VatId, r: Resolution): void {
    const vref = this.#ctx.clists.importFrom(peer, r.promise, 'target');
    const rec = this.#ctx.keeper.promises.get(vref);
    if (!rec || rec.decider !== peer) {
      throw new ProtocolError(
        'not-decider',
        `${peer} resolved ${r.promise}, which it does not decide`,
      );
    }
    if (!Number.isSafeInteger(r.received) || r.received < 0)
      throw new ProtocolError('malformed', 'bad received count');
    this.#ctx.embargoes.learnSettlement(peer, vref, rec, r);
    this.#ctx.retirement.settledBy(peer, vref);
  }

  acceptRedeem(peer: VatId, key: string, proof: string, result: WireRef): void {
    const vref = this.#ctx.clists.importFrom(peer, result, 'result');
    const rec = this.#ctx.router.promise(vref);
    const target = checkRedeemProof(key, proof, this.#ctx.vatId, peer)
      ? this.#ctx.keeper.sturdyRefs.get(key)
      : undefined;
    this.#ctx.retirement.setResolution(
      vref,
      target === undefined
        ? {
            rejected: true,
            data: encodeHost(new HostError('Error', 'unknown or revoked sturdyref')),
          }
        : { rejected: false, data: { body: '#"$0.Alleged: sturdyref"', slots: [target] } },
    );
    this.#ctx.router.resolveToPeer(peer, vref, rec);
  }
}
