/**
 * Deciding (R3, S4): a block is decided when its child is certified and the child's round is the
 * block's round + 1; its undecided ancestors are decided with it, in height order. The decided
 * chain only grows: the new blocks must extend the decided tip, else the member halts (that
 * needs more than f Byzantine members).
 *
 * Reconfiguration: a `reconfigure` input that the hook accepts ends its epoch. It must be the
 * last input of its block, the blocks after it in that epoch carry no inputs (they only decide
 * it), and once its block is decided at height H the next epoch starts with the new
 * configuration: its root is that block, its rounds start at 1, heights continue at H + 1, and
 * only the new members' signatures count. Undecided blocks of the old epoch are dropped (they
 * are empty). (Tendermint applies a change decided at H from H + 2, because its H + 1 is
 * already under way when H is decided; here the pipelined blocks after the change stay empty,
 * so H + 1 can be the new epoch's first.) A member removed by the change becomes a learner; a
 * learner added becomes a voter.
 */
import { checkArithmetic } from '../config.ts';
import { rootQC } from './certificates.ts';
import { onMessage } from './replica.ts';
import { restoreSafety } from './restart.ts';
import { type BlockRecord, blockBytes, type ReplicaState } from './state.ts';
import type { CommitProof } from './types.ts';

/** Decides `tip` and its undecided ancestors, in height order (R3, S4). */
export function decide(s: ReplicaState, tip: BlockRecord, proof: CommitProof): undefined {
  const chain: BlockRecord[] = [];
  let r: BlockRecord | undefined = tip;
  while (r !== undefined && r.height > s.decidedTip.height) {
    chain.push(r);
    r = s.blocks.get(r.parent);
  }
  if (r === undefined || r.id !== s.decidedTip.id) {
    return s.halt(
      `safety violation: a certified chain at height ${tip.height} does not extend the decided block at height ${s.decidedTip.height}`,
    );
  }
  chain.reverse();
  // A reconfiguration ends the epoch: the blocks after it (empty) are certified but never
  // decided; the proof keeps them as links from it to the certified child.
  const end = chain.findIndex((rec) => rec.reconfig);
  const links = end < 0 ? [] : chain.slice(end + 1).map((rec) => rec.block!);
  const shown = links.length > 0 ? { ...proof, links } : proof;
  for (const rec of end < 0 ? chain : chain.slice(0, end + 1)) {
    decideOne(s, rec, shown);
    if (rec.reconfig) return nextEpoch(s, rec);
  }
  prune(s);
}

export function decideOne(s: ReplicaState, rec: BlockRecord, proof: CommitProof): undefined {
  const block = rec.block!;
  s.emit({
    type: 'decide',
    epoch: rec.epoch,
    round: rec.round,
    height: rec.height,
    blockId: rec.id,
    inputs: block.inputs,
    block,
    proof,
  });
  for (const input of block.inputs) s.pool.decided(input);
  if (s.stalled) {
    s.stalled = false;
    s.emit({ type: 'resumed', height: rec.height });
  }
  s.decidedTip = rec;
  s.history.set(rec.height, { block, proof });
  s.historyBytes += blockBytes(block);
  while (
    s.history.size > 1 &&
    (s.history.size > s.keepDecided || s.historyBytes > s.keepDecidedBytes)
  ) {
    s.historyBytes -= blockBytes(s.history.get(s.oldestKept)!.block);
    s.history.delete(s.oldestKept++);
  }
}

/** Forget blocks that can no longer be decided (at or below the decided height). */
export function prune(s: ReplicaState): undefined {
  const h = s.decidedTip.height;
  for (const [id, rec] of s.blocks) {
    if (rec.height <= h && id !== s.decidedTip.id) s.blocks.delete(id);
  }
  for (const id of s.qcs.keys()) if (!s.blocks.has(id)) s.qcs.delete(id);
}

export function nextEpoch(s: ReplicaState, rec: BlockRecord): undefined {
  const input = rec.block!.inputs.at(-1)!;
  const next = s.opts.reconfigure!(s.config, input, rec.height);
  if (typeof next === 'string' || next.epoch !== s.epoch + 1) {
    return s.halt(`reconfiguration hook is not deterministic at height ${rec.height}`);
  }
  try {
    checkArithmetic(next.members.length, next.threshold);
  } catch (err) {
    return s.halt(`reconfiguration to an unsafe configuration: ${(err as Error).message}`);
  }
  s.configs.set(next.epoch, next);
  s.config = next;
  s.epochRoot = rec.id;
  s.blocks = new Map([[rec.id, rec]]);
  s.qcs = new Map();
  s.highQC = rootQC(next, rec.id);
  s.highQCFrom = undefined;
  s.round = 1;
  s.highestVotedRound = 0;
  restoreSafety(s);
  s.proposedRound = 0;
  s.lastTC = undefined;
  s.consecutiveTimeouts = 0;
  s.suspects.clear();
  s.myTimeout = undefined;
  s.votes = new Map();
  s.votedBy = new Map();
  s.proposalsSeen = new Map();
  s.timeouts = new Map();
  s.deferred = undefined;
  s.awaiting = new Map();
  s.syncInFlight.clear();
  s.emit({ type: 'epoch', config: next, since: rec.height + 1, root: rec.id });
  const future = s.future;
  s.future = [];
  for (const f of future) {
    if (f.epoch === s.epoch) onMessage(s, f.from, f.message);
    else if (f.epoch > s.epoch) s.future.push(f);
  }
}
