/**
 * The narrow interface between a vat's kernel and whatever carries its messages (an in-process
 * link in tests, VatTP over libp2p in a vat node). The kernel does not know which.
 *
 * Responsibility for a message moves with the ACK: the kernel keeps every outbound message in
 * its (durable) outbox until the peer acknowledges it, and the peer acknowledges only messages
 * whose delivery it has committed. Sequence numbers, the outbox and the inbound high-water
 * mark belong to the kernel (they commit in the same transaction as the crank that made them);
 * the transport frames, signs, batches, (re)connects and retransmits.
 */
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';

/** A sequenced message with, optionally, its sender's own signature (see receive). */
export interface AuthSequenced extends Sequenced {
  readonly auth?: Uint8Array;
}

/** What the kernel offers the transport. */
export interface KernelPort {
  readonly vatId: VatId;
  /**
   * A message arrived from `peer`. Returns 'accepted' if it was queued (it will be committed
   * by a later crank), 'duplicate' if seq was already accepted (drop it, but re-ack).
   * Throws a ProtocolError for anything malformed or out of order (seq gap).
   * `auth`: the sender's own signature over the message, present on messages to a quorum
   * member (quorum/client/auth.ts); a port that has no use for it ignores it.
   */
  receive(peer: VatId, seq: number, msg: VatMessage, auth?: Uint8Array): 'accepted' | 'duplicate';
  /**
   * Optional: the signed bytes of the verified frame from `peer` whose ack and messages are
   * handed over next (a quorum client keeps a member's frames as portable evidence).
   */
  signedFrame?(peer: VatId, signed: Uint8Array, signature: Uint8Array): void;
  /** Highest inbound seq from `peer` whose delivery is committed: what we may ack. */
  committedInbound(peer: VatId): number;
  /** The peer acknowledged everything up to and including `seq`: forget those messages. */
  acked(peer: VatId, seq: number): void;
  /**
   * Unacknowledged outbound messages for `peer` with seq > afterSeq, in order (to a quorum
   * member each may carry the sender's `auth`, which the frame then carries).
   */
  unacked(peer: VatId, afterSeq: number): readonly AuthSequenced[];
  /** Whether `unacked(peer, afterSeq)` is non-empty, without copying anything. */
  owed(peer: VatId, afterSeq: number): boolean;
  /**
   * `peer` is a client that left while messages were owed to it: the transport no longer
   * dials it. The kernel keeps what it is owed for a retention period, then forgets it
   * (kernel/departures.ts). Optional for the transport to call: one that never parks a peer
   * does not.
   */
  departed?(peer: VatId): void;
  /** A departed peer connected to us again (any frame or ack from it says so too). */
  returned?(peer: VatId): void;
}

/** What the transport offers the kernel. */
export interface Transport {
  /** The kernel attaches itself; messages flow only after this. */
  attach(kernel: KernelPort): void;
  /** New messages were committed to the outbox for `peer`, or new inbound commits allow an ack. */
  wake(peer: VatId): void;
  /** Addresses where `peer` may be reached (from a sturdyref, configuration). */
  addHints?(peer: VatId, addrs: readonly string[]): void;
  close(): Promise<void>;
}
