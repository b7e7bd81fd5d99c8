/**
 * Where a restarted member's ordering resumes: the decided tip its kernel executed, the
 * configurations its ordering entered up to that tip, each sender's next sequence number (the
 * kernel's committed inbound marks), and from its ordering store the undecided blocks it accepted
 * and the recent decisions it serves to peers that are behind.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { QuorumConfig } from '../config.ts';
import type { ResumeState } from '../ordering/types.ts';
import { ADMIN_REQUESTER } from './changes.ts';
import type { EpochEntry, OrderingStore } from './ordering-store.ts';

/** The last executed block (a host record of the kernel's store, in the batch's commit). */
export interface Tip {
  readonly id: string;
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
}

/** Decisions a restarted member keeps serving to peers that are behind. */
const SERVED_DECISIONS = 1_000;

export function resumeState(from: {
  readonly genesis: QuorumConfig;
  readonly tip: Tip;
  readonly epochs: ReadonlyMap<number, EpochEntry>;
  readonly inboundMarks: ReadonlyMap<VatId, number>;
  readonly store: OrderingStore;
}): ResumeState {
  const { tip, store } = from;
  // The epochs this member's ordering entered up to its tip, each from its stored entry.
  const configs: QuorumConfig[] = [from.genesis];
  let epochRoot: string | undefined;
  for (let e = 1; ; e++) {
    const entry = from.epochs.get(e);
    if (entry === undefined || entry.since - 1 > tip.height) break;
    configs.push(entry.config);
    epochRoot = entry.root;
  }
  const next = new Map<string, number>();
  for (const [peer, seq] of from.inboundMarks) next.set(`message\u0000${peer}`, seq + 1);
  // Every decided change request moved the epoch on (members order only valid ones).
  next.set(`reconfigure\u0000${ADMIN_REQUESTER}`, configs.length);
  const decided = store
    .decided(Math.max(1, tip.height - SERVED_DECISIONS))
    .filter((d) => d.height <= tip.height)
    .map((d) => ({ block: d.block, proof: d.proof }));
  return {
    configs,
    ...(epochRoot !== undefined ? { epochRoot } : {}),
    tip,
    next,
    blocks: store.blocks(),
    decided,
  };
}
