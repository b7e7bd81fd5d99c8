/**
 * What `quorumvat quorum status` and a member's logs show about a quorum: its configuration now,
 * both fault-tolerance numbers, and the chain as a document anyone can re-verify from the VatID.
 */

import type { VatId } from '../protocol/identity.ts';
import { ChainError, type ChainRecord, ConfigChain } from './chain.ts';
import {
  describeFaultTolerance,
  type FaultTolerance,
  type Genesis,
  toleranceOf,
} from './config.ts';

export interface QuorumStatus {
  readonly quorum: VatId;
  readonly name: string;
  readonly epoch: number;
  readonly members: readonly VatId[];
  /** Hosts catching up without a vote (admitted by the chain). */
  readonly learners: readonly VatId[];
  readonly threshold: number;
  /** First order position of the current epoch. */
  readonly since: number;
  /** Configuration changes since genesis. */
  readonly changes: number;
  readonly tolerance: FaultTolerance;
  /** e.g. "4 members, threshold 3: tolerates 1 Byzantine and 1 crashed (quorums intersect in 2)". */
  readonly summary: string;
}

export function quorumStatus(chain: ConfigChain): QuorumStatus {
  const c = chain.current;
  const tolerance = toleranceOf(c);
  return {
    quorum: c.quorum,
    name: c.name,
    epoch: c.epoch,
    members: c.members,
    learners: c.learners,
    threshold: c.threshold,
    since: c.since,
    changes: chain.records.length,
    tolerance,
    summary: describeFaultTolerance(tolerance),
  };
}

/** The chain as one JSON document: genesis and records, checkable from the VatID alone. */
export interface ChainDocument {
  readonly quorum: VatId;
  readonly genesis: Genesis;
  readonly records: readonly ChainRecord[];
}

export function chainDocument(chain: ConfigChain): ChainDocument {
  return { quorum: chain.quorum, genesis: chain.genesis, records: chain.records };
}

/**
 * Parses and verifies a chain document. With `expected`, the document must be about that
 * quorum VatID (otherwise anyone could hand over a valid chain of another quorum). Throws
 * ChainError with the reason (and the index of the bad record).
 */
export function readChainDocument(text: string, expected?: VatId): ConfigChain {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ChainError('malformed', 'chain document: not JSON');
  }
  const d = doc as Partial<ChainDocument> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.quorum !== 'string' ||
    !Array.isArray(d.records)
  ) {
    throw new ChainError('malformed', 'chain document: {quorum, genesis, records}');
  }
  if (expected !== undefined && d.quorum !== expected) {
    throw new ChainError('wrong-quorum', `chain document of ${d.quorum}, not ${expected}`);
  }
  return new ConfigChain(d.quorum, d.genesis, d.records);
}

/** Human-readable status lines (CLI). */
export function statusLines(s: QuorumStatus): string[] {
  return [
    `quorum ${s.name} ${s.quorum}`,
    `epoch ${s.epoch} (since order position ${s.since}, ${s.changes} change${s.changes === 1 ? '' : 's'} since genesis)`,
    s.summary,
    ...s.members.map((m, i) => `  member ${i} ${m}`),
    ...s.learners.map((l) => `  learner ${l}`),
  ];
}
