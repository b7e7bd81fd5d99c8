/**
 * Acknowledgements a quorum vat gives its senders (sender → quorum). A member signs
 *
 *   ack {quorum, peer, ack}  "I have committed every message of `peer` up to seq `ack`"
 *
 * after the agreed order delivered and it committed them. The sender's AckCombiner keeps each
 * current member's highest signed ack; the certified high-water mark is the k-th highest: at
 * least k members (so at least k − f ≥ 1 honest member, which commits only decided inputs)
 * committed everything up to it. The sender keeps each message in its outbox until the certified
 * mark covers it, then forgets it (the kernel's acked(peer, seq)).
 */

import type { VatId } from '../protocol/identity.ts';
import type { Sign } from '../vattp/signing.ts';
import { isQuorumVatId, memberIndex, type QuorumConfig } from './config.ts';
import { statementBytes, verifyMemberSignature } from './signatures.ts';

export function ackStatement(quorum: VatId, peer: VatId, ack: number): Uint8Array {
  return statementBytes('ack', { quorum, peer, ack });
}

/** A member's side: "I committed every message of `peer` up to `ack`". */
export function signAck(sign: Sign, quorum: VatId, peer: VatId, ack: number): Uint8Array {
  return sign(ackStatement(quorum, peer, ack));
}

export type AckOutcome = 'raised' | 'stale' | 'not-a-member' | 'bad-signature' | 'malformed';

/**
 * The sender's side of acknowledgements from a quorum vat: the k-certified ack high-water mark.
 * Memory: one entry per current member.
 */
export class AckCombiner {
  readonly #peer: VatId;
  #config: QuorumConfig;
  readonly #highest = new Map<VatId, number>();
  #certified = 0;

  /** `peer` is this sender's own VatID (what members acknowledge). */
  constructor(peer: VatId, config: QuorumConfig, certified = 0) {
    if (!isQuorumVatId(config.quorum))
      throw new TypeError('AckCombiner: not a quorum configuration');
    this.#peer = peer;
    this.#config = config;
    this.#certified = certified;
  }

  /** The highest seq that k current members have acknowledged. */
  get certified(): number {
    return this.#certified;
  }

  /** One member's signed ack. Returns what happened and the (possibly raised) certified mark. */
  offer(
    signer: VatId,
    ack: number,
    signature: Uint8Array,
  ): { outcome: AckOutcome; certified: number } {
    const result = (outcome: AckOutcome) => ({ outcome, certified: this.#certified });
    if (!Number.isSafeInteger(ack) || ack < 0 || Object.is(ack, -0)) return result('malformed');
    if (memberIndex(this.#config, signer) < 0) return result('not-a-member');
    if (ack <= (this.#highest.get(signer) ?? 0)) return result('stale');
    if (
      !verifyMemberSignature(signer, ackStatement(this.#config.quorum, this.#peer, ack), signature)
    ) {
      return result('bad-signature');
    }
    this.#highest.set(signer, ack);
    const before = this.#certified;
    this.#recount();
    return result(this.#certified > before ? 'raised' : 'stale');
  }

  /** A newer configuration: removed members' acks stop counting. The mark never goes down. */
  setConfig(config: QuorumConfig): number {
    if (config.quorum !== this.#config.quorum || config.epoch < this.#config.epoch)
      return this.#certified;
    this.#config = config;
    for (const m of [...this.#highest.keys()])
      if (memberIndex(config, m) < 0) this.#highest.delete(m);
    this.#recount();
    return this.#certified;
  }

  #recount(): void {
    const acks = [...this.#highest.values()].sort((a, b) => b - a);
    const kth = acks[this.#config.threshold - 1];
    if (kth !== undefined && kth > this.#certified) this.#certified = kth;
  }
}
