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
 * Unseen inputs: senders send every input to every member, but a member may get the leader's
 * proposal before the input itself. It then waits (does not vote) until the missing inputs
 * arrive, and its round timer stays armed; an input that carries `auth` (the sender's own
 * signature) is checked with `authenticateInput` and needs no wait. A proposal with an input
 * whose auth fails is refused outright. Refusing rather than waiting would be unsafe for
 * liveness (a member one message behind could never vote); voting blindly would let a leader
 * invent inputs (safety). The proposal carries the full inputs, so nobody fetches content.
 * Senders should sign their inputs: then a sender that gives different members different
 * inputs under one seq only gets one of them ordered (members check the signature of the
 * leader's pick); an unsigned one can keep the members that hold the other copy from voting,
 * and so stall every proposal carrying it.
 *
 * Reconfiguration: a `reconfigure` input that the hook accepts ends its epoch. It must be the
 * last input of its block, the blocks after it in that epoch carry no inputs (they only decide
 * it), and once its block is decided at height H the next epoch starts with the new
 * configuration: its root is that block, its rounds start at 1, heights continue at H + 1, and
 * only the new members' signatures count. Undecided blocks of the old epoch are dropped (they
 * are empty). (Tendermint applies a change decided at H from H + 2, because its H + 1 is
 * already under way when H is decided; here the pipelined blocks after the change stay empty,
 * so H + 1 can be the new epoch's first.) A member removed by the change becomes a learner; a learner added becomes a voter.
 * Learners (non-members) pull decided blocks (`sync`) and check each segment's commit proof
 * against the configuration of its epoch, so they follow the configuration chain from genesis.
 *
 * Restarts: before a vote or timeout leaves, the member's highest voted round is handed out
 * to be persisted (`persist-safety`), and every undecided block before any vote for it
 * (`persist-block`); a restarted member gets them back (`safety`, `resume` with its decided tip,
 * configurations and per-sender marks), so it never votes twice in a round and a certified
 * block survives the restarts of the members holding it. A resumed member serves decisions from
 * its resume point on; a member that lost its data catches up from genesis by sync, or from a
 * checkpoint (`state-transfer-needed`) when no peer keeps that far back.
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
import { checkArithmetic, isMember, type QuorumConfig, toleranceOf } from '../config.ts';
import { Checkpoints } from './checkpoints.ts';
import { checkInput, parseMessage } from './codec.ts';
import { InputPool, seqKey } from './pool.ts';
import {
  blockIdOf,
  genesisBlockId,
  inputDigest,
  proposalStatement,
  timeoutStatement,
  voteStatement,
} from './statements.ts';
import type {
  AuthenticateInput,
  Block,
  BlockId,
  CommitProof,
  DecidedSegment,
  Evidence,
  Input,
  OrderingCrypto,
  OrderingMessage,
  QC,
  Reconfigure,
  ReplicaAction,
  ReplicaEvent,
  ResumeState,
  SafetyState,
  TC,
  TimeoutVote,
} from './types.ts';

export interface ReplicaOptions {
  /** This member's VatID (the key behind `crypto.sign`). */
  readonly self: VatId;
  /** The epoch-0 configuration (../config.ts genesisConfig). */
  readonly genesis: QuorumConfig;
  readonly crypto: OrderingCrypto;
  /** Checks an input's sender signature (Input.auth); without it unseen inputs are waited for. */
  readonly authenticateInput?: AuthenticateInput;
  /** Interprets `reconfigure` inputs; without it they are decided but change nothing. */
  readonly reconfigure?: Reconfigure;
  /** Overrides genesis params (tests, benches). */
  readonly viewTimeoutMs?: number;
  readonly maxBatch?: number;
  readonly checkpointInterval?: number;
  readonly maxPendingPerSender?: number;
  /** Cap of the doubling view timeout. Default 16 × viewTimeoutMs. */
  readonly maxViewTimeoutMs?: number;
  /** Bytes of input bodies per block. Default 4 MiB. */
  readonly maxBatchBytes?: number;
  /** Decided blocks kept to serve `sync`: at most this many… Default 10,000. */
  readonly keepDecided?: number;
  /** …and at most this many bytes of their inputs. Default 64 MiB. */
  readonly keepDecidedBytes?: number;
  /** How often a learner pulls decisions. Default viewTimeoutMs. */
  readonly syncIntervalMs?: number;
  /** The last `persist-safety` state, after a restart. */
  readonly safety?: SafetyState;
  /** Where to resume after a restart (else: from genesis). */
  readonly resume?: ResumeState;
  /** Non-members allowed to pull decided blocks (future members catching up, observers). */
  readonly learners?: readonly VatId[];
  /** Who may pull decided blocks. Default: `learners` and members of any configuration seen. */
  readonly maySync?: (peer: VatId) => boolean;
}

interface BlockRecord {
  readonly id: BlockId;
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
  readonly parent: BlockId;
  /** null for the genesis root. */
  readonly block: Block | null;
  readonly digests: readonly string[];
  /** Ends its epoch: the last input is a reconfiguration the hook accepts. */
  readonly reconfig: boolean;
}

interface Branch {
  /** Next expected seq per sender key along the branch's undecided blocks. */
  readonly next: Map<string, number>;
  readonly reconfig: boolean;
  readonly hasInputs: boolean;
}

type VoteMessage = Extract<OrderingMessage, { type: 'vote' }>;
type TimeoutMessage = Extract<OrderingMessage, { type: 'timeout' }>;
type ProposalMessage = Extract<OrderingMessage, { type: 'proposal' }>;

const MAX_ROUNDS_AHEAD = 10_000;
const MAX_REPORTED = 10_000;
/** View timeouts in a row without progress before a member says it is stalled. */
const STALL_TIMEOUTS = 3;
const MAX_AWAITING = 64;
const MAX_FUTURE = 4096;
const VERIFIED_CACHE = 100_000;
const SYNC_BLOCKS = 1024;
/** A sync reply stops adding decided segments past this many bytes of inputs. */
const SYNC_BYTES = 8 << 20;

const blockBytes = (b: Block) => b.inputs.reduce((n, i) => n + i.body.length, 0);
const PENDING_BLOCKS = 64;

/** The map's value at key, created by make() (an empty Map by default) if absent. */
function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V = () => new Map() as V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

export class Replica {
  readonly self: VatId;
  private readonly opts: ReplicaOptions;
  private readonly crypto: OrderingCrypto;
  private readonly quorum: VatId;
  private readonly viewTimeoutMs: number;
  private readonly maxViewTimeoutMs: number;
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  private readonly checkpointInterval: number;
  private readonly maxPendingPerSender: number;
  private readonly keepDecided: number;
  private readonly keepDecidedBytes: number;
  private historyBytes = 0;

  private out: ReplicaAction[] = [];
  private readonly configs = new Map<number, QuorumConfig>();
  private config: QuorumConfig;

  // chain (current epoch)
  private blocks = new Map<BlockId, BlockRecord>();
  private qcs = new Map<BlockId, QC>();
  private highQC: QC;
  private highQCFrom: VatId | undefined;
  private decidedTip: BlockRecord;
  private readonly history = new Map<number, { block: Block; proof: CommitProof }>();
  private oldestKept = 1;

  // voting and pacing
  private round = 1;
  private highestVotedRound = 0;
  private proposedRound = 0;
  private lastTC: TC | undefined;
  private consecutiveTimeouts = 0;
  /** Leaders whose last turn ended by timeout without their proposal reaching us. */
  private readonly suspects = new Set<VatId>();
  private stalled = false;
  private myTimeout: TimeoutMessage | undefined;
  private votes = new Map<number, Map<BlockId, Map<VatId, Uint8Array>>>();
  private votedBy = new Map<number, Map<VatId, { blockId: BlockId; sig: Uint8Array }>>();
  private proposalsSeen = new Map<
    number,
    { blockId: BlockId; sig: Uint8Array; verified: boolean }
  >();
  private timeouts = new Map<number, Map<VatId, TimeoutVote>>();
  private deferred: { rec: BlockRecord; sig: Uint8Array; missing: Map<string, string> } | undefined;
  private awaiting = new Map<BlockId, { from: VatId; message: ProposalMessage }>();
  private future: { from: VatId; message: OrderingMessage; epoch: number }[] = [];
  private timerArmed: { epoch: number; round: number } | undefined;
  private syncTimerArmed = false;
  private syncTarget = 0;
  private readonly syncInFlight = new Set<VatId>();
  private stateTransferReported = false;

  private readonly pool: InputPool;
  private readonly checkpoints: Checkpoints;

  private readonly reported = new Set<string>();
  private readonly verified = new Set<string>();
  private haltReason: string | undefined;

  constructor(opts: ReplicaOptions) {
    this.opts = opts;
    this.self = opts.self;
    this.crypto = opts.crypto;
    const g = opts.genesis;
    // 2k ≤ n (two disjoint quorums) or k > n is refused here too, with config.ts's reason.
    checkArithmetic(g.members.length, g.threshold);
    this.quorum = g.quorum;
    this.viewTimeoutMs = opts.viewTimeoutMs ?? g.params.viewTimeoutMs;
    this.maxViewTimeoutMs = opts.maxViewTimeoutMs ?? 16 * this.viewTimeoutMs;
    this.maxBatch = opts.maxBatch ?? g.params.maxBatch;
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 << 20;
    this.checkpointInterval = opts.checkpointInterval ?? g.params.checkpointInterval;
    this.maxPendingPerSender = opts.maxPendingPerSender ?? g.params.maxPendingPerSender;
    this.keepDecided = opts.keepDecided ?? 10_000;
    this.keepDecidedBytes = opts.keepDecidedBytes ?? 64 << 20;
    this.config = g;
    this.configs.set(g.epoch, g);
    const root: BlockRecord = {
      id: genesisBlockId(this.quorum),
      epoch: g.epoch,
      round: 0,
      height: 0,
      parent: genesisBlockId(this.quorum),
      block: null,
      digests: [],
      reconfig: false,
    };
    this.blocks.set(root.id, root);
    this.decidedTip = root;
    this.highQC = { epoch: g.epoch, round: 0, blockId: root.id, votes: [] };
    this.epochRoot = root.id;
    this.pool = new InputPool(this.maxPendingPerSender);
    if (opts.resume !== undefined) this.resume(opts.resume);
    this.restoreSafety();
    this.checkpoints = new Checkpoints(
      this.quorum,
      this.self,
      this.checkpointInterval,
      this.crypto,
      {
        emit: (a) => this.emit(a),
        reject: (from, reason) => this.reject(from, reason),
        report: (key, evidence) => this.report(key, evidence),
        diverge: (height, local, agreed) => this.diverge(height, local, agreed),
        configOf: (epoch) => this.configs.get(epoch),
        decidedHeight: () => this.decidedTip.height,
      },
    );
  }

  // ------------------------------------------------------------------ public view

  get epoch(): number {
    return this.config.epoch;
  }
  get configuration(): QuorumConfig {
    return this.config;
  }
  get decidedHeight(): number {
    return this.decidedTip.height;
  }
  get currentRound(): number {
    return this.round;
  }
  get isMember(): boolean {
    return isMember(this.config, this.self);
  }
  get halted(): string | undefined {
    return this.haltReason;
  }

  /** For status output and logs. */
  status() {
    const t = toleranceOf(this.config);
    const pending = this.pool.size;
    return {
      epoch: this.epoch,
      round: this.round,
      height: this.decidedHeight,
      leader: this.leaderOf(this.round),
      member: this.isMember,
      members: this.config.members.length,
      threshold: this.config.threshold,
      byzantine: t.byzantine,
      crashes: t.crashes,
      pendingInputs: pending,
      halted: this.haltReason ?? null,
    };
  }

  leaderOf(round: number): VatId {
    const m = this.config.members;
    return m[(round + this.config.epoch) % m.length]!;
  }

  // ------------------------------------------------------------------ events

  handle(event: ReplicaEvent): ReplicaAction[] {
    this.out = [];
    switch (event.type) {
      case 'start':
        break;
      case 'message':
        this.onMessage(event.from, event.message);
        break;
      case 'submit':
        this.onSubmit(event.input);
        break;
      case 'timer':
        this.onTimer(event.timer, event.epoch, event.round);
        break;
      case 'executed':
        this.onExecuted(event.height, event.hash);
        break;
    }
    this.afterEvent();
    const out = this.out;
    this.out = [];
    return out;
  }

  private afterEvent(): undefined {
    if (this.haltReason !== undefined) return;
    this.maybePropose();
    const member = this.isMember;
    if (member && this.hasWork()) {
      const a = this.timerArmed;
      if (a === undefined || a.epoch !== this.epoch || a.round !== this.round) {
        // A leader whose last turn ended without a proposal from it (crashed, cut off) gets a
        // quarter of the timeout: a dead member costs little each time its turn comes round.
        // Timeouts only ever cost liveness, so a wrong suspicion is cheap: its proposal clears it.
        const suspect =
          this.consecutiveTimeouts === 0 && this.suspects.has(this.leaderOf(this.round));
        const delayMs = suspect
          ? Math.max(1, Math.floor(this.viewTimeoutMs / 4))
          : Math.min(
              this.viewTimeoutMs * 2 ** Math.min(this.consecutiveTimeouts, 20),
              this.maxViewTimeoutMs,
            );
        this.timerArmed = { epoch: this.epoch, round: this.round };
        this.emit({ type: 'set-timer', timer: 'round', delayMs, ...this.timerArmed });
      }
    } else if (this.timerArmed !== undefined) {
      this.timerArmed = undefined;
      this.emit({ type: 'cancel-timer', timer: 'round' });
    }
    if (!member && !this.syncTimerArmed) {
      this.syncTimerArmed = true;
      this.emit({
        type: 'set-timer',
        timer: 'sync',
        delayMs: this.opts.syncIntervalMs ?? this.viewTimeoutMs,
        epoch: this.epoch,
        round: 0,
      });
    } else if (member && this.syncTimerArmed) {
      this.syncTimerArmed = false;
      this.emit({ type: 'cancel-timer', timer: 'sync' });
    }
  }

  /** Something to order or to finish: only then does a member run its round timer. */
  private hasWork(): boolean {
    if (this.myTimeout?.round === this.round || this.deferred !== undefined) return true;
    if (this.pool.hasProposable()) return true;
    const tip = this.blocks.get(this.highQC.blockId);
    if (tip === undefined) return this.highQC.round > this.decidedRound();
    const branch = this.branchOf(tip);
    return typeof branch !== 'string' && branch.hasInputs;
  }

  private emit(action: ReplicaAction): undefined {
    this.out.push(action);
  }

  private reject(from: VatId, reason: string): undefined {
    this.emit({ type: 'rejected', from, reason });
  }

  private broadcast(message: OrderingMessage): undefined {
    this.emit({ type: 'broadcast', message });
  }

  private halt(reason: string): undefined {
    if (this.haltReason !== undefined) return;
    this.haltReason = reason;
    this.emit({ type: 'halted', reason });
    this.emit({ type: 'cancel-timer', timer: 'round' });
    this.emit({ type: 'cancel-timer', timer: 'sync' });
  }

  private decidedRound(): number {
    return this.decidedTip.epoch === this.epoch ? this.decidedTip.round : 0;
  }

  /**
   * Starts from a decided tip instead of genesis (a restart): the blocks before it are not
   * kept (peers serve them), and until a peer's certificate arrives this member proposes
   * nothing (it holds no certified block to extend).
   */
  private resume(r: NonNullable<ReplicaOptions['resume']>): undefined {
    const last = r.configs.at(-1);
    if (last === undefined || last.epoch !== r.tip.epoch || r.configs[0]?.epoch !== 0) {
      throw new RangeError('resume: configurations must run from genesis to the tip’s epoch');
    }
    for (const [i, c] of r.configs.entries()) {
      if (c.epoch !== i || c.quorum !== this.quorum) throw new RangeError('resume: bad chain');
      checkArithmetic(c.members.length, c.threshold);
      this.configs.set(c.epoch, c);
    }
    this.config = last;
    this.epochRoot = r.epochRoot ?? this.epochRoot;
    const tip: BlockRecord = {
      ...r.tip,
      parent: '',
      block: null,
      digests: [],
      reconfig: false,
    };
    this.blocks = new Map([[tip.id, tip]]);
    this.decidedTip = tip;
    this.highQC = { epoch: last.epoch, round: 0, blockId: this.epochRoot, votes: [] };
    this.round = last.epoch === tip.epoch ? tip.round + 1 : 1;
    this.oldestKept = tip.height + 1;
    const kept = (r.decided ?? []).filter((d) => d.block.height <= tip.height);
    if (kept.length > 0 && kept.at(-1)!.block.height === tip.height) {
      for (const d of kept) {
        this.history.set(d.block.height, { block: d.block, proof: d.proof });
        this.historyBytes += blockBytes(d.block);
      }
      this.oldestKept = kept[0]!.block.height;
    }
    this.pool.resume(r.next);
    // The undecided blocks it voted for, linked to the tip; their certificates raise highQC.
    for (const b of [...(r.blocks ?? [])].sort((x, y) => x.height - y.height)) {
      const parent = this.blocks.get(b.parent);
      if (b.epoch !== last.epoch || parent === undefined || b.height !== parent.height + 1) {
        continue;
      }
      const digests = b.inputs.map(inputDigest);
      const rec = this.record(b, blockIdOf(this.quorum, b, digests), digests);
      this.blocks.set(rec.id, rec);
      if (b.justify.round > this.highQC.round) this.highQC = b.justify;
    }
  }

  /** R1 across restarts: the new highest voted round is persisted before the vote leaves. */
  private raiseVoted(round: number): undefined {
    if (round <= this.highestVotedRound) return;
    this.highestVotedRound = round;
    this.emit({
      type: 'persist-safety',
      state: { epoch: this.epoch, highestVotedRound: round, highQC: this.highQC },
    });
  }

  /** A restarted member catching up does not vote in epochs it had already left. */
  private beforeRestoredEpoch(): boolean {
    return this.opts.safety !== undefined && this.epoch < this.opts.safety.epoch;
  }

  private restoreSafety(): undefined {
    const s = this.opts.safety;
    if (s !== undefined && s.epoch === this.epoch) {
      this.highestVotedRound = Math.max(this.highestVotedRound, s.highestVotedRound);
      if (s.highQC.epoch === this.epoch && s.highQC.round > this.highQC.round) {
        this.highQC = s.highQC; // its block comes by sync if no persisted block holds it
      }
      this.round = Math.max(this.round, this.highQC.round + 1);
    }
  }

  private report(key: string, evidence: Evidence): undefined {
    if (this.reported.has(key)) return;
    // Keys name a round or height; old ones cannot come back (their state is gone), so a
    // member lying every round costs a bounded memory.
    if (this.reported.size >= MAX_REPORTED)
      this.reported.delete(this.reported.values().next().value!);
    this.reported.add(key);
    this.emit({ type: 'evidence', evidence });
  }

  // ------------------------------------------------------------------ signatures

  /** Verifies one member signature, remembering successes (certificates repeat votes). */
  private verifySig(signer: VatId, bytes: Uint8Array, sig: Uint8Array, key: string): boolean {
    const cacheKey = `${key}|${signer}|${Buffer.from(sig).toString('base64')}`;
    if (this.verified.has(cacheKey)) return true;
    if (!this.crypto.verify(signer, bytes, sig)) return false;
    if (this.verified.size >= VERIFIED_CACHE) this.verified.clear();
    this.verified.add(cacheKey);
    return true;
  }

  private verifyVoteSig(
    signer: VatId,
    epoch: number,
    round: number,
    blockId: BlockId,
    sig: Uint8Array,
  ): boolean {
    return this.verifySig(
      signer,
      voteStatement(this.quorum, epoch, round, blockId),
      sig,
      `v|${epoch}|${round}|${blockId}`,
    );
  }

  /** A QC of the current epoch: k distinct members' valid votes (or the epoch's root QC). */
  private checkQC(qc: QC): string | undefined {
    if (qc.epoch !== this.epoch) return `certificate of epoch ${qc.epoch}, not ${this.epoch}`;
    if (qc.round === 0) {
      const root = this.rootId();
      return qc.blockId === root && qc.votes.length === 0 ? undefined : 'bad root certificate';
    }
    return this.checkSigners(
      qc.votes.map((v) => v.signer),
      (i) => {
        const v = qc.votes[i]!;
        return this.verifyVoteSig(v.signer, qc.epoch, qc.round, qc.blockId, v.sig);
      },
      this.config,
    );
  }

  private checkTC(tc: TC): string | undefined {
    if (tc.epoch !== this.epoch) return `timeout certificate of epoch ${tc.epoch}`;
    return this.checkSigners(
      tc.timeouts.map((t) => t.signer),
      (i) => {
        const t = tc.timeouts[i]!;
        return this.verifySig(
          t.signer,
          timeoutStatement(this.quorum, tc.epoch, tc.round, t.highQcRound),
          t.sig,
          `t|${tc.epoch}|${tc.round}|${t.highQcRound}`,
        );
      },
      this.config,
    );
  }

  private checkSigners(
    signers: readonly VatId[],
    valid: (i: number) => boolean,
    config: QuorumConfig,
  ): string | undefined {
    if (signers.length < config.threshold) {
      return `${signers.length} signatures, threshold ${config.threshold}`;
    }
    const seen = new Set<VatId>();
    for (const [i, s] of signers.entries()) {
      if (seen.has(s)) return `signer ${s} counted twice`;
      seen.add(s);
      if (!isMember(config, s)) return `signer ${s} is not a member of epoch ${config.epoch}`;
      if (!valid(i)) return `bad signature of ${s}`;
    }
    return undefined;
  }

  private rootId(): BlockId {
    // The epoch's root is the decided block the epoch started from.
    return this.epochRoot;
  }
  private epochRoot: BlockId = '';

  // ------------------------------------------------------------------ messages

  private onMessage(from: VatId, raw: unknown): undefined {
    const parsed = parseMessage(raw);
    if (!parsed.ok) return this.reject(from, parsed.reason);
    const m = parsed.message;
    if (this.haltReason !== undefined && m.type !== 'sync') return;
    switch (m.type) {
      case 'sync':
        return this.onSync(from, m.fromHeight);
      case 'sync-reply':
        return this.onSyncReply(from, m);
      case 'checkpoint':
        return this.checkpoints.received(from, m);
      default: {
        const epoch = m.type === 'proposal' ? m.block.epoch : m.epoch;
        if (epoch < this.epoch) return this.reject(from, `${m.type} of old epoch ${epoch}`);
        if (epoch > this.epoch) {
          // Only the next epoch's messages are worth keeping: we are about to switch to it.
          if (epoch === this.epoch + 1 && this.future.length < MAX_FUTURE) {
            this.future.push({ from, message: m, epoch });
          }
          this.requestSync(from);
          return;
        }
        if (m.type === 'proposal') return this.onProposal(from, m);
        if (m.type === 'vote') return this.onVote(from, m);
        return this.onTimeout(from, m);
      }
    }
  }

  private onProposal(from: VatId, m: ProposalMessage): undefined {
    const b = m.block;
    if (b.proposer !== from) return this.reject(from, 'proposal relayed by another peer');
    if (!isMember(this.config, from)) return this.reject(from, 'proposer is not a member');
    if (b.round < 1) return this.reject(from, 'proposal of round 0');
    if (this.leaderOf(b.round) !== from) {
      return this.reject(from, `not the leader of round ${b.round}`);
    }
    const digests = b.inputs.map(inputDigest);
    const id = blockIdOf(this.quorum, b, digests);
    if (this.blocks.has(id)) return; // a replay of a block we hold
    if (!this.crypto.verify(from, proposalStatement(this.quorum, b.epoch, b.round, id), m.sig)) {
      return this.reject(from, 'bad proposal signature');
    }
    this.suspects.delete(from);
    // What a vote said the leader proposed is only a claim until its signature checks out: a
    // Byzantine voter must not be able to make us refuse the real proposal.
    const seen = this.proposalsSeen.get(b.round);
    if (seen !== undefined && seen.blockId !== id && this.provenProposal(b.round, seen)) {
      this.reportEquivocation('proposal', from, b.round, seen, { blockId: id, sig: m.sig });
      return this.reject(from, `second proposal for round ${b.round}`);
    }
    this.proposalsSeen.set(b.round, { blockId: id, sig: m.sig, verified: true });
    const qcProblem = this.checkQC(b.justify);
    if (qcProblem !== undefined) return this.reject(from, `proposal justify: ${qcProblem}`);
    if (b.parent !== b.justify.blockId) {
      return this.reject(from, 'proposal parent is not its certified block');
    }
    if (b.round <= b.justify.round) return this.reject(from, 'proposal round not after its QC');
    if (b.tc !== undefined) {
      if (b.tc.round !== b.round - 1) return this.reject(from, 'TC is not of the previous round');
      const tcProblem = this.checkTC(b.tc);
      if (tcProblem !== undefined) return this.reject(from, `proposal TC: ${tcProblem}`);
    } else if (b.round !== b.justify.round + 1) {
      return this.reject(from, 'proposal skips rounds without a timeout certificate');
    }
    this.onQC(b.justify, from);
    if (b.tc !== undefined) this.onTC(b.tc);
    const parent = this.blocks.get(b.parent);
    // Late: at or below the decided height there is nothing left to vote on or to hold.
    if (b.height <= this.decidedTip.height) return;
    if (parent === undefined) {
      if (b.justify.round < this.decidedRound()) return; // extends an abandoned block
      if (this.awaiting.size >= MAX_AWAITING) {
        this.awaiting.delete(this.awaiting.keys().next().value!);
      }
      this.awaiting.set(b.parent, { from, message: m });
      this.requestSync(from);
      return;
    }
    if (b.height !== parent.height + 1) return this.reject(from, 'proposal height is wrong');
    const check = this.checkBatch(b, digests, parent);
    if (typeof check === 'string') return this.reject(from, `proposal refused: ${check}`);
    const rec = this.record(b, id, digests);
    this.insert(rec);
    if (check.size > 0) {
      if (b.round === this.round) this.deferred = { rec, sig: m.sig, missing: check };
      return;
    }
    this.maybeVote(rec, m.sig);
  }

  private record(b: Block, id: BlockId, digests: readonly string[]): BlockRecord {
    const last = b.inputs.at(-1);
    return {
      id,
      epoch: b.epoch,
      round: b.round,
      height: b.height,
      parent: b.parent,
      block: b,
      digests,
      reconfig: last !== undefined && this.reconfigures(last, b.height),
    };
  }

  private reconfigures(input: Input, height: number): boolean {
    if (input.kind !== 'reconfigure' || this.opts.reconfigure === undefined) return false;
    return typeof this.opts.reconfigure(this.config, input, height) !== 'string';
  }

  private insert(rec: BlockRecord): undefined {
    this.blocks.set(rec.id, rec);
    // Before any vote for it: a certified block must outlive its holders' restarts.
    if (rec.block !== null) this.emit({ type: 'persist-block', block: rec.block });
    const qc = this.qcs.get(rec.id);
    if (qc !== undefined) this.onCertified(rec, qc);
    const waiting = this.awaiting.get(rec.id);
    if (waiting !== undefined) {
      this.awaiting.delete(rec.id);
      this.onProposal(waiting.from, waiting.message);
    }
  }

  /**
   * The batch rules (S3 and reconfiguration): a reason if the block is invalid, else the
   * inputs this member still waits for (key → digest).
   */
  private checkBatch(
    b: Block,
    digests: readonly string[],
    parent: BlockRecord,
  ): string | Map<string, string> {
    const branch = this.branchOf(parent);
    if (typeof branch === 'string') return branch;
    if (branch.reconfig && b.inputs.length > 0) return 'inputs after a reconfiguration';
    if (b.inputs.length > this.maxBatch) return `more than ${this.maxBatch} inputs`;
    let bytes = 0;
    const missing = new Map<string, string>();
    for (const [i, input] of b.inputs.entries()) {
      bytes += input.body.length;
      if (i < b.inputs.length - 1 && this.reconfigures(input, b.height)) {
        return 'a reconfiguration must end its batch';
      }
      const key = seqKey(input);
      const expected = branch.next.get(key) ?? this.pool.nextSeq(key);
      if (input.seq !== expected) {
        return `${input.kind} ${input.from} #${input.seq} out of order (expected #${expected})`;
      }
      branch.next.set(key, expected + 1);
      const pooled = this.pool.entry(key, input.seq);
      if (pooled !== undefined && pooled.digest === digests[i]) continue;
      // An accepted change request carries the administrator's signature: it vouches for itself.
      if (input.kind === 'reconfigure' && this.reconfigures(input, b.height)) continue;
      if (input.auth !== undefined && this.opts.authenticateInput !== undefined) {
        if (!this.opts.authenticateInput(input)) {
          return `${input.kind} ${input.from} #${input.seq}: its sender did not sign it`;
        }
        continue;
      }
      missing.set(`${key}\u0000${input.seq}`, digests[i]!);
    }
    if (bytes > this.maxBatchBytes) return `more than ${this.maxBatchBytes} bytes of inputs`;
    return missing;
  }

  /** What the undecided ancestors of (and including) `tip` already order. */
  private branchOf(tip: BlockRecord): Branch | string {
    const next = new Map<string, number>();
    let reconfig = false;
    let hasInputs = false;
    const decided = this.decidedTip.height;
    let r: BlockRecord | undefined = tip;
    while (r.height > decided) {
      const inputs = r.block?.inputs ?? [];
      if (inputs.length > 0) hasInputs = true;
      if (r.reconfig) reconfig = true;
      for (const input of inputs) {
        const key = seqKey(input);
        if ((next.get(key) ?? 0) <= input.seq) next.set(key, input.seq + 1);
      }
      r = this.blocks.get(r.parent);
      if (r === undefined) return 'an ancestor is unknown';
    }
    if (r.id !== this.decidedTip.id) return 'does not extend the decided chain';
    return { next, reconfig, hasInputs };
  }

  private maybeVote(rec: BlockRecord, proposalSig: Uint8Array): undefined {
    const b = rec.block;
    if (b === null || !this.isMember || this.haltReason !== undefined) return;
    if (b.round !== this.round || b.round <= this.highestVotedRound) return; // R1
    const extendsQC = b.round === b.justify.round + 1;
    const extendsTC =
      b.tc !== undefined &&
      b.tc.round === b.round - 1 &&
      b.tc.timeouts.every((t) => b.justify.round >= t.highQcRound);
    if (!extendsQC && !extendsTC) return; // R2
    if (this.beforeRestoredEpoch()) return;
    this.raiseVoted(b.round);
    this.deferred = undefined;
    const sig = this.crypto.sign(voteStatement(this.quorum, this.epoch, b.round, rec.id));
    const vote: VoteMessage = {
      type: 'vote',
      epoch: this.epoch,
      round: b.round,
      blockId: rec.id,
      signer: this.self,
      sig,
      proposalSig,
    };
    this.broadcast(vote);
    this.countVote(vote);
  }

  private onVote(from: VatId, m: VoteMessage): undefined {
    if (m.signer !== from) return this.reject(from, 'vote relayed by another peer');
    if (!isMember(this.config, from)) {
      return this.reject(from, `vote from a non-member of epoch ${this.epoch}`);
    }
    if (m.round < 1) return this.reject(from, 'vote of round 0');
    if (m.round <= this.decidedRound()) return; // late: nothing left to certify there
    if (m.round > this.round + MAX_ROUNDS_AHEAD) return this.reject(from, 'vote too far ahead');
    const prev = this.votedBy.get(m.round)?.get(from);
    if (prev !== undefined && prev.blockId === m.blockId) return; // replay
    if (!this.verifyVoteSig(from, m.epoch, m.round, m.blockId, m.sig)) {
      return this.reject(from, 'bad vote signature');
    }
    if (prev !== undefined) {
      this.reportEquivocation('vote', from, m.round, prev, m);
      return this.reject(from, `second vote in round ${m.round}`);
    }
    // The proposal this vote is for: evidence if the leader signed another one for the round.
    const leader = this.leaderOf(m.round);
    const seen = this.proposalsSeen.get(m.round);
    if (seen === undefined) {
      this.proposalsSeen.set(m.round, {
        blockId: m.blockId,
        sig: m.proposalSig,
        verified: false,
      });
    } else if (seen.blockId !== m.blockId) {
      const other = { blockId: m.blockId, sig: m.proposalSig };
      if (
        this.provenProposal(m.round, seen) &&
        this.crypto.verify(
          leader,
          proposalStatement(this.quorum, m.epoch, m.round, m.blockId),
          m.proposalSig,
        )
      ) {
        this.reportEquivocation('proposal', leader, m.round, seen, other);
      }
    }
    this.countVote(m);
  }

  /** Whether a remembered proposal signature is the leader's (checked lazily). */
  private provenProposal(
    round: number,
    seen: { blockId: BlockId; sig: Uint8Array; verified: boolean },
  ): boolean {
    if (seen.verified) return true;
    const ok = this.crypto.verify(
      this.leaderOf(round),
      proposalStatement(this.quorum, this.epoch, round, seen.blockId),
      seen.sig,
    );
    if (ok) seen.verified = true;
    return ok;
  }

  private reportEquivocation(
    kind: 'proposal' | 'vote',
    signer: VatId,
    round: number,
    a: { blockId: BlockId; sig: Uint8Array },
    b: { blockId: BlockId; sig: Uint8Array },
  ): undefined {
    this.report(`${kind}|${signer}|${this.epoch}|${round}`, {
      kind,
      signer,
      epoch: this.epoch,
      round,
      a: { blockId: a.blockId, sig: a.sig },
      b: { blockId: b.blockId, sig: b.sig },
    });
  }

  private countVote(m: VoteMessage): undefined {
    const by = getOrAdd(this.votedBy, m.round);
    by.set(m.signer, { blockId: m.blockId, sig: m.sig });
    const perBlock = getOrAdd(this.votes, m.round);
    const sigs = getOrAdd(perBlock, m.blockId);
    sigs.set(m.signer, m.sig);
    if (sigs.size === this.config.threshold) {
      const qc: QC = {
        epoch: this.epoch,
        round: m.round,
        blockId: m.blockId,
        votes: [...sigs].map(([signer, sig]) => ({ signer, sig })),
      };
      this.onQC(qc, m.signer === this.self ? undefined : m.signer);
    }
  }

  /** A verified QC of this epoch: raise highQC, move to the next round, decide (R3). */
  private onQC(qc: QC, from: VatId | undefined): undefined {
    if (qc.round > this.highQC.round) {
      this.highQC = qc;
      this.highQCFrom = from ?? qc.votes.find((v) => v.signer !== this.self)?.signer;
    }
    if (qc.round <= this.decidedRound()) return;
    if (!this.qcs.has(qc.blockId)) this.qcs.set(qc.blockId, qc);
    if (qc.round >= this.round) this.advance(qc.round + 1, true);
    const rec = this.blocks.get(qc.blockId);
    if (rec !== undefined) this.onCertified(rec, qc);
  }

  private onCertified(rec: BlockRecord, qc: QC): undefined {
    const parent = this.blocks.get(rec.parent);
    if (
      rec.block !== null &&
      parent !== undefined &&
      parent.height > this.decidedTip.height &&
      rec.round === parent.round + 1
    ) {
      this.decide(parent, { child: rec.block, qc });
    }
  }

  private onTC(tc: TC): undefined {
    if (tc.round < this.round - 1) return;
    if (tc.round >= this.round && this.proposalsSeen.get(tc.round)?.verified !== true) {
      this.suspects.add(this.leaderOf(tc.round));
    }
    if (this.lastTC === undefined || tc.round > this.lastTC.round) this.lastTC = tc;
    this.advance(tc.round + 1, false);
  }

  private advance(round: number, progress: boolean): undefined {
    if (round <= this.round) return;
    this.round = round;
    if (progress) this.consecutiveTimeouts = 0;
    if (this.deferred !== undefined && this.deferred.rec.round < round) this.deferred = undefined;
    for (const map of [this.votes, this.votedBy, this.proposalsSeen, this.timeouts] as Map<
      number,
      unknown
    >[]) {
      for (const r of map.keys()) if (r < round - 2) map.delete(r);
    }
  }

  // ------------------------------------------------------------------ timeouts (view change)

  private onTimer(timer: 'round' | 'sync', epoch: number, round: number): undefined {
    if (this.haltReason !== undefined) return;
    if (timer === 'sync') {
      this.syncTimerArmed = false;
      if (this.isMember) return;
      this.syncInFlight.clear();
      const members = this.config.members.filter((m) => m !== this.self);
      const target = members[this.syncTarget++ % Math.max(1, members.length)];
      if (target !== undefined) this.requestSync(target);
      return;
    }
    if (epoch !== this.epoch || round !== this.round) return; // stale timer
    this.timerArmed = undefined;
    this.syncInFlight.clear();
    if (!this.isMember) return;
    this.timeOut();
    // Backstop for lost messages: fetch what certified blocks and waiting proposals lack, and
    // ask one member (in turn) for decisions we may have missed: others may have decided what
    // we still wait for and, having nothing left to order, would never propose again.
    if (!this.blocks.has(this.highQC.blockId) && this.highQCFrom !== undefined) {
      this.requestSync(this.highQCFrom);
    }
    for (const w of this.awaiting.values()) this.requestSync(w.from);
    const others = this.config.members.filter((x) => x !== this.self);
    const peer = others[this.syncTarget++ % Math.max(1, others.length)];
    if (peer !== undefined) this.requestSync(peer);
  }

  /** A member that is behind (its timeout names a lower QC) gets our highest QC, once a round. */
  private helpLaggard(peer: VatId, theirHighQcRound: number): undefined {
    if (theirHighQcRound >= this.highQC.round || this.helped.get(peer) === this.round) return;
    this.helped.set(peer, this.round);
    this.emit({
      type: 'send',
      to: peer,
      message: {
        type: 'sync-reply',
        segments: [],
        pending: [],
        highQC: this.highQC,
        oldestKept: null,
      },
    });
  }
  private readonly helped = new Map<VatId, number>();
  private readonly served = new Map<VatId, { state: string; repeats: number }>();

  /** Give up on the current round (R1, R4): broadcast (again) a signed timeout. */
  private timeOut(): undefined {
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts === STALL_TIMEOUTS && !this.stalled) {
      this.stalled = true;
      const { members, threshold } = this.config;
      this.emit({
        type: 'stalled',
        round: this.round,
        height: this.decidedTip.height,
        reason: `no progress for ${STALL_TIMEOUTS} view timeouts: fewer than ${threshold} of ${members.length} members reachable, or faulty leaders`,
      });
    }
    if (this.beforeRestoredEpoch()) return;
    this.raiseVoted(this.round);
    this.deferred = undefined;
    if (this.myTimeout === undefined || this.myTimeout.round !== this.round) {
      const highQcRound = this.highQC.round;
      const sig = this.crypto.sign(
        timeoutStatement(this.quorum, this.epoch, this.round, highQcRound),
      );
      this.myTimeout = {
        type: 'timeout',
        epoch: this.epoch,
        round: this.round,
        signer: this.self,
        highQC: this.highQC,
        tc: this.lastTC?.round === this.round - 1 ? this.lastTC : null,
        sig,
      };
      this.countTimeout(this.myTimeout.round, { signer: this.self, highQcRound, sig });
    }
    if (this.myTimeout !== undefined) this.broadcast(this.myTimeout);
  }

  private onTimeout(from: VatId, m: TimeoutMessage): undefined {
    if (m.signer !== from) return this.reject(from, 'timeout relayed by another peer');
    if (!isMember(this.config, from)) {
      return this.reject(from, `timeout from a non-member of epoch ${this.epoch}`);
    }
    if (m.round > this.round + MAX_ROUNDS_AHEAD) return this.reject(from, 'timeout too far ahead');
    if (m.tc !== null && m.tc.round >= this.round) {
      const tcProblem = this.checkTC(m.tc);
      if (tcProblem !== undefined) return this.reject(from, `timeout TC: ${tcProblem}`);
      this.onTC(m.tc);
    }
    this.helpLaggard(from, m.highQC.round);
    if (m.round < this.round) return; // late: that round is over here
    if (m.highQC.round >= m.round) return this.reject(from, 'timeout highQC not below its round');
    if (this.timeouts.get(m.round)?.has(from)) return; // replay
    const stmt = timeoutStatement(this.quorum, m.epoch, m.round, m.highQC.round);
    if (!this.verifySig(from, stmt, m.sig, `t|${m.epoch}|${m.round}|${m.highQC.round}`)) {
      return this.reject(from, 'bad timeout signature');
    }
    const qcProblem = this.checkQC(m.highQC);
    if (qcProblem !== undefined) return this.reject(from, `timeout highQC: ${qcProblem}`);
    this.onQC(m.highQC, from);
    if (m.round < this.round) return; // the QC moved us past it
    if (!this.blocks.has(m.highQC.blockId) && m.highQC.round > this.decidedRound()) {
      this.requestSync(from);
    }
    this.countTimeout(m.round, { signer: from, highQcRound: m.highQC.round, sig: m.sig });
  }

  private countTimeout(round: number, t: TimeoutVote): undefined {
    const by = getOrAdd(this.timeouts, round);
    by.set(t.signer, t);
    const f = toleranceOf(this.config).byzantine;
    if (
      round === this.round &&
      by.size >= f + 1 &&
      this.isMember &&
      this.myTimeout?.round !== round
    ) {
      this.timeOut(); // at least one honest member gave up on this round: join it
    }
    if (by.size === this.config.threshold) {
      this.onTC({ epoch: this.epoch, round, timeouts: [...by.values()] });
    }
  }

  // ------------------------------------------------------------------ proposing

  private maybePropose(): undefined {
    if (!this.isMember || this.haltReason !== undefined) return;
    if (this.leaderOf(this.round) !== this.self || this.proposedRound >= this.round) return;
    if (this.highestVotedRound >= this.round) return;
    const qc = this.highQC;
    const viaTC = this.round !== qc.round + 1;
    if (viaTC && this.lastTC?.round !== this.round - 1) return;
    const parent = this.blocks.get(qc.blockId);
    if (parent === undefined) {
      if (this.highQCFrom !== undefined) this.requestSync(this.highQCFrom);
      return;
    }
    const branch = this.branchOf(parent);
    if (typeof branch === 'string') return;
    const height = parent.height + 1;
    const picked = branch.reconfig
      ? []
      : this.pool.pick(branch.next, this.maxBatch, this.maxBatchBytes, (input) =>
          this.reconfigures(input, height),
        );
    if (picked.length === 0 && !branch.hasInputs) return;
    const block: Block = {
      epoch: this.epoch,
      round: this.round,
      height: parent.height + 1,
      parent: parent.id,
      proposer: this.self,
      justify: qc,
      ...(viaTC ? { tc: this.lastTC! } : {}),
      inputs: picked.map((e) => e.input),
    };
    const digests = picked.map((e) => e.digest);
    const id = blockIdOf(this.quorum, block, digests);
    const sig = this.crypto.sign(proposalStatement(this.quorum, this.epoch, this.round, id));
    this.proposedRound = this.round;
    this.proposalsSeen.set(this.round, { blockId: id, sig, verified: true });
    this.broadcast({ type: 'proposal', block, sig });
    const rec = this.record(block, id, digests);
    this.insert(rec);
    this.maybeVote(rec, sig);
  }

  // ------------------------------------------------------------------ inputs

  private onSubmit(raw: Input): undefined {
    if (this.haltReason !== undefined) return;
    const input = checkInput(raw);
    if (typeof input === 'string') return this.reject(raw?.from ?? '?', input);
    const added = this.pool.add(input);
    if (!added.ok) {
      if (added.reason !== undefined) this.reject(input.from, added.reason);
      return;
    }
    const { key, digest } = added;
    const d = this.deferred;
    if (d !== undefined) {
      const missingKey = `${key}\u0000${input.seq}`;
      if (d.missing.get(missingKey) === digest) {
        d.missing.delete(missingKey);
        if (d.missing.size === 0) {
          this.deferred = undefined;
          this.maybeVote(d.rec, d.sig);
        }
      }
    }
  }

  // ------------------------------------------------------------------ deciding

  /** Decides `tip` and its undecided ancestors, in height order (R3, S4). */
  private decide(tip: BlockRecord, proof: CommitProof): undefined {
    const chain: BlockRecord[] = [];
    let r: BlockRecord | undefined = tip;
    while (r !== undefined && r.height > this.decidedTip.height) {
      chain.push(r);
      r = this.blocks.get(r.parent);
    }
    if (r === undefined || r.id !== this.decidedTip.id) {
      return this.halt(
        `safety violation: a certified chain at height ${tip.height} does not extend the decided block at height ${this.decidedTip.height}`,
      );
    }
    chain.reverse();
    // A reconfiguration ends the epoch: the blocks after it (empty) are certified but never
    // decided; the proof keeps them as links from it to the certified child.
    const end = chain.findIndex((rec) => rec.reconfig);
    const links = end < 0 ? [] : chain.slice(end + 1).map((rec) => rec.block!);
    const shown = links.length > 0 ? { ...proof, links } : proof;
    for (const rec of end < 0 ? chain : chain.slice(0, end + 1)) {
      this.decideOne(rec, shown);
      if (rec.reconfig) return this.nextEpoch(rec);
    }
    this.prune();
  }

  private decideOne(rec: BlockRecord, proof: CommitProof): undefined {
    const block = rec.block!;
    this.emit({
      type: 'decide',
      epoch: rec.epoch,
      round: rec.round,
      height: rec.height,
      blockId: rec.id,
      inputs: block.inputs,
      block,
      proof,
    });
    for (const input of block.inputs) this.pool.decided(input);
    if (this.stalled) {
      this.stalled = false;
      this.emit({ type: 'resumed', height: rec.height });
    }
    this.decidedTip = rec;
    this.history.set(rec.height, { block, proof });
    this.historyBytes += blockBytes(block);
    while (
      this.history.size > 1 &&
      (this.history.size > this.keepDecided || this.historyBytes > this.keepDecidedBytes)
    ) {
      this.historyBytes -= blockBytes(this.history.get(this.oldestKept)!.block);
      this.history.delete(this.oldestKept++);
    }
  }

  /** Forget blocks that can no longer be decided (at or below the decided height). */
  private prune(): undefined {
    const h = this.decidedTip.height;
    for (const [id, rec] of this.blocks) {
      if (rec.height <= h && id !== this.decidedTip.id) this.blocks.delete(id);
    }
    for (const id of this.qcs.keys()) if (!this.blocks.has(id)) this.qcs.delete(id);
  }

  private nextEpoch(rec: BlockRecord): undefined {
    const input = rec.block!.inputs.at(-1)!;
    const next = this.opts.reconfigure!(this.config, input, rec.height);
    if (typeof next === 'string' || next.epoch !== this.epoch + 1) {
      return this.halt(`reconfiguration hook is not deterministic at height ${rec.height}`);
    }
    try {
      checkArithmetic(next.members.length, next.threshold);
    } catch (err) {
      return this.halt(`reconfiguration to an unsafe configuration: ${(err as Error).message}`);
    }
    this.configs.set(next.epoch, next);
    this.config = next;
    this.epochRoot = rec.id;
    this.blocks = new Map([[rec.id, rec]]);
    this.qcs = new Map();
    this.highQC = { epoch: next.epoch, round: 0, blockId: rec.id, votes: [] };
    this.highQCFrom = undefined;
    this.round = 1;
    this.highestVotedRound = 0;
    this.restoreSafety();
    this.proposedRound = 0;
    this.lastTC = undefined;
    this.consecutiveTimeouts = 0;
    this.suspects.clear();
    this.myTimeout = undefined;
    this.votes = new Map();
    this.votedBy = new Map();
    this.proposalsSeen = new Map();
    this.timeouts = new Map();
    this.deferred = undefined;
    this.awaiting = new Map();
    this.syncInFlight.clear();
    this.emit({ type: 'epoch', config: next, since: rec.height + 1, root: rec.id });
    const future = this.future;
    this.future = [];
    for (const f of future) {
      if (f.epoch === this.epoch) this.onMessage(f.from, f.message);
      else if (f.epoch > this.epoch) this.future.push(f);
    }
  }

  // ------------------------------------------------------------------ catching up

  private requestSync(peer: VatId): undefined {
    if (peer === this.self || this.syncInFlight.has(peer)) return;
    this.syncInFlight.add(peer);
    this.emit({
      type: 'send',
      to: peer,
      message: { type: 'sync', fromHeight: this.decidedTip.height + 1 },
    });
  }

  private maySync(peer: VatId): boolean {
    if (this.opts.maySync !== undefined) return this.opts.maySync(peer);
    if (this.opts.learners?.includes(peer)) return true;
    for (const c of this.configs.values()) if (isMember(c, peer)) return true;
    return false;
  }

  private onSync(from: VatId, fromHeight: number): undefined {
    if (!this.maySync(from)) return this.reject(from, 'sync from a peer that is not a member');
    // A peer must not turn small requests into a stream of large replies: the same request
    // while our state is unchanged is answered only the 1st, 2nd, 4th, 8th… time (a lost reply
    // is still replaced when the peer asks again; a flood gets a logarithmic trickle).
    const state = `${fromHeight}|${this.epoch}|${this.round}|${this.decidedTip.height}`;
    const last = this.served.get(from);
    const repeats = last?.state === state ? last.repeats + 1 : 1;
    this.served.set(from, { state, repeats });
    if ((repeats & (repeats - 1)) !== 0) return;
    const top = this.decidedTip.height;
    if (fromHeight <= top && fromHeight < this.oldestKept) {
      this.emit({
        type: 'send',
        to: from,
        message: {
          type: 'sync-reply',
          segments: [],
          pending: [],
          highQC: null,
          oldestKept: this.oldestKept,
        },
      });
      return;
    }
    const segments: DecidedSegment[] = [];
    let h = Math.max(fromHeight, 1);
    let count = 0;
    let bytes = 0;
    while (h <= top && count < SYNC_BLOCKS && bytes < SYNC_BYTES && segments.length < 256) {
      const first = this.history.get(h)!;
      const blocks = [first.block];
      // One commit step shares one proof (the same certified child), restored copies included.
      const child = first.proof.qc.blockId;
      for (h++; h <= top && this.history.get(h)!.proof.qc.blockId === child; h++) {
        blocks.push(this.history.get(h)!.block);
      }
      segments.push({ blocks, proof: first.proof });
      count += blocks.length;
      for (const b of blocks) bytes += blockBytes(b);
    }
    const pending: Block[] = [];
    if (h > top) {
      let r = this.blocks.get(this.highQC.blockId);
      while (r !== undefined && r.height > top && r.block !== null) {
        pending.push(r.block);
        r = this.blocks.get(r.parent);
      }
      pending.reverse();
      pending.splice(PENDING_BLOCKS);
    }
    this.emit({
      type: 'send',
      to: from,
      message: {
        type: 'sync-reply',
        segments,
        pending,
        highQC: this.highQC.round > 0 ? this.highQC : null,
        oldestKept: null,
      },
    });
  }

  private onSyncReply(from: VatId, m: Extract<OrderingMessage, { type: 'sync-reply' }>): undefined {
    const solicited = this.syncInFlight.delete(from);
    if (m.oldestKept !== null) {
      if (this.decidedTip.height + 1 < m.oldestKept && !this.stateTransferReported) {
        this.stateTransferReported = true;
        this.emit({
          type: 'state-transfer-needed',
          fromHeight: this.decidedTip.height + 1,
          oldestKept: m.oldestKept,
        });
      }
      return;
    }
    for (const seg of m.segments) {
      const problem = this.applySegment(seg);
      if (problem !== undefined) return this.reject(from, `sync: ${problem}`);
      if (this.haltReason !== undefined) return;
    }
    // Undecided blocks only from a peer we asked: unsolicited ones could only fill memory.
    for (const b of solicited ? m.pending : []) {
      if (b.epoch !== this.epoch) continue;
      const parent = this.blocks.get(b.parent);
      if (
        parent === undefined ||
        b.height !== parent.height + 1 ||
        b.parent !== b.justify.blockId
      ) {
        continue;
      }
      const digests = b.inputs.map(inputDigest);
      const id = blockIdOf(this.quorum, b, digests);
      if (this.blocks.has(id) || this.checkQC(b.justify) !== undefined) continue;
      // Not checked for votes: only certified descendants (k signers, one honest) decide it.
      this.onQC(b.justify, from);
      this.insert(this.record(b, id, digests));
    }
    if (m.highQC !== null && m.highQC.epoch === this.epoch) {
      if (this.checkQC(m.highQC) === undefined) this.onQC(m.highQC, from);
      // Behind by more than this reply carried: ask again (a reply with nothing new does not).
      const progressed = m.segments.length > 0 || m.pending.length > 0;
      if (!this.blocks.has(m.highQC.blockId) && (progressed || !solicited)) {
        this.requestSync(from);
      }
    }
  }

  /** Decides a segment of blocks after checking its links and its commit proof. */
  private applySegment(seg: DecidedSegment): string | undefined {
    const blocks = seg.blocks.filter((b) => b.height > this.decidedTip.height);
    if (blocks.length === 0) return undefined;
    const ids: BlockId[] = [];
    const digests = blocks.map((b) => b.inputs.map(inputDigest));
    let prev = this.decidedTip;
    for (const [i, b] of blocks.entries()) {
      if (b.epoch !== this.epoch) return `block of epoch ${b.epoch} while in epoch ${this.epoch}`;
      if (b.parent !== prev.id || b.height !== prev.height + 1) return 'blocks do not link';
      ids.push(blockIdOf(this.quorum, b, digests[i]!));
      prev = { ...this.record(b, ids[i]!, digests[i]!) };
    }
    const { child, qc } = seg.proof;
    // Certified blocks linking the last decided one to the child (after a reconfiguration).
    let last = blocks.at(-1)!;
    let lastId = ids.at(-1)!;
    for (const link of seg.proof.links ?? []) {
      if (link.parent !== lastId || link.height !== last.height + 1 || link.epoch !== this.epoch) {
        return 'commit proof links do not link';
      }
      last = link;
      lastId = blockIdOf(this.quorum, link, link.inputs.map(inputDigest));
    }
    if (child.parent !== lastId || child.round !== last.round + 1 || child.epoch !== this.epoch) {
      return 'commit proof does not follow the last block';
    }
    const childId = blockIdOf(this.quorum, child, child.inputs.map(inputDigest));
    if (qc.blockId !== childId || qc.round !== child.round) return 'commit proof QC mismatch';
    const problem = this.checkQC(qc);
    if (problem !== undefined) return `commit proof: ${problem}`;
    for (const [i, b] of blocks.entries()) {
      const rec = this.record(b, ids[i]!, digests[i]!);
      this.blocks.set(rec.id, rec);
      this.decideOne(rec, seg.proof);
      if (rec.reconfig) {
        this.nextEpoch(rec);
        return undefined;
      }
    }
    this.prune();
    return undefined;
  }

  // ------------------------------------------------------------------ checkpoints

  private onExecuted(height: number, hash: string): undefined {
    if (this.haltReason !== undefined) return;
    this.checkpoints.executed(height, hash, this.history.get(height)?.block.epoch ?? this.epoch);
  }

  private diverge(height: number, local: string, agreed: string): undefined {
    this.emit({ type: 'diverged', height, local, agreed });
    this.halt(`transcript diverged at height ${height}`);
  }
}
