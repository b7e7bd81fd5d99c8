/**
 * The vat's transcript as a hash chain: each crank's entry (the delivery and everything the
 * vat did in response) is hashed into `sha256(previous || sha256(entry))` (store/chain.ts, the
 * same functions the durable store checks). Two runs of the same contract with the same
 * deliveries in the same order must end with the same hash; replicas of a quorum vat compare
 * it to agree on state.
 */
import type { CrankOutcome, Delivery } from '../liveslots/protocol.ts';
import { chainHash, entryJson, GENESIS_HASH } from '../store/chain.ts';

export interface TranscriptEntry {
  readonly delivery: Delivery;
  readonly outcome: CrankOutcome;
}

export interface TranscriptOptions {
  /** Where the chain continues from (a restart: the store's head). Default: genesis. */
  readonly head?: { readonly position: number; readonly hash: string };
  /**
   * Keep every entry in `entries` (tests, replay from genesis). Default true. A kernel with a
   * data directory passes false: its entries are in the store, bounded by checkpoints.
   */
  readonly keepEntries?: boolean;
}

export class Transcript {
  #hash: string;
  #length: number;
  readonly #keep: boolean;
  /** The entries since the start, when kept (see TranscriptOptions.keepEntries). */
  readonly entries: TranscriptEntry[] = [];

  constructor(options: TranscriptOptions = {}) {
    this.#hash = options.head?.hash ?? GENESIS_HASH;
    this.#length = options.head?.position ?? 0;
    this.#keep = options.keepEntries ?? true;
  }

  /** Appends one crank; returns its entry string (exactly as hashed) and the new chain hash. */
  append(delivery: Delivery, outcome: CrankOutcome): { entry: string; hash: string } {
    const entry = entryJson(delivery, outcome);
    this.#hash = chainHash(this.#hash, entry);
    this.#length++;
    if (this.#keep) this.entries.push({ delivery, outcome });
    return { entry, hash: this.#hash };
  }

  get hash(): string {
    return this.#hash;
  }

  /** Position of the last crank (cranks since genesis, across restarts). */
  get length(): number {
    return this.#length;
  }
}
