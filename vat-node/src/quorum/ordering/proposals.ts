/**
 * Proposals: the leader of a round proposes one block extending its highest QC (with the TC of
 * the previous round when that round timed out); members check a received proposal (leader,
 * signature, justify QC, TC, batch rules) and hold it, waiting for unseen inputs or for an
 * unknown parent (fetched by sync). Submitted inputs go to the pool and may complete a
 * proposal that waited for them.
 */
import type { VatId } from '../../protocol/identity.ts';
import { isMember } from '../config.ts';
import { branchOf, checkBatch, reconfigures, record } from './batch.ts';
import { checkQC, checkTC } from './certificates.ts';
import { checkInput } from './codec.ts';
import type { BlockRecord, ProposalMessage, ReplicaState } from './state.ts';
import { blockIdOf, inputDigest, proposalStatement } from './statements.ts';
import { requestSync } from './sync.ts';
import type { Block, Input } from './types.ts';
import {
  maybeVote,
  onCertified,
  onQC,
  onTC,
  provenProposal,
  reportEquivocation,
} from './voting.ts';

const MAX_AWAITING = 64;

export function onProposal(s: ReplicaState, from: VatId, m: ProposalMessage): undefined {
  const b = m.block;
  if (b.proposer !== from) return s.reject(from, 'proposal relayed by another peer');
  if (!isMember(s.config, from)) return s.reject(from, 'proposer is not a member');
  if (b.round < 1) return s.reject(from, 'proposal of round 0');
  if (s.leaderOf(b.round) !== from) {
    return s.reject(from, `not the leader of round ${b.round}`);
  }
  const digests = b.inputs.map(inputDigest);
  const id = blockIdOf(s.quorum, b, digests);
  if (s.blocks.has(id)) return; // a replay of a block we hold
  if (!s.crypto.verify(from, proposalStatement(s.quorum, b.epoch, b.round, id), m.sig)) {
    return s.reject(from, 'bad proposal signature');
  }
  s.suspects.delete(from);
  // What a vote said the leader proposed is only a claim until its signature checks out: a
  // Byzantine voter must not be able to make us refuse the real proposal.
  const seen = s.proposalsSeen.get(b.round);
  if (seen !== undefined && seen.blockId !== id && provenProposal(s, b.round, seen)) {
    reportEquivocation(s, 'proposal', from, b.round, seen, { blockId: id, sig: m.sig });
    return s.reject(from, `second proposal for round ${b.round}`);
  }
  s.proposalsSeen.set(b.round, { blockId: id, sig: m.sig, verified: true });
  const qcProblem = checkQC(s, b.justify);
  if (qcProblem !== undefined) return s.reject(from, `proposal justify: ${qcProblem}`);
  if (b.parent !== b.justify.blockId) {
    return s.reject(from, 'proposal parent is not its certified block');
  }
  if (b.round <= b.justify.round) return s.reject(from, 'proposal round not after its QC');
  if (b.tc !== undefined) {
    if (b.tc.round !== b.round - 1) return s.reject(from, 'TC is not of the previous round');
    const tcProblem = checkTC(s, b.tc);
    if (tcProblem !== undefined) return s.reject(from, `proposal TC: ${tcProblem}`);
  } else if (b.round !== b.justify.round + 1) {
    return s.reject(from, 'proposal skips rounds without a timeout certificate');
  }
  onQC(s, b.justify, from);
  if (b.tc !== undefined) onTC(s, b.tc);
  const parent = s.blocks.get(b.parent);
  // Late: at or below the decided height there is nothing left to vote on or to hold.
  if (b.height <= s.decidedTip.height) return;
  if (parent === undefined) {
    if (b.justify.round < s.decidedRound()) return; // extends an abandoned block
    if (s.awaiting.size >= MAX_AWAITING) {
      s.awaiting.delete(s.awaiting.keys().next().value!);
    }
    s.awaiting.set(b.parent, { from, message: m });
    requestSync(s, from);
    return;
  }
  if (b.height !== parent.height + 1) return s.reject(from, 'proposal height is wrong');
  const check = checkBatch(s, b, digests, parent);
  if (typeof check === 'string') return s.reject(from, `proposal refused: ${check}`);
  const rec = record(s, b, id, digests);
  insert(s, rec);
  if (check.size > 0) {
    if (b.round === s.round) s.deferred = { rec, sig: m.sig, missing: check };
    return;
  }
  maybeVote(s, rec, m.sig);
}

export function insert(s: ReplicaState, rec: BlockRecord): undefined {
  s.blocks.set(rec.id, rec);
  // Before any vote for it: a certified block must outlive its holders' restarts.
  if (rec.block !== null) s.emit({ type: 'persist-block', block: rec.block });
  const qc = s.qcs.get(rec.id);
  if (qc !== undefined) onCertified(s, rec, qc);
  const waiting = s.awaiting.get(rec.id);
  if (waiting !== undefined) {
    s.awaiting.delete(rec.id);
    onProposal(s, waiting.from, waiting.message);
  }
}

export function maybePropose(s: ReplicaState): undefined {
  if (!s.isMember || s.haltReason !== undefined) return;
  if (s.leaderOf(s.round) !== s.self || s.proposedRound >= s.round) return;
  if (s.highestVotedRound >= s.round) return;
  const qc = s.highQC;
  const viaTC = s.round !== qc.round + 1;
  if (viaTC && s.lastTC?.round !== s.round - 1) return;
  const parent = s.blocks.get(qc.blockId);
  if (parent === undefined) {
    if (s.highQCFrom !== undefined) requestSync(s, s.highQCFrom);
    return;
  }
  const branch = branchOf(s, parent);
  if (typeof branch === 'string') return;
  const height = parent.height + 1;
  const picked = branch.reconfig
    ? []
    : s.pool.pick(branch.next, s.maxBatch, s.maxBatchBytes, (input) =>
        reconfigures(s, input, height),
      );
  if (picked.length === 0 && !branch.hasInputs) return;
  const block: Block = {
    epoch: s.epoch,
    round: s.round,
    height: parent.height + 1,
    parent: parent.id,
    proposer: s.self,
    justify: qc,
    ...(viaTC ? { tc: s.lastTC! } : {}),
    inputs: picked.map((e) => e.input),
  };
  const digests = picked.map((e) => e.digest);
  const id = blockIdOf(s.quorum, block, digests);
  const sig = s.crypto.sign(proposalStatement(s.quorum, s.epoch, s.round, id));
  s.proposedRound = s.round;
  s.proposalsSeen.set(s.round, { blockId: id, sig, verified: true });
  s.broadcast({ type: 'proposal', block, sig });
  const rec = record(s, block, id, digests);
  insert(s, rec);
  maybeVote(s, rec, sig);
}

export function onSubmit(s: ReplicaState, raw: Input): undefined {
  if (s.haltReason !== undefined) return;
  const input = checkInput(raw);
  if (typeof input === 'string') return s.reject(raw?.from ?? '?', input);
  const added = s.pool.add(input);
  if (!added.ok) {
    if (added.reason !== undefined) s.reject(input.from, added.reason);
    return;
  }
  const { key, digest } = added;
  const d = s.deferred;
  if (d !== undefined) {
    const missingKey = `${key}\u0000${input.seq}`;
    if (d.missing.get(missingKey) === digest) {
      d.missing.delete(missingKey);
      if (d.missing.size === 0) {
        s.deferred = undefined;
        maybeVote(s, d.rec, d.sig);
      }
    }
  }
}
