/**
 * What one vat (solo, or a member of a quorum) keeps about the quorum vats it talks to: each
 * quorum's verified configuration chain, the combiner for its messages to us, and the ack
 * combiner for our messages to it, kept in step when the chain grows. The transport feeds it
 * what arrives from members and routes on routeOf; nothing here does I/O.
 */
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced } from '../protocol/messages.ts';
import { AckCombiner } from './ack.ts';
import { ConfigChain, checkRecord } from './chain.ts';
import { isQuorumVatId } from './config.ts';
import type { ChainOf } from './handoff.ts';
import { type OfferResult, OutboundCombiner, type SignedOutbound } from './outbound.ts';
import { type QuorumStatus, quorumStatus } from './status.ts';
import type { SignedAck } from './wire.ts';

export interface PeerStart {
  readonly genesis: unknown;
  readonly records?: readonly unknown[];
  /** Highest seq from this quorum already committed here (the kernel's inbound mark). */
  readonly delivered?: number;
  /** Highest seq of ours this quorum has certified as committed (the kernel's acked mark). */
  readonly acked?: number;
}

export class QuorumPeers {
  readonly #self: VatId;
  readonly #chains = new Map<VatId, ConfigChain>();
  readonly #inbound: OutboundCombiner;
  readonly #acks = new Map<VatId, AckCombiner>();

  constructor(self: VatId, memberBytes?: number) {
    this.#self = self;
    this.#inbound = new OutboundCombiner({
      receiver: self,
      ...(memberBytes === undefined ? {} : { memberBytes }),
    });
  }

  /** Starts talking to a quorum: its chain is verified from the VatID (throws ChainError). */
  add(quorum: VatId, start: PeerStart): void {
    if (this.#chains.has(quorum)) return;
    const chain = new ConfigChain(quorum, start.genesis, start.records ?? []);
    this.#chains.set(quorum, chain);
    this.#inbound.setConfig(chain.current, start.delivered ?? 0);
    this.#acks.set(quorum, new AckCombiner(this.#self, chain.current, start.acked ?? 0));
  }

  known(quorum: VatId): boolean {
    return this.#chains.has(quorum);
  }

  /** For handoff.ts: the verified chain of a quorum we know. */
  readonly chainOf: ChainOf = (quorum) => this.#chains.get(quorum);

  /**
   * A configuration record from anyone (records are self-certifying). Appends it if it is the
   * next one of a quorum we know; moves both combiners to the new configuration, returning the
   * messages the new configuration already certifies. A record we already have is 'duplicate';
   * one from the future (a gap) is 'ahead' (ask for the records in between); a forged one
   * throws ChainError.
   */
  learn(record: unknown): {
    outcome: 'appended' | 'duplicate' | 'ahead' | 'unknown-quorum';
    delivered: readonly Sequenced[];
  } {
    const r = checkRecord(record);
    const chain = this.#chains.get(r.request.quorum);
    if (chain === undefined) return { outcome: 'unknown-quorum', delivered: [] };
    if (r.request.epoch > chain.current.epoch) return { outcome: 'ahead', delivered: [] };
    if (chain.append(r) === 'duplicate') return { outcome: 'duplicate', delivered: [] };
    const delivered = this.#inbound.setConfig(chain.current);
    this.#acks.get(chain.quorum)!.setConfig(chain.current);
    return { outcome: 'appended', delivered };
  }

  /** A member's signed run of the quorum's messages to us. */
  offerOutbound(signed: SignedOutbound, messages: readonly Sequenced[]): OfferResult {
    return this.#inbound.offer(signed, messages);
  }

  /** A member's signed ack of our messages; returns the quorum's certified mark. */
  offerAck(ack: SignedAck): { outcome: string; certified: number } {
    const combiner = this.#acks.get(ack.quorum);
    if (combiner === undefined || ack.peer !== this.#self) {
      return { outcome: 'unknown-quorum', certified: 0 };
    }
    return combiner.offer(ack.signer, ack.ack, ack.signature);
  }

  /**
   * Where a message to `vatId` goes: the vat itself, or every member of a quorum's current
   * configuration (never one member only: it could censor). Undefined for a quorum we do not
   * know (its chain must be learned first, never guessed).
   */
  routeOf(vatId: VatId): readonly VatId[] | undefined {
    if (!isQuorumVatId(vatId)) return [vatId];
    return this.#chains.get(vatId)?.current.members;
  }

  status(quorum: VatId):
    | (QuorumStatus & {
        readonly delivered: number;
        readonly pending: number;
        readonly acked: number;
        readonly equivocators: readonly VatId[];
      })
    | undefined {
    const chain = this.#chains.get(quorum);
    if (chain === undefined) return undefined;
    return {
      ...quorumStatus(chain),
      delivered: this.#inbound.delivered(quorum) ?? 0,
      pending: this.#inbound.pendingCount(quorum),
      acked: this.#acks.get(quorum)!.certified,
      equivocators: this.#inbound.evidence(quorum).map((e) => e.member),
    };
  }
}
