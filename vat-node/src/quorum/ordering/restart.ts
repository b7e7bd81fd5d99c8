/**
 * Restarts: before a vote or timeout leaves, the member's highest voted round is handed out
 * to be persisted (`persist-safety`), and every undecided block before any vote for it
 * (`persist-block`, proposals.ts insert); a restarted member gets them back (`safety`, `resume`
 * with its decided tip, configurations and per-sender marks), so it never votes twice in a round
 * and a certified block survives the restarts of the members holding it. A resumed member serves
 * decisions from its resume point on; a member that lost its data catches up from genesis by
 * sync, or from a checkpoint (`state-transfer-needed`) when no peer keeps that far back.
 */
import { checkArithmetic } from '../config.ts';
import { record } from './batch.ts';
import { rootQC } from './certificates.ts';
import { type BlockRecord, blockBytes, type ReplicaOptions, type ReplicaState } from './state.ts';
import { blockIdOf, inputDigest } from './statements.ts';

/**
 * Starts from a decided tip instead of genesis (a restart): the blocks before it are not
 * kept (peers serve them), and until a peer's certificate arrives this member proposes
 * nothing (it holds no certified block to extend).
 */
export function resume(s: ReplicaState, r: NonNullable<ReplicaOptions['resume']>): undefined {
  const last = r.configs.at(-1);
  // The tip may be the block whose reconfiguration started the current epoch (its root).
  const atRoot = last !== undefined && last.epoch === r.tip.epoch + 1 && r.epochRoot === r.tip.id;
  if (last === undefined || (last.epoch !== r.tip.epoch && !atRoot) || r.configs[0]?.epoch !== 0) {
    throw new RangeError('resume: configurations must run from genesis to the tip’s epoch');
  }
  for (const [i, c] of r.configs.entries()) {
    if (c.epoch !== i || c.quorum !== s.quorum) throw new RangeError('resume: bad chain');
    checkArithmetic(c.members.length, c.threshold);
    s.configs.set(c.epoch, c);
  }
  s.config = last;
  s.epochRoot = r.epochRoot ?? s.epochRoot;
  const tip: BlockRecord = {
    ...r.tip,
    parent: '',
    block: null,
    digests: [],
    reconfig: false,
  };
  s.blocks = new Map([[tip.id, tip]]);
  s.decidedTip = tip;
  s.highQC = rootQC(last, s.epochRoot);
  s.round = last.epoch === tip.epoch ? tip.round + 1 : 1;
  s.oldestKept = tip.height + 1;
  const kept = (r.decided ?? []).filter((d) => d.block.height <= tip.height);
  if (kept.length > 0 && kept.at(-1)!.block.height === tip.height) {
    for (const d of kept) {
      s.history.set(d.block.height, { block: d.block, proof: d.proof });
      s.historyBytes += blockBytes(d.block);
    }
    s.oldestKept = kept[0]!.block.height;
  }
  s.pool.resume(r.next);
  // The undecided blocks it voted for, linked to the tip; their certificates raise highQC.
  for (const b of [...(r.blocks ?? [])].sort((x, y) => x.height - y.height)) {
    const parent = s.blocks.get(b.parent);
    if (b.epoch !== last.epoch || parent === undefined || b.height !== parent.height + 1) {
      continue;
    }
    const digests = b.inputs.map(inputDigest);
    const rec = record(s, b, blockIdOf(s.quorum, b, digests), digests);
    s.blocks.set(rec.id, rec);
    if (b.justify.round > s.highQC.round) s.highQC = b.justify;
  }
}

/** R1 across restarts: the new highest voted round is persisted before the vote leaves. */
export function raiseVoted(s: ReplicaState, round: number): undefined {
  if (round <= s.highestVotedRound) return;
  s.highestVotedRound = round;
  s.emit({
    type: 'persist-safety',
    state: { epoch: s.epoch, highestVotedRound: round, highQC: s.highQC },
  });
}

/** A restarted member catching up does not vote in epochs it had already left. */
export function beforeRestoredEpoch(s: ReplicaState): boolean {
  return s.opts.safety !== undefined && s.epoch < s.opts.safety.epoch;
}

export function restoreSafety(s: ReplicaState): undefined {
  const saved = s.opts.safety;
  if (saved !== undefined && saved.epoch === s.epoch) {
    s.highestVotedRound = Math.max(s.highestVotedRound, saved.highestVotedRound);
    if (saved.highQC.epoch === s.epoch && saved.highQC.round > s.highQC.round) {
      s.highQC = saved.highQC; // its block comes by sync if no persisted block holds it
    }
    s.round = Math.max(s.round, s.highQC.round + 1);
  }
}
