/**
 * What a vat node reports about itself: one typed event per thing an operator may need to
 * know, emitted by the part that saw it (kernel, vattp, store, node) into an EventSink. The
 * emitters never format log lines; the vat node turns events into pino lines (log.ts), tests
 * collect them, metrics may count them. Quiet when healthy: nothing here fires per message.
 */
import type { ProtocolErrorCode } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';

export type VatEvent =
  // ---- kernel
  /** A crank failed and left no trace (gas, a throw, a dead worker); its result is rejected. */
  | {
      readonly type: 'crank-aborted';
      /** The delivery's type ('message', 'notify', 'startVat', ...). */
      readonly delivery: string;
      readonly reason: string;
      readonly gas?: number;
    }
  /** The vat's contract could not be loaded into a fresh worker: the vat runs no cranks. */
  | { readonly type: 'vat-start-failed'; readonly reason: string }
  /**
   * A message could not be delivered and has no result promise to reject with the reason (a
   * sendOnly to a promise settled to data or rejected, or to an object that is gone).
   */
  | {
      readonly type: 'message-undeliverable';
      readonly target: string;
      readonly method: string | null;
      readonly reason: string;
    }
  /**
   * A message (a send without a result, or a settlement, sent as a rejection instead) would be
   * larger than a VatTP frame can carry: it was not queued for `peer`.
   */
  | {
      readonly type: 'message-too-large';
      readonly peer: VatId;
      /** The target vref (a send) or the promise settled (a resolution). */
      readonly target: string;
      readonly method: string | null;
      readonly bytes: number;
      readonly maxBytes: number;
      readonly reason: string;
    }
  /**
   * A client that left while owed messages did not come back within the retention period:
   * what it was owed is dropped, the promises it decided are rejected (departures.ts).
   */
  | {
      readonly type: 'peer-forgotten';
      readonly peer: VatId;
      readonly departedMs: number;
      /** Outbound messages dropped. */
      readonly messages: number;
      /** Inbound messages of it that waited for handoff takes, dropped. */
      readonly held: number;
      /** Pending promises it decided, rejected. */
      readonly rejected: number;
    }
  /** The kernel refused a message a peer sent once it came to handle it (the link stays up). */
  | {
      readonly type: 'peer-message-refused';
      readonly peer: VatId;
      readonly code: ProtocolErrorCode;
      readonly reason: string;
    }
  /** The vat could not checkpoint for a long time; `held` says what keeps it busy. */
  | { readonly type: 'checkpoint-waiting'; readonly reason: string; readonly held?: string }
  // ---- store
  /** A commit failed (disk full, read-only, damaged file): the kernel refuses new work. */
  | { readonly type: 'store-failed'; readonly reason: string }
  // ---- vattp
  /** A peer's frame broke the protocol: its stream is closed and it gets a strike. */
  | {
      readonly type: 'peer-input-rejected';
      readonly peer: VatId;
      readonly code: ProtocolErrorCode;
      readonly reason: string;
    }
  /** Too many strikes: the peer is refused for `banMs`. */
  | { readonly type: 'peer-banned'; readonly peer: VatId; readonly banMs: number }
  /** Messages are owed to a peer that cannot be dialled: retried with backoff (once per outage). */
  | { readonly type: 'peer-unreachable'; readonly peer: VatId; readonly err: string }
  /** The outage is over. */
  | { readonly type: 'peer-reachable'; readonly peer: VatId; readonly downMs: number }
  /** Unreachable for giveUpMs: no longer dialled; `owed` messages wait until it connects. */
  | {
      readonly type: 'peer-given-up';
      readonly peer: VatId;
      readonly downMs: number;
      readonly owed: number;
    }
  /** A client (it listens nowhere) left while owed messages: they wait for it (debug). */
  | { readonly type: 'client-gone'; readonly peer: VatId }
  /** One more failed dial during an outage (debug). */
  | {
      readonly type: 'connect-retry-failed';
      readonly peer: VatId;
      readonly err: string;
      readonly delayMs: number;
    }
  /** Only an ack was owed and the peer is gone: not retried (debug). */
  | { readonly type: 'ack-undelivered'; readonly peer: VatId; readonly err: string }
  /** Messages out, peer silent for stallMs: the link is dropped and redialled (debug). */
  | { readonly type: 'link-stalled'; readonly peer: VatId; readonly stallMs: number }
  /** An outbound message larger than a frame: the link stalls before it (a kernel bug). */
  | {
      readonly type: 'delivery-undeliverable';
      readonly peer: VatId;
      readonly seq: number;
      readonly maxFrameBytes: number;
    }
  /** Sending to a peer failed for a reason of ours, not the network's. */
  | { readonly type: 'send-failed'; readonly peer: VatId; readonly err: string }
  /** Handling a peer's frame failed for a reason of ours (no strike; the peer resends). */
  | { readonly type: 'inbound-failed'; readonly peer: VatId; readonly err: string }
  /** Inbound frames refused because the vat takes no new work (its store failed); once (debug). */
  | { readonly type: 'inbound-refused'; readonly peer: VatId; readonly err: string }
  /** The kernel woke the transport for something that is not a VatID. */
  | { readonly type: 'wake-ignored'; readonly peer: string }
  // ---- quorum client (quorum/client/): talking to quorum vats through their members
  /** A quorum's configuration chain was learned (or grew), verified from its VatID. */
  | {
      readonly type: 'quorum-chain-learned';
      readonly quorum: VatId;
      readonly epoch: number;
      readonly n: number;
      readonly k: number;
    }
  /** No member of a quorum we must reach served its chain; retried with backoff (once per outage). */
  | { readonly type: 'quorum-chain-unavailable'; readonly quorum: VatId; readonly err: string }
  /**
   * A member sent two different contents for one seq: both signed frames (base64url wire bytes)
   * are the evidence; the member is ignored from then on. Once per member.
   */
  | {
      readonly type: 'quorum-equivocation';
      readonly quorum: VatId;
      readonly member: VatId;
      readonly seq: number;
      readonly frames: readonly string[];
    }
  /** A host's frames are refused: it is not a member of the quorum's current configuration. */
  | {
      readonly type: 'quorum-member-refused';
      readonly peer: VatId;
      readonly quorum?: VatId;
      readonly reason: string;
    }
  // ---- discovery (vattp/bootstrap.ts)
  /** A configured bootstrap address cannot be reached: retried with backoff (once per outage). */
  | { readonly type: 'bootstrap-unreachable'; readonly bootstrap: string; readonly err: string }
  /** It is back. */
  | { readonly type: 'bootstrap-reachable'; readonly bootstrap: string; readonly downMs: number }
  /** One more failed try during an outage (debug). */
  | { readonly type: 'bootstrap-retry-failed'; readonly bootstrap: string; readonly err: string }
  // ---- quorum member (quorum/member/)
  /** This node serves as a member of quorum vat `quorum`; what it tolerates, stated. */
  | {
      readonly type: 'quorum-member-started';
      readonly quorum: VatId;
      readonly name: string;
      readonly epoch: number;
      readonly members: number;
      readonly threshold: number;
      readonly byzantine: number;
      readonly crashes: number;
      /** The last agreed batch this member had executed (0: a fresh member). */
      readonly height: number;
    }
  /** No agreed progress for several view timeouts (fewer than k members reachable): once. */
  | {
      readonly type: 'quorum-stalled';
      readonly quorum: VatId;
      readonly round: number;
      readonly height: number;
      readonly reason: string;
    }
  /** Deciding again after quorum-stalled. */
  | { readonly type: 'quorum-resumed'; readonly quorum: VatId; readonly height: number }
  /** The ordering moved to a round with another leader (debug). */
  | {
      readonly type: 'quorum-leader';
      readonly quorum: VatId;
      readonly round: number;
      readonly leader: VatId;
    }
  /**
   * This member stopped executing: its transcript diverged from the agreed one, a backstop
   * (time, memory) aborted a delivery the others ran, its store failed, or more than f members
   * misbehaved. Said once; an operator rebuilds it from the others.
   */
  | { readonly type: 'quorum-halted'; readonly quorum: VatId; readonly reason: string }
  /** A member signed two statements that cannot both be honest (kept as evidence). */
  | {
      readonly type: 'quorum-evidence';
      readonly quorum: VatId;
      readonly kind: string;
      readonly signer: VatId;
      readonly epoch: number;
      /** The round (proposal, vote) or height (checkpoint, transcript) of the statements. */
      readonly at: number;
    }
  /** An ordering message from a peer was refused (debug: peers retry, sync repeats). */
  | {
      readonly type: 'quorum-message-rejected';
      readonly quorum: VatId;
      readonly peer: VatId;
      readonly reason: string;
    }
  /** This member is too far behind for its peers' decided blocks: it needs a checkpoint. */
  | {
      readonly type: 'quorum-state-transfer-needed';
      readonly quorum: VatId;
      readonly fromHeight: number;
      readonly oldestKept: number;
    }
  /** This host installed another member's stable checkpoint (state transfer, at start). */
  | {
      readonly type: 'quorum-state-restored';
      readonly quorum: VatId;
      /** The member that served it. */
      readonly peer: VatId;
      readonly height: number;
      readonly epoch: number;
      readonly rows: number;
      readonly bytes: number;
      /** This host's decided tip before. */
      readonly fromHeight: number;
    }
  /** A member's snapshot failed its checks (or its transfer failed): the next member is asked. */
  | {
      readonly type: 'quorum-snapshot-refused';
      readonly quorum: VatId;
      readonly peer: VatId;
      readonly reason: string;
    }
  /** A membership change was decided: the configuration of `epoch` is in force from `since`. */
  | {
      readonly type: 'quorum-epoch';
      readonly quorum: VatId;
      readonly epoch: number;
      readonly since: number;
      readonly members: number;
      readonly threshold: number;
      /** This host in the new epoch. */
      readonly role: 'member' | 'learner' | 'none';
    }
  /** k members certified the change record of `epoch`: the chain verifies to it. */
  | {
      readonly type: 'quorum-change-certified';
      readonly quorum: VatId;
      readonly epoch: number;
      readonly position: number;
    };

export type VatEventType = VatEvent['type'];

/** Where events go. Must not throw; must be cheap (it runs on the kernel's and transport's paths). */
export type EventSink = (event: VatEvent) => void;

/** A sink that drops everything (tests and tools that do not care). */
export const ignoreEvents: EventSink = () => {};

/** A sink that keeps events in an array (tests). */
export function collectEvents(): { sink: EventSink; events: VatEvent[] } {
  const events: VatEvent[] = [];
  return { sink: (e) => events.push(e), events };
}
