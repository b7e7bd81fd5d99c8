/**
 * Acks FROM a quorum vat's members, for our messages to the quorum. Pure logic.
 *
 * Every frame member M sends us carries `ack`: the highest of our seqs M has committed (after
 * the agreed order delivered them). The frame is signed by M's host key and the transport
 * checked it, so for our own decision (when may the kernel forget a message?) the frame is
 * enough; ack.ts has the portable, separately signed form for proofs to third parties.
 *
 * The quorum's mark is the k-th highest ack among the CURRENT members: k members (at least one
 * honest) committed everything up to it, so the message is decided and will be executed by every
 * honest member. A lying member can raise only its own entry; with at most f < k liars the k-th
 * highest is still some honest member's ack. The mark never goes down.
 */
import type { VatId } from '../../protocol/identity.ts';
import { memberIndex, type QuorumConfig } from '../config.ts';

export class MemberAcks {
  #config: QuorumConfig;
  readonly #highest = new Map<VatId, number>();
  #certified: number;

  constructor(config: QuorumConfig, certified = 0) {
    this.#config = config;
    this.#certified = certified;
  }

  get certified(): number {
    return this.#certified;
  }

  /** Member `member`'s ack; returns the new mark if it rose, else undefined. */
  offer(member: VatId, ack: number): number | undefined {
    if (memberIndex(this.#config, member) < 0 || !Number.isSafeInteger(ack)) return undefined;
    if (ack <= (this.#highest.get(member) ?? 0)) return undefined;
    this.#highest.set(member, ack);
    return this.#recount();
  }

  /** A member proven faulty (or gone): its acks stop counting. */
  forget(member: VatId): void {
    this.#highest.delete(member);
  }

  /** A newer configuration: removed members' acks stop counting; returns the mark if it rose. */
  setConfig(config: QuorumConfig): number | undefined {
    if (config.epoch < this.#config.epoch) return undefined;
    this.#config = config;
    for (const m of [...this.#highest.keys()]) if (memberIndex(config, m) < 0) this.forget(m);
    return this.#recount();
  }

  #recount(): number | undefined {
    const acks = [...this.#highest.values()].sort((a, b) => b - a);
    const kth = acks[this.#config.threshold - 1];
    if (kth === undefined || kth <= this.#certified) return undefined;
    this.#certified = kth;
    return kth;
  }
}
