/**
 * Voting and certificates (R1, R2): a member votes at most once per round, only in the current
 * round, and never in a round it timed out of (a timeout counts as its vote for that round):
 * highestVotedRound only grows. It votes for block B (round r, justify QC of round q) only if
 * r = q + 1, or B carries a TC of round r − 1 and q ≥ every highQcRound in that TC (B extends the
 * highest certificate any of the TC's k signers had). Votes are broadcast; every member forms
 * each QC itself, and reports a member that votes twice in a round or a leader that proposes
 * twice (equivocation evidence).
 */
import type { VatId } from '../../protocol/identity.ts';
import { assembleCertificate } from '../certificate.ts';
import { isMember } from '../config.ts';
import { verifyVoteSig, votersOf } from './certificates.ts';
import { decide } from './deciding.ts';
import { beforeRestoredEpoch, raiseVoted } from './restart.ts';
import {
  type BlockRecord,
  getOrAdd,
  MAX_ROUNDS_AHEAD,
  type ReplicaState,
  type VoteMessage,
} from './state.ts';
import { proposalStatement, voteStatement } from './statements.ts';
import type { BlockId, QC, TC } from './types.ts';

export function maybeVote(s: ReplicaState, rec: BlockRecord, proposalSig: Uint8Array): undefined {
  const b = rec.block;
  if (b === null || !s.isMember || s.haltReason !== undefined) return;
  if (b.round !== s.round || b.round <= s.highestVotedRound) return; // R1
  const extendsQC = b.round === b.justify.round + 1;
  const extendsTC =
    b.tc !== undefined &&
    b.tc.round === b.round - 1 &&
    b.tc.timeouts.every((t) => b.justify.round >= t.highQcRound);
  if (!extendsQC && !extendsTC) return; // R2
  if (beforeRestoredEpoch(s)) return;
  raiseVoted(s, b.round);
  s.deferred = undefined;
  const sig = s.crypto.sign(voteStatement(s.quorum, s.epoch, b.round, rec.id));
  const vote: VoteMessage = {
    type: 'vote',
    epoch: s.epoch,
    round: b.round,
    blockId: rec.id,
    signer: s.self,
    sig,
    proposalSig,
  };
  s.broadcast(vote);
  countVote(s, vote);
}

export function onVote(s: ReplicaState, from: VatId, m: VoteMessage): undefined {
  if (m.signer !== from) return s.reject(from, 'vote relayed by another peer');
  if (!isMember(s.config, from)) {
    return s.reject(from, `vote from a non-member of epoch ${s.epoch}`);
  }
  if (m.round < 1) return s.reject(from, 'vote of round 0');
  if (m.round <= s.decidedRound()) return; // late: nothing left to certify there
  if (m.round > s.round + MAX_ROUNDS_AHEAD) return s.reject(from, 'vote too far ahead');
  const prev = s.votedBy.get(m.round)?.get(from);
  if (prev !== undefined && prev.blockId === m.blockId) return; // replay
  if (!verifyVoteSig(s, from, m.epoch, m.round, m.blockId, m.sig)) {
    return s.reject(from, 'bad vote signature');
  }
  if (prev !== undefined) {
    reportEquivocation(s, 'vote', from, m.round, prev, m);
    return s.reject(from, `second vote in round ${m.round}`);
  }
  // The proposal this vote is for: evidence if the leader signed another one for the round.
  const leader = s.leaderOf(m.round);
  const seen = s.proposalsSeen.get(m.round);
  if (seen === undefined) {
    s.proposalsSeen.set(m.round, {
      blockId: m.blockId,
      sig: m.proposalSig,
      verified: false,
    });
  } else if (seen.blockId !== m.blockId) {
    const other = { blockId: m.blockId, sig: m.proposalSig };
    if (
      provenProposal(s, m.round, seen) &&
      s.crypto.verify(
        leader,
        proposalStatement(s.quorum, m.epoch, m.round, m.blockId),
        m.proposalSig,
      )
    ) {
      reportEquivocation(s, 'proposal', leader, m.round, seen, other);
    }
  }
  countVote(s, m);
}

/** Whether a remembered proposal signature is the leader's (checked lazily). */
export function provenProposal(
  s: ReplicaState,
  round: number,
  seen: { blockId: BlockId; sig: Uint8Array; verified: boolean },
): boolean {
  if (seen.verified) return true;
  const ok = s.crypto.verify(
    s.leaderOf(round),
    proposalStatement(s.quorum, s.epoch, round, seen.blockId),
    seen.sig,
  );
  if (ok) seen.verified = true;
  return ok;
}

export function reportEquivocation(
  s: ReplicaState,
  kind: 'proposal' | 'vote',
  signer: VatId,
  round: number,
  a: { blockId: BlockId; sig: Uint8Array },
  b: { blockId: BlockId; sig: Uint8Array },
): undefined {
  s.report(`${kind}|${signer}|${s.epoch}|${round}`, {
    kind,
    signer,
    epoch: s.epoch,
    round,
    a: { blockId: a.blockId, sig: a.sig },
    b: { blockId: b.blockId, sig: b.sig },
  });
}

function countVote(s: ReplicaState, m: VoteMessage): undefined {
  const by = getOrAdd(s.votedBy, m.round);
  by.set(m.signer, { blockId: m.blockId, sig: m.sig });
  const perBlock = getOrAdd(s.votes, m.round);
  const sigs = getOrAdd(perBlock, m.blockId);
  sigs.set(m.signer, m.sig);
  if (sigs.size === s.config.threshold) {
    const qc: QC = { ...assembleCertificate(s.config, sigs), round: m.round, blockId: m.blockId };
    onQC(s, qc, m.signer === s.self ? undefined : m.signer);
  }
}

/** A verified QC of this epoch: raise highQC, move to the next round, decide (R3). */
export function onQC(s: ReplicaState, qc: QC, from: VatId | undefined): undefined {
  if (qc.round > s.highQC.round) {
    s.highQC = qc;
    s.highQCFrom = from ?? votersOf(s, qc).find((v) => v !== s.self);
  }
  if (qc.round <= s.decidedRound()) return;
  if (!s.qcs.has(qc.blockId)) s.qcs.set(qc.blockId, qc);
  if (qc.round >= s.round) advance(s, qc.round + 1, true);
  const rec = s.blocks.get(qc.blockId);
  if (rec !== undefined) onCertified(s, rec, qc);
}

export function onCertified(s: ReplicaState, rec: BlockRecord, qc: QC): undefined {
  const parent = s.blocks.get(rec.parent);
  if (
    rec.block !== null &&
    parent !== undefined &&
    parent.height > s.decidedTip.height &&
    rec.round === parent.round + 1
  ) {
    decide(s, parent, { child: rec.block, qc });
  }
}

export function onTC(s: ReplicaState, tc: TC): undefined {
  if (tc.round < s.round - 1) return;
  if (tc.round >= s.round && s.proposalsSeen.get(tc.round)?.verified !== true) {
    s.suspects.add(s.leaderOf(tc.round));
  }
  if (s.lastTC === undefined || tc.round > s.lastTC.round) s.lastTC = tc;
  advance(s, tc.round + 1, false);
}

function advance(s: ReplicaState, round: number, progress: boolean): undefined {
  if (round <= s.round) return;
  s.round = round;
  if (progress) s.consecutiveTimeouts = 0;
  if (s.deferred !== undefined && s.deferred.rec.round < round) s.deferred = undefined;
  for (const map of [s.votes, s.votedBy, s.proposalsSeen, s.timeouts] as Map<number, unknown>[]) {
    for (const r of map.keys()) if (r < round - 2) map.delete(r);
  }
}
