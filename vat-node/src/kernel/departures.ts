/**
 * Departed clients. A short-lived client (`quorumvat send`) may leave while we still owe it
 * messages (it gave up waiting, or crashed): the transport then stops dialling it (it listens
 * nowhere) and tells the kernel (KernelPort.departed). Its outbox would otherwise wait for it
 * forever, and the promises it holds with us would never retire.
 *
 * The policy: the departure is recorded durably (`gone.<peer>`, with its time). A peer that
 * comes back within `departedRetentionMs` (it sends us a frame or an ack, or the transport
 * says it returned) gets everything, as if it had never left. One that does not is forgotten
 * at the end of the period, in one commit and with one event ('peer-forgotten'):
 * - its outbox (what it was owed) and the inbound messages of it still waiting for takes;
 * - the promises it decides that are still pending are rejected (whoever waits learns why);
 * - its c-list's promise entries (the records they kept alive retire: retirement.ts).
 * Its peer row and object entries stay, as for any peer (no distributed GC of objects yet):
 * a few rows per departed client, not its history. A client that comes back after that
 * finds its session gone (its next message from us has a later seq than it expects).
 */
import type { VatId } from '../protocol/identity.ts';
import { isPromiseRef } from '../protocol/refs.ts';
import type { KernelContext } from './context.ts';
import { encodeHost, HostError } from './hostcaps.ts';
import { DEPARTED_RETENTION_MS } from './options.ts';

export class Departures {
  readonly #ctx: KernelContext;
  readonly #timers = new Map<VatId, NodeJS.Timeout>();

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  get retentionMs(): number {
    return this.#ctx.options.departedRetentionMs ?? DEPARTED_RETENTION_MS;
  }

  /** After a restart: the departures recorded before it run out on their original schedule. */
  resume(): void {
    for (const [peer, since] of this.#ctx.keeper.departures) this.#arm(peer, since);
  }

  /** The transport parked `peer`, a client that left while owed messages. */
  departed(peer: VatId): void {
    if (this.#ctx.closed || this.#ctx.broken) return;
    if (this.#ctx.keeper.departures.has(peer)) return; // the first departure counts
    // Only what is owed is kept for it: a client owed nothing costs nothing.
    if ((this.#ctx.keeper.outbox.get(peer)?.length ?? 0) === 0) return;
    const since = Date.now();
    this.#ctx.keeper.setDeparted(peer, since);
    this.#ctx.port.scheduleCommit();
    this.#arm(peer, since);
  }

  /** `peer` is back (it reached us, or the transport says so): it keeps everything. */
  returned(peer: VatId): void {
    if (!this.#ctx.keeper.departures.has(peer)) return;
    clearTimeout(this.#timers.get(peer));
    this.#timers.delete(peer);
    if (this.#ctx.closed || this.#ctx.broken) return;
    this.#ctx.keeper.setDeparted(peer, null);
    this.#ctx.port.scheduleCommit();
  }

  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #arm(peer: VatId, since: number): void {
    clearTimeout(this.#timers.get(peer));
    const delay = Math.max(0, since + this.retentionMs - Date.now());
    const timer = setTimeout(() => {
      this.#timers.delete(peer);
      this.#forget(peer, since);
    }, delay);
    timer.unref(); // a departure alone never keeps a process alive
    this.#timers.set(peer, timer);
  }

  #forget(peer: VatId, since: number): void {
    const { keeper, embargoes, retirement, port } = this.#ctx;
    if (this.#ctx.closed || this.#ctx.broken || keeper.departures.get(peer) !== since) return;
    const reason = `vat ${peer} left and did not come back within ${this.retentionMs} ms`;
    const clist = keeper.clist(peer);
    // Pending promises it decides: settled as it would settle them, rejected.
    let rejected = 0;
    for (const [vref, rec] of [...keeper.promises]) {
      if (rec.decider !== peer || rec.resolution !== null) continue;
      const promise = clist.wireOf(vref);
      if (promise === undefined) continue;
      embargoes.learnSettlement(peer, vref, rec, {
        promise,
        rejected: true,
        value: encodeHost(new HostError('Error', reason)),
        received: rec.sent.get(peer) ?? 0,
      });
      rejected++;
    }
    // Its promise entries: no drop message goes to it; the records may retire.
    for (const [wire, vref] of clist.entries()) {
      if (!isPromiseRef(wire)) continue;
      clist.delete(wire);
      retirement.consider(vref);
    }
    const messages = keeper.dropOutbox(peer);
    const held = keeper.dropHeld(peer);
    keeper.setDeparted(peer, null);
    port.emit({
      type: 'peer-forgotten',
      peer,
      departedMs: Date.now() - since,
      messages,
      held,
      rejected,
    });
    port.scheduleCommit();
  }
}
