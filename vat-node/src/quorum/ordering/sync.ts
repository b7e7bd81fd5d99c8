/**
 * Catching up: members that fall behind, and learners (non-members), pull decided segments with
 * their commit proofs, then the undecided chain (`sync` / `sync-reply`). Asked for when a
 * certificate names a block we lack, on every view timeout, and (learners) on the sync timer.
 * Every segment's commit proof is checked against the configuration of its epoch, so a learner
 * follows the configuration chain from genesis.
 */
import type { VatId } from '../../protocol/identity.ts';
import { isMember, toleranceOf } from '../config.ts';
import { record } from './batch.ts';
import { checkQC } from './certificates.ts';
import { decideOne, nextEpoch, prune } from './deciding.ts';
import { insert } from './proposals.ts';
import { blockBytes, type ReplicaState } from './state.ts';
import { blockIdOf, inputDigest } from './statements.ts';
import type { Block, BlockId, DecidedSegment, OrderingMessage } from './types.ts';
import { onQC } from './voting.ts';

const SYNC_BLOCKS = 1024;

/** A sync reply stops adding decided segments past this many bytes of inputs. */
const SYNC_BYTES = 8 << 20;

const PENDING_BLOCKS = 64;

/** A member that is behind (its timeout names a lower QC) gets our highest QC, once a round. */
export function helpLaggard(s: ReplicaState, peer: VatId, theirHighQcRound: number): undefined {
  if (theirHighQcRound >= s.highQC.round || s.helped.get(peer) === s.round) return;
  s.helped.set(peer, s.round);
  s.emit({
    type: 'send',
    to: peer,
    message: {
      type: 'sync-reply',
      segments: [],
      pending: [],
      highQC: s.highQC,
      oldestKept: null,
    },
  });
}

/**
 * A peer (re)connected, or we (re)started and found it connected. Either side may have missed
 * proposals and decisions while apart (the link is best effort), and once the others are idle
 * nothing else would tell the one behind (timeouts run only with work to do). So both sides
 * catch up: we push our highest QC (once per QC: a QC naming a block the peer lacks makes it
 * ask), and ask the peer for what follows our decided tip (a request lost on the old
 * connection is forgotten; the peer's reply trickle bounds what repeated connects cost it).
 */
export function onPeerConnected(s: ReplicaState, peer: VatId): undefined {
  if (peer === s.self || !maySync(s, peer)) return;
  s.syncInFlight.delete(peer);
  requestSync(s, peer);
  if (s.highQC.round === 0) return;
  const key = `${s.epoch}|${s.highQC.round}`;
  if (s.pushed.get(peer) === key) return;
  s.pushed.set(peer, key);
  s.emit({
    type: 'send',
    to: peer,
    message: { type: 'sync-reply', segments: [], pending: [], highQC: s.highQC, oldestKept: null },
  });
}

export function requestSync(s: ReplicaState, peer: VatId): undefined {
  if (peer === s.self || s.syncInFlight.has(peer)) return;
  s.syncInFlight.add(peer);
  s.emit({
    type: 'send',
    to: peer,
    message: { type: 'sync', fromHeight: s.decidedTip.height + 1 },
  });
}

export function maySync(s: ReplicaState, peer: VatId): boolean {
  if (s.opts.maySync !== undefined) return s.opts.maySync(peer);
  if (s.opts.learners?.includes(peer)) return true;
  for (const c of s.configs.values()) if (isMember(c, peer)) return true;
  return false;
}

export function onSync(s: ReplicaState, from: VatId, fromHeight: number): undefined {
  if (!maySync(s, from)) return s.reject(from, 'sync from a peer that is not a member');
  // A peer must not turn small requests into a stream of large replies: the same request
  // while our state is unchanged is answered only the 1st, 2nd, 4th, 8th… time (a lost reply
  // is still replaced when the peer asks again; a flood gets a logarithmic trickle).
  const state = `${fromHeight}|${s.epoch}|${s.round}|${s.decidedTip.height}`;
  const last = s.served.get(from);
  const repeats = last?.state === state ? last.repeats + 1 : 1;
  s.served.set(from, { state, repeats });
  if ((repeats & (repeats - 1)) !== 0) return;
  const top = s.decidedTip.height;
  if (fromHeight <= top && fromHeight < s.oldestKept) {
    s.emit({
      type: 'send',
      to: from,
      message: {
        type: 'sync-reply',
        segments: [],
        pending: [],
        highQC: null,
        oldestKept: s.oldestKept,
      },
    });
    return;
  }
  const segments: DecidedSegment[] = [];
  let h = Math.max(fromHeight, 1);
  let count = 0;
  let bytes = 0;
  while (h <= top && count < SYNC_BLOCKS && bytes < SYNC_BYTES && segments.length < 256) {
    const first = s.history.get(h)!;
    const blocks = [first.block];
    // One commit step shares one proof (the same certified child), restored copies included.
    const child = first.proof.qc.blockId;
    for (h++; h <= top && s.history.get(h)!.proof.qc.blockId === child; h++) {
      blocks.push(s.history.get(h)!.block);
    }
    segments.push({ blocks, proof: first.proof });
    count += blocks.length;
    for (const b of blocks) bytes += blockBytes(b);
  }
  const pending: Block[] = [];
  if (h > top) {
    let r = s.blocks.get(s.highQC.blockId);
    while (r !== undefined && r.height > top && r.block !== null) {
      pending.push(r.block);
      r = s.blocks.get(r.parent);
    }
    pending.reverse();
    pending.splice(PENDING_BLOCKS);
  }
  s.emit({
    type: 'send',
    to: from,
    message: {
      type: 'sync-reply',
      segments,
      pending,
      highQC: s.highQC.round > 0 ? s.highQC : null,
      oldestKept: null,
    },
  });
}

/**
 * A member says it no longer keeps our next height. Only a checkpoint can help then (the
 * member layer halts and installs one at its restart), but one member's word is not enough:
 * a Byzantine member could say it to every host catching up and keep them halted. The claim
 * counts once f + 1 members (of a configuration we know; f of the newest) made it at our
 * current tip, so one of them is honest; with f = 0, the first one does.
 */
function tooFarBehind(s: ReplicaState, from: VatId, oldestKept: number): undefined {
  // A member of any configuration we know (a host far behind may not know the current one).
  const configs = [...s.configs.values()];
  if (s.stateTransferReported || !configs.some((c) => isMember(c, from))) return;
  const newest = configs.reduce((a, b) => (b.epoch > a.epoch ? b : a));
  const tip = s.decidedTip.height;
  s.tooFarBehind.set(from, { tip, oldestKept });
  const claims = [...s.tooFarBehind.values()].filter((c) => c.tip === tip);
  if (claims.length < toleranceOf(newest).byzantine + 1) return;
  s.stateTransferReported = true;
  s.emit({
    type: 'state-transfer-needed',
    fromHeight: tip + 1,
    // The lowest claim: at most what an honest member keeps.
    oldestKept: Math.min(...claims.map((c) => c.oldestKept)),
  });
}

export function onSyncReply(
  s: ReplicaState,
  from: VatId,
  m: Extract<OrderingMessage, { type: 'sync-reply' }>,
): undefined {
  const solicited = s.syncInFlight.delete(from);
  if (m.oldestKept !== null) {
    if (s.decidedTip.height + 1 < m.oldestKept) tooFarBehind(s, from, m.oldestKept);
    return;
  }
  for (const seg of m.segments) {
    const problem = applySegment(s, seg);
    if (problem !== undefined) return s.reject(from, `sync: ${problem}`);
    if (s.haltReason !== undefined) return;
  }
  // A reply below every cap of onSync ran up to the peer's decided tip: we have what it had.
  if (solicited) {
    const blocks = m.segments.reduce((n, seg) => n + seg.blocks.length, 0);
    const bytes = m.segments.reduce(
      (n, seg) => n + seg.blocks.reduce((b, x) => b + blockBytes(x), 0),
      0,
    );
    s.syncedComplete = blocks < SYNC_BLOCKS && bytes < SYNC_BYTES && m.segments.length < 256;
  }
  // Undecided blocks only from a peer we asked: unsolicited ones could only fill memory.
  for (const b of solicited ? m.pending : []) {
    if (b.epoch !== s.epoch) continue;
    const parent = s.blocks.get(b.parent);
    if (parent === undefined || b.height !== parent.height + 1 || b.parent !== b.justify.blockId) {
      continue;
    }
    const digests = b.inputs.map(inputDigest);
    const id = blockIdOf(s.quorum, b, digests);
    if (s.blocks.has(id) || checkQC(s, b.justify) !== undefined) continue;
    // Not checked for votes: only certified descendants (k signers, one honest) decide it.
    onQC(s, b.justify, from);
    insert(s, record(s, b, id, digests));
  }
  if (m.highQC !== null && m.highQC.epoch === s.epoch) {
    if (checkQC(s, m.highQC) === undefined) onQC(s, m.highQC, from);
    // Behind by more than this reply carried: ask again (a reply with nothing new does not).
    const progressed = m.segments.length > 0 || m.pending.length > 0;
    if (!s.blocks.has(m.highQC.blockId) && (progressed || !solicited)) {
      requestSync(s, from);
    }
  }
}

/** Decides a segment of blocks after checking its links and its commit proof. */
function applySegment(s: ReplicaState, seg: DecidedSegment): string | undefined {
  const blocks = seg.blocks.filter((b) => b.height > s.decidedTip.height);
  if (blocks.length === 0) return undefined;
  const ids: BlockId[] = [];
  const digests = blocks.map((b) => b.inputs.map(inputDigest));
  let prev = s.decidedTip;
  for (const [i, b] of blocks.entries()) {
    if (b.epoch !== s.epoch) return `block of epoch ${b.epoch} while in epoch ${s.epoch}`;
    if (b.parent !== prev.id || b.height !== prev.height + 1) return 'blocks do not link';
    ids.push(blockIdOf(s.quorum, b, digests[i]!));
    prev = { ...record(s, b, ids[i]!, digests[i]!) };
  }
  const { child, qc } = seg.proof;
  // Certified blocks linking the last decided one to the child (after a reconfiguration).
  let last = blocks.at(-1)!;
  let lastId = ids.at(-1)!;
  for (const link of seg.proof.links ?? []) {
    if (link.parent !== lastId || link.height !== last.height + 1 || link.epoch !== s.epoch) {
      return 'commit proof links do not link';
    }
    last = link;
    lastId = blockIdOf(s.quorum, link, link.inputs.map(inputDigest));
  }
  if (child.parent !== lastId || child.round !== last.round + 1 || child.epoch !== s.epoch) {
    return 'commit proof does not follow the last block';
  }
  const childId = blockIdOf(s.quorum, child, child.inputs.map(inputDigest));
  if (qc.blockId !== childId || qc.round !== child.round) return 'commit proof QC mismatch';
  const problem = checkQC(s, qc);
  if (problem !== undefined) return `commit proof: ${problem}`;
  for (const [i, b] of blocks.entries()) {
    const rec = record(s, b, ids[i]!, digests[i]!);
    s.blocks.set(rec.id, rec);
    decideOne(s, rec, seg.proof);
    if (rec.reconfig) {
      nextEpoch(s, rec);
      return undefined;
    }
  }
  prune(s);
  return undefined;
}
