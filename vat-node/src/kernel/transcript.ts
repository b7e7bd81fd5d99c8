/**
 * The vat's transcript as a hash chain: each crank's entry (the delivery and everything the
 * vat did in response) is hashed into `sha256(previous || sha256(entry))`. Two runs of the same
 * contract with the same deliveries in the same order must end with the same hash; replicas
 * of a quorum vat compare it to agree on state.
 */
import { createHash } from 'node:crypto';
import type { CrankOutcome, Delivery } from '../liveslots/protocol.ts';

export interface TranscriptEntry {
  readonly delivery: Delivery;
  readonly outcome: CrankOutcome;
}

export class Transcript {
  #hash: Buffer = Buffer.alloc(32);
  #length = 0;
  /** The entries since the start (the persistence layer bounds this with checkpoints). */
  readonly entries: TranscriptEntry[] = [];

  append(delivery: Delivery, outcome: CrankOutcome): void {
    const entry = createHash('sha256')
      .update(JSON.stringify([delivery, outcome]))
      .digest();
    this.#hash = createHash('sha256').update(this.#hash).update(entry).digest();
    this.#length++;
    this.entries.push({ delivery, outcome });
  }

  get hash(): string {
    return this.#hash.toString('hex');
  }

  get length(): number {
    return this.#length;
  }
}
