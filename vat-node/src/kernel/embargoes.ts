/**
 * A peer settled a promise it decides: route what waits on it, tell who needs to know, and
 * embargo the promise when later sends could overtake earlier ones still on their way
 * (the decision: embargo.ts). The embargo ends when the echo comes back: held sends go
 * first, then the vat hears the settlement.
 */
import type { VRef } from '../liveslots/protocol.ts';
import { ECHO_METHOD } from '../liveslots/protocol.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Resolution } from '../protocol/messages.ts';
import type { KernelContext } from './context.ts';
import { embargoFor } from './embargo.ts';
import { encodeHost } from './hostcaps.ts';
import type { PromiseRecord } from './keeper.ts';
import { FROM_VAT } from './options.ts';
import { newPromise, sendItem } from './promises.ts';

export class Embargoes {
  readonly #ctx: KernelContext;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  /** A promise `peer` decides is settled: route what waits on it, tell who needs to know. */
  learnSettlement(peer: VatId, vref: VRef, rec: PromiseRecord, r: Resolution): void {
    if (rec.take !== undefined) {
      this.#ctx.handoffs.takeAnswered(peer, rec.take, r);
      this.#ctx.retirement.setResolution(vref, {
        rejected: r.rejected,
        data: encodeHost(null),
      });
      return;
    }
    if (rec.echoFor !== undefined) {
      // Our path echo came back (settled either way): everything sent before it has arrived.
      this.#ctx.keeper.deletePromise(vref);
      this.endEmbargo(peer, rec.echoFor);
      return;
    }
    const data = this.#ctx.clists.capDataFrom(peer, r.value);
    this.#ctx.keeper.updatePromise(vref, (p) => {
      p.decider = null;
      p.resolvedBy = peer;
    });
    this.#ctx.retirement.setResolution(vref, { rejected: r.rejected, data });
    // Tell the other peers that know this promise through us.
    for (const [other, clist] of this.#ctx.keeper.clists) {
      if (other !== peer && clist.has(vref)) this.#ctx.router.resolveToPeer(other, vref, rec);
    }
    if (this.#ctx.host.handToHost(vref, r.rejected, data)) return; // the host asked: the vat never held it
    const redirects = !r.rejected && this.#ctx.router.redirectsAwayFrom(peer, data);
    const embargo = embargoFor({
      rejected: r.rejected,
      redirects,
      home: redirects && this.#ctx.router.ownerOf(data.slots[0]!) === this.#ctx.vatId,
      sent: rec.sent.get(peer) ?? 0,
      received: r.received,
    });
    if (embargo !== 'none') {
      const token = this.#ctx.keeper.next('nextToken');
      this.#ctx.keeper.updatePromise(vref, (p) => {
        p.embargo = { token, held: [] };
      });
      this.#ctx.keeper.embargoes.set(token, vref);
      if (embargo === 'echo') {
        this.#ctx.port.push(peer, {
          op: 'echo',
          target: this.#ctx.clists.exportTo(peer, vref),
          token,
        });
      } else {
        const echo = `p-${this.#ctx.keeper.next('nextPromise')}`;
        this.#ctx.keeper.addPromise(echo, { ...newPromise(peer), echoFor: token });
        const args = encodeHost([]);
        this.#ctx.router.sendToPeer(peer, {
          target: vref,
          method: ECHO_METHOD,
          args,
          result: echo,
        });
      }
      return;
    }
    // Only a vat that holds the promise (or will: a queued delivery names it) needs to hear.
    if (!rec.known && !rec.queued) return;
    this.#ctx.cranks.enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, r.rejected, data]] },
    });
  }

  endEmbargo(peer: VatId, token: number): void {
    const vref = this.#ctx.keeper.embargoes.get(token);
    if (vref === undefined)
      throw new ProtocolError('unknown-ref', `unknown echo token ${token} from ${peer}`);
    this.#ctx.keeper.embargoes.delete(token);
    const rec = this.#ctx.keeper.promises.get(vref)!;
    const held = rec.embargo?.held ?? [];
    this.#ctx.keeper.updatePromise(vref, (p) => {
      p.embargo = null;
    });
    const resolution = rec.resolution!;
    // Held sends go first, to where the promise now points; then the vat learns the resolution.
    const to = resolution.data.slots[0]!;
    for (const s of held) this.#ctx.router.route({ ...sendItem(s), target: to }, FROM_VAT);
    this.#ctx.cranks.enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, resolution.rejected, resolution.data]] },
    });
  }
}
