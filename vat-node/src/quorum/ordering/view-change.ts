/**
 * The view change (R1, R4, L1): a member with work (inputs it could order, undecided non-empty
 * blocks) runs a round timer; when it fires the member gives up on the round and broadcasts a
 * signed timeout carrying its highest QC; k timeouts of a round make a TC, which moves everyone
 * to the next leader. The timeout doubles without progress and resets on it; f + 1 timeouts of
 * the current round make a member join (at least one honest member gave up). A leader whose
 * last turn ended without its proposal reaching us gets a quarter of the view timeout, so a
 * dead member costs little each time its turn comes round (timeouts never touch safety). An idle
 * quorum sends nothing.
 */
import type { VatId } from '../../protocol/identity.ts';
import { isMember, toleranceOf } from '../config.ts';
import { branchOf } from './batch.ts';
import { checkQC, checkTC, verifySig } from './certificates.ts';
import { maybePropose } from './proposals.ts';
import { beforeRestoredEpoch, raiseVoted } from './restart.ts';
import { getOrAdd, MAX_ROUNDS_AHEAD, type ReplicaState, type TimeoutMessage } from './state.ts';
import { timeoutStatement } from './statements.ts';
import { helpLaggard, requestSync } from './sync.ts';
import type { TimeoutVote } from './types.ts';
import { onQC, onTC } from './voting.ts';

/** View timeouts in a row without progress before a member says it is stalled. */
const STALL_TIMEOUTS = 3;

export function afterEvent(s: ReplicaState): undefined {
  if (s.haltReason !== undefined) return;
  maybePropose(s);
  const member = s.isMember;
  if (member && hasWork(s)) {
    const a = s.timerArmed;
    if (a === undefined || a.epoch !== s.epoch || a.round !== s.round) {
      // A leader whose last turn ended without a proposal from it (crashed, cut off) gets a
      // quarter of the timeout: a dead member costs little each time its turn comes round.
      // Timeouts only ever cost liveness, so a wrong suspicion is cheap: its proposal clears it.
      const suspect = s.consecutiveTimeouts === 0 && s.suspects.has(s.leaderOf(s.round));
      const delayMs = suspect
        ? Math.max(1, Math.floor(s.viewTimeoutMs / 4))
        : Math.min(s.viewTimeoutMs * 2 ** Math.min(s.consecutiveTimeouts, 20), s.maxViewTimeoutMs);
      s.timerArmed = { epoch: s.epoch, round: s.round };
      s.emit({ type: 'set-timer', timer: 'round', delayMs, ...s.timerArmed });
    }
  } else if (s.timerArmed !== undefined) {
    s.timerArmed = undefined;
    s.emit({ type: 'cancel-timer', timer: 'round' });
  }
  if (!member && !s.syncTimerArmed) {
    s.syncTimerArmed = true;
    s.emit({
      type: 'set-timer',
      timer: 'sync',
      delayMs: s.opts.syncIntervalMs ?? s.viewTimeoutMs,
      epoch: s.epoch,
      round: 0,
    });
  } else if (member && s.syncTimerArmed) {
    s.syncTimerArmed = false;
    s.emit({ type: 'cancel-timer', timer: 'sync' });
  }
}

/** Something to order or to finish: only then does a member run its round timer. */
function hasWork(s: ReplicaState): boolean {
  if (s.myTimeout?.round === s.round || s.deferred !== undefined) return true;
  if (s.pool.hasProposable()) return true;
  const tip = s.blocks.get(s.highQC.blockId);
  if (tip === undefined) return s.highQC.round > s.decidedRound();
  const branch = branchOf(s, tip);
  return typeof branch !== 'string' && branch.hasInputs;
}

export function onTimer(
  s: ReplicaState,
  timer: 'round' | 'sync',
  epoch: number,
  round: number,
): undefined {
  if (s.haltReason !== undefined) return;
  if (timer === 'sync') {
    s.syncTimerArmed = false;
    if (s.isMember) return;
    s.syncInFlight.clear();
    const members = s.config.members.filter((m) => m !== s.self);
    const target = members[s.syncTarget++ % Math.max(1, members.length)];
    if (target !== undefined) requestSync(s, target);
    return;
  }
  if (epoch !== s.epoch || round !== s.round) return; // stale timer
  s.timerArmed = undefined;
  s.syncInFlight.clear();
  if (!s.isMember) return;
  timeOut(s);
  // Backstop for lost messages: fetch what certified blocks and waiting proposals lack, and
  // ask one member (in turn) for decisions we may have missed: others may have decided what
  // we still wait for and, having nothing left to order, would never propose again.
  if (!s.blocks.has(s.highQC.blockId) && s.highQCFrom !== undefined) {
    requestSync(s, s.highQCFrom);
  }
  for (const w of s.awaiting.values()) requestSync(s, w.from);
  const others = s.config.members.filter((x) => x !== s.self);
  const peer = others[s.syncTarget++ % Math.max(1, others.length)];
  if (peer !== undefined) requestSync(s, peer);
}

/** Give up on the current round (R1, R4): broadcast (again) a signed timeout. */
function timeOut(s: ReplicaState): undefined {
  s.consecutiveTimeouts++;
  if (s.consecutiveTimeouts === STALL_TIMEOUTS && !s.stalled) {
    s.stalled = true;
    const { members, threshold } = s.config;
    s.emit({
      type: 'stalled',
      round: s.round,
      height: s.decidedTip.height,
      reason: `no progress for ${STALL_TIMEOUTS} view timeouts: fewer than ${threshold} of ${members.length} members reachable, or faulty leaders`,
    });
  }
  if (beforeRestoredEpoch(s)) return;
  raiseVoted(s, s.round);
  s.deferred = undefined;
  if (s.myTimeout === undefined || s.myTimeout.round !== s.round) {
    const highQcRound = s.highQC.round;
    const sig = s.crypto.sign(timeoutStatement(s.quorum, s.epoch, s.round, highQcRound));
    s.myTimeout = {
      type: 'timeout',
      epoch: s.epoch,
      round: s.round,
      signer: s.self,
      highQC: s.highQC,
      tc: s.lastTC?.round === s.round - 1 ? s.lastTC : null,
      sig,
    };
    countTimeout(s, s.myTimeout.round, { signer: s.self, highQcRound, sig });
  }
  if (s.myTimeout !== undefined) s.broadcast(s.myTimeout);
}

export function onTimeout(s: ReplicaState, from: VatId, m: TimeoutMessage): undefined {
  if (m.signer !== from) return s.reject(from, 'timeout relayed by another peer');
  if (!isMember(s.config, from)) {
    return s.reject(from, `timeout from a non-member of epoch ${s.epoch}`);
  }
  if (m.round > s.round + MAX_ROUNDS_AHEAD) return s.reject(from, 'timeout too far ahead');
  if (m.tc !== null && m.tc.round >= s.round) {
    const tcProblem = checkTC(s, m.tc);
    if (tcProblem !== undefined) return s.reject(from, `timeout TC: ${tcProblem}`);
    onTC(s, m.tc);
  }
  helpLaggard(s, from, m.highQC.round);
  if (m.round < s.round) return; // late: that round is over here
  if (m.highQC.round >= m.round) return s.reject(from, 'timeout highQC not below its round');
  if (s.timeouts.get(m.round)?.has(from)) return; // replay
  const stmt = timeoutStatement(s.quorum, m.epoch, m.round, m.highQC.round);
  if (!verifySig(s, from, stmt, m.sig, `t|${m.epoch}|${m.round}|${m.highQC.round}`)) {
    return s.reject(from, 'bad timeout signature');
  }
  const qcProblem = checkQC(s, m.highQC);
  if (qcProblem !== undefined) return s.reject(from, `timeout highQC: ${qcProblem}`);
  onQC(s, m.highQC, from);
  if (m.round < s.round) return; // the QC moved us past it
  if (!s.blocks.has(m.highQC.blockId) && m.highQC.round > s.decidedRound()) {
    requestSync(s, from);
  }
  countTimeout(s, m.round, { signer: from, highQcRound: m.highQC.round, sig: m.sig });
}

function countTimeout(s: ReplicaState, round: number, t: TimeoutVote): undefined {
  const by = getOrAdd(s.timeouts, round);
  by.set(t.signer, t);
  const f = toleranceOf(s.config).byzantine;
  if (round === s.round && by.size >= f + 1 && s.isMember && s.myTimeout?.round !== round) {
    timeOut(s); // at least one honest member gave up on this round: join it
  }
  if (by.size === s.config.threshold) {
    onTC(s, { epoch: s.epoch, round, timeouts: [...by.values()] });
  }
}
