/**
 * The ordering core of a quorum vat: a pure, deterministic state machine (`handle(event) →
 * actions`) that makes the members agree on one order of inbound inputs. No I/O, no clock, no
 * randomness: messages, timers and the executor's transcript hashes come in as events; sends,
 * timers, decisions and evidence go out as actions.
 *
 * Protocol: two-chain chained HotStuff with a quadratic view change (the Jolteon / DiemBFT-v4
 * shape), with k-of-n certificates instead of 2f+1-of-3f+1. Why this one:
 *   - chained: every round's proposal carries the certificate of the previous one, so one
 *     proposal + one vote per round both certify a new batch and decide an older one
 *     (pipelining for free, no separate prepare/commit messages as in PBFT);
 *   - two-chain commit (decision after two consecutive certified rounds) instead of HotStuff's
 *     three: it needs the view change to carry every member's highest certificate (timeouts are
 *     broadcast and a timeout certificate holds k of them). That quadratic step is what the
 *     linear three-chain HotStuff avoids; at n ≤ 7 it costs nothing worth a third round trip;
 *   - votes are broadcast to every member, not sent to the next leader: at n ≤ 7 the n² votes are
 *     cheap, every member forms each certificate itself (decides one hop sooner, sees
 *     equivocating votes itself, and the next leader needs nothing forwarded).
 *
 * Terms: a block (proposal) orders a batch of inputs at a height (heights 1, 2, 3, … across all
 * epochs); a round has one leader, members[(round + epoch) mod n]; a QC is k member votes for
 * one block in one round; a TC is k member timeouts of one round.
 *
 * Rules (what every honest member does):
 *   R1 vote at most once per round, only in the current round, and never in a round it timed
 *      out of (a timeout counts as its vote for that round): highestVotedRound only grows;
 *   R2 vote for block B (round r, justify QC of round q) only if r = q + 1, or B carries a TC of
 *      round r − 1 and q ≥ every highQcRound in that TC (B extends the highest certificate any
 *      of the TC's k signers had);
 *   R3 a block is decided when its child is certified and the child's round is the block's
 *      round + 1; the block's undecided ancestors are decided with it, in height order;
 *   R4 a timeout carries the member's highest QC, signed with the round it names.
 * Invariants (checked by the tests, asserted where cheap):
 *   S1 agreement: two honest members never decide different blocks at one height. Why: any two
 *      k-quorums share 2k − n > f members, so one honest member; by R1 at most one block per
 *      round is certified; if B (round r) is decided via its child (round r + 1), the child's k
 *      voters all hold QC(B), and any later TC contains one of them (intersection), whose highQC
 *      round is ≥ r, so by R2 every later certified block extends B.
 *   S2 validity: only inputs submitted by their sender are decided: a member votes for an input
 *      it has not seen only if the input carries its sender's signature (see "Unseen inputs").
 *   S3 integrity: every (sender, seq) is decided exactly once and in seq order: a block is valid
 *      only if each sender's inputs continue that sender's sequence along the block's branch
 *      (decided prefix + undecided ancestors), with no gap and no repeat. This also deduplicates
 *      across views: an input proposed in an abandoned round is simply proposed again.
 *   S4 the decided chain only grows: decide() checks the new blocks extend the decided tip,
 *      and halts (action `halted`) if they do not — that needs more than f Byzantine members.
 *   L1 liveness: after GST, with k honest members connected, a round led by an honest member
 *      certifies its block; rounds led by crashed or Byzantine members end by timeout (doubling
 *      backoff, reset by progress) and their TC moves everyone to the next leader. A member
 *      times out only while it has work (inputs it could order, undecided non-empty blocks), so
 *      an idle quorum sends nothing; f + 1 timeouts of the current round make a member join
 *      the view change (at least one honest member gave up). A leader whose last turn ended
 *      without its proposal reaching us gets a quarter of the view timeout, so a dead member
 *      costs little each time its turn comes round (timeouts never touch safety). Members that
 *      fall behind catch up by `sync` (decided segments with commit proofs, then the undecided
 *      chain), asked for when a certificate names a block they lack and on every view timeout.
 *
 * Where each part lives (functions of the shared ReplicaState, state.ts), with the rules they
 * keep next to their code: proposals.ts (receiving and making proposals), batch.ts (S2 unseen
 * inputs, S3 sequence order, reconfiguration placement), voting.ts (R1, R2, QCs, equivocation),
 * view-change.ts (R4, L1: round timer, timeouts, TCs), deciding.ts (R3, S4, the next epoch on
 * reconfiguration), certificates.ts (checking QCs and TCs), sync.ts (catching up, learners),
 * restart.ts (persisted safety marks, resume), checkpoints.ts (transcript agreement).
 *
 * Refusals: a message no honest member would send (malformed, forged or mis-attributed
 * signature, non-member, wrong leader, invalid batch, old epoch, a second vote or proposal in a
 * round) gives a `rejected` action with the reason and changes nothing. Late and repeated
 * messages are normal on a network (a vote after its QC formed, a replayed proposal we hold):
 * they are dropped without a word.
 *
 * Transcript agreement: the executor reports `executed(height, hash)`; every checkpointInterval
 * heights a member signs and broadcasts its hash. k equal hashes make a stable checkpoint; a
 * member whose own hash differs stops (action `diverged`), a member that signed another hash is
 * reported (evidence `transcript`).
 */
import type { VatId } from '../../protocol/identity.ts';
import { type QuorumConfig, toleranceOf } from '../config.ts';
import { parseMessage } from './codec.ts';
import { onProposal, onSubmit } from './proposals.ts';
import { type ReplicaOptions, ReplicaState } from './state.ts';
import { onPeerConnected, onSync, onSyncReply, requestSync } from './sync.ts';
import type { ReplicaAction, ReplicaEvent } from './types.ts';
import { afterEvent, onTimeout, onTimer } from './view-change.ts';
import { onVote } from './voting.ts';

export type { ReplicaOptions } from './state.ts';

const MAX_FUTURE = 4096;

export class Replica {
  readonly self: VatId;
  private readonly state: ReplicaState;

  constructor(opts: ReplicaOptions) {
    this.self = opts.self;
    this.state = new ReplicaState(opts);
  }

  // ------------------------------------------------------------------ public view

  get epoch(): number {
    return this.state.epoch;
  }
  get configuration(): QuorumConfig {
    return this.state.configuration;
  }
  get decidedHeight(): number {
    return this.state.decidedHeight;
  }
  get currentRound(): number {
    return this.state.currentRound;
  }
  get isMember(): boolean {
    return this.state.isMember;
  }
  get halted(): string | undefined {
    return this.state.halted;
  }
  /** The lowest decided height this replica still serves to peers (sync). */
  get oldestKept(): number {
    return this.state.oldestKept;
  }
  leaderOf(round: number): VatId {
    return this.state.leaderOf(round);
  }

  /** For status output and logs. */
  status() {
    const s = this.state;
    const t = toleranceOf(s.config);
    const pending = s.pool.size;
    return {
      epoch: s.epoch,
      round: s.round,
      height: s.decidedHeight,
      leader: s.leaderOf(s.round),
      member: s.isMember,
      members: s.config.members.length,
      threshold: s.config.threshold,
      byzantine: t.byzantine,
      crashes: t.crashes,
      pendingInputs: pending,
      /** A voter, or a learner whose last sync reached its peer's decided tip. */
      caughtUp: s.isMember || s.syncedComplete,
      halted: s.haltReason ?? null,
    };
  }

  // ------------------------------------------------------------------ events

  handle(event: ReplicaEvent): ReplicaAction[] {
    const s = this.state;
    s.out = [];
    switch (event.type) {
      case 'start':
        break;
      case 'message':
        onMessage(s, event.from, event.message);
        break;
      case 'submit':
        onSubmit(s, event.input);
        break;
      case 'timer':
        onTimer(s, event.timer, event.epoch, event.round);
        break;
      case 'executed':
        onExecuted(s, event.height, event.hash);
        break;
      case 'peer-connected':
        onPeerConnected(s, event.peer);
        break;
    }
    afterEvent(s);
    const out = s.out;
    s.out = [];
    return out;
  }
}

export function onMessage(s: ReplicaState, from: VatId, raw: unknown): undefined {
  const parsed = parseMessage(raw);
  if (!parsed.ok) return s.reject(from, parsed.reason);
  const m = parsed.message;
  if (s.haltReason !== undefined && m.type !== 'sync') return;
  switch (m.type) {
    case 'sync':
      return onSync(s, from, m.fromHeight);
    case 'sync-reply':
      return onSyncReply(s, from, m);
    case 'checkpoint':
      s.checkpoints.received(from, m);
      // Others executed past what we decided: we missed decisions (an idle quorum would never
      // tell us otherwise). Ask the member that says so.
      if (m.height > s.decidedTip.height && s.haltReason === undefined) requestSync(s, from);
      return;
    default: {
      const epoch = m.type === 'proposal' ? m.block.epoch : m.epoch;
      if (epoch < s.epoch) return s.reject(from, `${m.type} of old epoch ${epoch}`);
      if (epoch > s.epoch) {
        // Only the next epoch's messages are worth keeping: we are about to switch to it.
        if (epoch === s.epoch + 1 && s.future.length < MAX_FUTURE) {
          s.future.push({ from, message: m, epoch });
        }
        requestSync(s, from);
        return;
      }
      if (m.type === 'proposal') return onProposal(s, from, m);
      if (m.type === 'vote') return onVote(s, from, m);
      return onTimeout(s, from, m);
    }
  }
}

function onExecuted(s: ReplicaState, height: number, hash: string): undefined {
  if (s.haltReason !== undefined) return;
  s.checkpoints.executed(height, hash, s.history.get(height)?.block.epoch ?? s.epoch);
}

export function diverge(s: ReplicaState, height: number, local: string, agreed: string): undefined {
  s.emit({ type: 'diverged', height, local, agreed });
  s.halt(`transcript diverged at height ${height}`);
}
