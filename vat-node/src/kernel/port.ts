/**
 * The kernel's side of the transport (KernelPort: receive, acked, unacked, owed) and the
 * commits: every change since the last commit goes to the store in one transaction, soon
 * (`scheduleCommit`) or at once (`commitNow`), and only then does anything leave: the
 * transport is woken for the messages and acks the commit allows, host results are handed
 * out. A store failure stops the kernel taking work (KernelUnavailable).
 */
import type { VatEvent } from '../events/events.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import type { KernelContext } from './context.ts';
import { type HostResult, type HostWaiter, KernelUnavailable } from './options.ts';

export class CommitPort {
  readonly #ctx: KernelContext;
  /** Peers to wake after the next commit. */
  readonly wakeSet = new Set<VatId>();
  /** Host results to hand out after the next commit. */
  afterCommit: { waiter: HostWaiter; result: HostResult }[] = [];
  /** What the last commit holds: inbound high-water mark and last outbound seq, per peer. */
  readonly committedIn = new Map<VatId, number>();
  readonly committedOut = new Map<VatId, number>();
  flushScheduled = false;

  constructor(ctx: KernelContext) {
    this.#ctx = ctx;
  }

  receive(peer: VatId, seq: number, msg: VatMessage): 'accepted' | 'duplicate' {
    if (this.#ctx.broken) throw this.#ctx.broken;
    // A closed kernel drops everything; nothing of it is acked.
    if (this.#ctx.closed) return 'duplicate';
    const state = this.#ctx.keeper.peerState(peer);
    const last = state.inSeq;
    if (!Number.isSafeInteger(seq) || seq <= 0)
      throw new ProtocolError('out-of-order', `bad seq ${seq}`);
    this.#ctx.departures.returned(peer); // any frame from it says it is back
    if (seq <= last) return 'duplicate';
    if (seq !== last + 1)
      throw new ProtocolError(
        'out-of-order',
        `seq gap from ${peer}: got ${seq}, expected ${last + 1}`,
      );
    // The message is consumed even if it is invalid: a retransmit of it is then a duplicate,
    // and one bad message from a peer cannot wedge the link forever.
    this.#ctx.keeper.setInbound(peer, seq);
    this.wakeSet.add(peer); // an ack is owed
    try {
      this.#ctx.inbound.accept(peer, msg);
    } finally {
      // Committed with the other messages of this turn (one transaction); the ack follows it.
      this.scheduleCommit();
    }
    return 'accepted';
  }

  committedInbound(peer: VatId): number {
    return this.committedIn.get(peer) ?? 0;
  }

  acked(peer: VatId, seq: number): void {
    if (this.#ctx.broken || this.#ctx.closed) return;
    this.#ctx.departures.returned(peer);
    const sent = this.committedOut.get(peer) ?? 0;
    if (seq > sent)
      throw new ProtocolError('out-of-order', `ack ${seq} from ${peer} beyond last sent ${sent}`);
    const box = this.#ctx.keeper.outbox.get(peer);
    if (!box || box.length === 0 || box[0]!.seq > seq) return;
    this.#ctx.keeper.dropAcked(peer, seq);
    this.scheduleCommit();
  }

  unacked(peer: VatId, afterSeq: number): readonly Sequenced[] {
    const box = this.#ctx.keeper.outbox.get(peer);
    if (!box || box.length === 0) return [];
    // Only committed messages leave the node.
    const committed = this.committedOut.get(peer) ?? 0;
    // Always a copy: the outbox grows under the caller (a transport may read it later).
    if (box[0]!.seq > afterSeq && box[box.length - 1]!.seq <= committed) return box.slice();
    return box.filter((s) => s.seq > afterSeq && s.seq <= committed);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    const committed = this.committedOut.get(peer) ?? 0;
    for (const s of this.#ctx.keeper.outbox.get(peer) ?? []) {
      if (s.seq > committed) return false;
      if (s.seq > afterSeq) return true;
    }
    return false;
  }

  /**
   * Something changed: commit it soon, with whatever else changes before then. The commit
   * waits for the I/O callbacks already due (setImmediate, not a microtask): frames and host
   * calls that arrived together, or during the last commit's fsync, share one transaction.
   */
  scheduleCommit(): void {
    if (this.flushScheduled || this.#ctx.options.holdCommits) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.commit();
    });
  }

  /** Commit now or throw (host calls that hand something out: a grant, a sturdyref). */
  commitNow(): void {
    if (!this.commit()) throw this.unavailable();
  }

  /**
   * Commit every change since the last commit in one transaction, then let out what it
   * allows: wake the transport for new messages and acks, hand results to the host.
   */
  commit(): boolean {
    if (this.#ctx.broken || this.#ctx.closed) return false;
    this.#ctx.retirement.beforeCommit();
    if (this.#ctx.keeper.dirty) {
      let peers: VatId[];
      const start = performance.now();
      try {
        peers = this.#ctx.keeper.flush();
      } catch (e) {
        this.storeFailed(e);
        return false;
      }
      this.#ctx.options.onCommit?.(performance.now() - start);
      this.noteCommitted(peers);
    }
    const after = this.afterCommit;
    if (after.length > 0) {
      this.afterCommit = [];
      for (const { waiter, result } of after) waiter.resolve(result);
    }
    for (const peer of this.wakeSet) this.#ctx.transport.wake(peer);
    this.wakeSet.clear();
    return true;
  }

  noteCommitted(peers: Iterable<VatId> = this.#ctx.keeper.peers.keys()): void {
    for (const peer of peers) {
      const s = this.#ctx.keeper.peers.get(peer)!;
      this.committedIn.set(peer, s.inSeq);
      this.committedOut.set(peer, s.nextSeq - 1);
    }
  }

  storeFailed(e: unknown): void {
    const message = `vat ${this.#ctx.vatId}: store failed, refusing new work: ${e instanceof Error ? e.message : String(e)}`;
    this.halt(new KernelUnavailable(message, { cause: e }));
    this.emit({ type: 'store-failed', reason: message });
  }

  /** Refuse new work from now on (`broken`): nothing more is committed or leaves the node. */
  halt(broken: KernelUnavailable): void {
    if (this.#ctx.broken) return;
    this.#ctx.broken = broken;
    this.wakeSet.clear();
    // Results whose commit failed never happened: their callers get the error instead.
    for (const { waiter } of this.afterCommit) waiter.reject(this.#ctx.broken);
    this.afterCommit = [];
    for (const w of this.#ctx.host.hostWaiters.values()) w.reject(this.#ctx.broken);
    this.#ctx.host.hostWaiters.clear();
  }

  emit(event: VatEvent): void {
    this.#ctx.options.events?.(event);
  }

  usable(): void {
    if (this.#ctx.broken || this.#ctx.closed) throw this.unavailable();
  }

  unavailable(): KernelUnavailable {
    return this.#ctx.broken ?? new KernelUnavailable(`vat ${this.#ctx.vatId} is closed`);
  }

  push(peer: VatId, msg: VatMessage): void {
    this.#ctx.keeper.pushOutbound(peer, msg);
    this.wakeSet.add(peer);
  }
}
