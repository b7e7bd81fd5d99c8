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
  /** Each current member's highest verified ack and its signature. */
  readonly #highest = new Map<VatId, { ack: number; signature: Uint8Array }>();
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
    if (ack <= (this.#highest.get(signer)?.ack ?? 0)) return result('stale');
    if (
      !verifyMemberSignature(signer, ackStatement(this.#config.quorum, this.#peer, ack), signature)
    ) {
      return result('bad-signature');
    }
    this.#highest.set(signer, { ack, signature });
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

  /**
   * Portable proof of the certified mark: k current members' signed acks, each at least as high
   * (verifyAckProof checks it anywhere). Undefined while nothing is certified from signatures.
   */
  proof(): AckProof | undefined {
    const signed = [...this.#highest]
      .filter(([, h]) => h.ack >= this.#certified)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, this.#config.threshold);
    if (this.#certified === 0 || signed.length < this.#config.threshold) return undefined;
    return {
      quorum: this.#config.quorum,
      peer: this.#peer,
      ack: this.#certified,
      acks: signed.map(([signer, h]) => ({ signer, ack: h.ack, signature: h.signature })),
    };
  }

  #recount(): void {
    const acks = [...this.#highest.values()].map((h) => h.ack).sort((a, b) => b - a);
    const kth = acks[this.#config.threshold - 1];
    if (kth !== undefined && kth > this.#certified) this.#certified = kth;
  }
}

/** k signed member acks proving that k members committed everything of `peer` up to `ack`. */
export interface AckProof {
  readonly quorum: VatId;
  readonly peer: VatId;
  readonly ack: number;
  readonly acks: readonly {
    readonly signer: VatId;
    readonly ack: number;
    readonly signature: Uint8Array;
  }[];
}

/** True if k distinct members of `config` signed acks of `proof.peer` at or above `proof.ack`. */
export function verifyAckProof(config: QuorumConfig, proof: AckProof): boolean {
  if (proof.quorum !== config.quorum || !Array.isArray(proof.acks)) return false;
  const signers = new Set<VatId>();
  for (const a of proof.acks) {
    if (
      typeof a?.signer !== 'string' ||
      memberIndex(config, a.signer) < 0 ||
      signers.has(a.signer)
    ) {
      return false;
    }
    if (!Number.isSafeInteger(a.ack) || a.ack < proof.ack || !(a.signature instanceof Uint8Array)) {
      return false;
    }
    if (
      !verifyMemberSignature(a.signer, ackStatement(config.quorum, proof.peer, a.ack), a.signature)
    ) {
      return false;
    }
    signers.add(a.signer);
  }
  return signers.size >= config.threshold;
}
