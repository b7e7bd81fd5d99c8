/**
 * Strikes and bans for peers that send bad input. One bad frame may be a bug or a glitch; a
 * peer that keeps sending them is banned for a while so it cannot keep us busy verifying.
 */
import type { VatId } from '../protocol/identity.ts';
import { DEFAULT_PENALTIES } from './defaults.ts';

export interface PenaltyPolicy {
  /** Strikes that earn a ban. */
  readonly maxStrikes: number;
  readonly banMs: number;
  readonly now?: () => number;
}

/** Bound on the peers we remember, so a flood of fresh identities cannot grow the map forever. */
const MAX_TRACKED = 10_000;

interface Record {
  strikes: number;
  bannedUntil: number;
}

export class Penalties {
  readonly #policy: PenaltyPolicy;
  readonly #peers = new Map<VatId, Record>();

  constructor(policy: PenaltyPolicy = DEFAULT_PENALTIES) {
    this.#policy = policy;
  }

  #now(): number {
    return (this.#policy.now ?? Date.now)();
  }

  /** Counts one strike; returns true if this strike got the peer banned. */
  strike(peer: VatId): boolean {
    let rec = this.#peers.get(peer);
    if (rec === undefined) {
      if (this.#peers.size >= MAX_TRACKED) {
        const oldest = this.#peers.keys().next().value;
        if (oldest !== undefined) this.#peers.delete(oldest);
      }
      rec = { strikes: 0, bannedUntil: 0 };
      this.#peers.set(peer, rec);
    }
    rec.strikes++;
    if (rec.strikes >= this.#policy.maxStrikes) {
      rec.strikes = 0;
      rec.bannedUntil = this.#now() + this.#policy.banMs;
      return true;
    }
    return false;
  }

  strikes(peer: VatId): number {
    return this.#peers.get(peer)?.strikes ?? 0;
  }

  isBanned(peer: VatId): boolean {
    const rec = this.#peers.get(peer);
    return rec !== undefined && rec.bannedUntil > this.#now();
  }

  /** Milliseconds until the ban on `peer` ends (0 if not banned). */
  banRemainingMs(peer: VatId): number {
    const rec = this.#peers.get(peer);
    return rec === undefined ? 0 : Math.max(0, rec.bannedUntil - this.#now());
  }
}
