/**
 * The state of one member's Replica (replica.ts) that every part reads and changes: the options,
 * the configurations, the chain of the current epoch, the voting and pacing marks, and the
 * actions an event produced. The parts (voting.ts, proposals.ts, view-change.ts, sync.ts, …)
 * are functions of this state; only they change it, only inside Replica.handle.
 */
import type { VatId } from '../../protocol/identity.ts';
import { checkArithmetic, isMember, type QuorumConfig } from '../config.ts';
import { rootQC } from './certificates.ts';
import { Checkpoints } from './checkpoints.ts';
import { InputPool } from './pool.ts';
import { diverge } from './replica.ts';
import { restoreSafety, resume } from './restart.ts';
import { genesisBlockId } from './statements.ts';
import type {
  AuthenticateInput,
  Block,
  BlockId,
  CommitProof,
  Evidence,
  OrderingCrypto,
  OrderingMessage,
  QC,
  Reconfigure,
  ReplicaAction,
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
  /**
   * The digest of the executor's committed state at checkpoint height `height`, asked right
   * after it executed that height: the checkpoint statement then signs checkpointValue(hash,
   * digest), so a stable checkpoint certifies a state a learner can install (member/snapshot.ts).
   * Without it the statement signs the transcript hash alone.
   */
  readonly stateDigest?: (height: number) => string;
}

export interface BlockRecord {
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

export interface Branch {
  /** Next expected seq per sender key along the branch's undecided blocks. */
  readonly next: Map<string, number>;
  readonly reconfig: boolean;
  readonly hasInputs: boolean;
}

export type VoteMessage = Extract<OrderingMessage, { type: 'vote' }>;

export type TimeoutMessage = Extract<OrderingMessage, { type: 'timeout' }>;

export type ProposalMessage = Extract<OrderingMessage, { type: 'proposal' }>;

export const MAX_ROUNDS_AHEAD = 10_000;

const MAX_REPORTED = 10_000;

export const blockBytes = (b: Block) => b.inputs.reduce((n, i) => n + i.body.length, 0);

/** The map's value at key, created by make() (an empty Map by default) if absent. */
export function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V = () => new Map() as V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

/** The state every part of a Replica reads and changes (one member, one quorum). */
export class ReplicaState {
  readonly self: VatId;
  readonly opts: ReplicaOptions;
  readonly crypto: OrderingCrypto;
  readonly quorum: VatId;
  readonly viewTimeoutMs: number;
  readonly maxViewTimeoutMs: number;
  readonly maxBatch: number;
  readonly maxBatchBytes: number;
  readonly checkpointInterval: number;
  readonly maxPendingPerSender: number;
  readonly keepDecided: number;
  readonly keepDecidedBytes: number;
  historyBytes = 0;
  out: ReplicaAction[] = [];
  readonly configs = new Map<number, QuorumConfig>();
  config: QuorumConfig;

  // chain (current epoch)
  blocks = new Map<BlockId, BlockRecord>();
  qcs = new Map<BlockId, QC>();
  highQC: QC;
  highQCFrom: VatId | undefined;
  decidedTip: BlockRecord;
  readonly history = new Map<number, { block: Block; proof: CommitProof }>();
  oldestKept = 1;

  // voting and pacing
  round = 1;
  highestVotedRound = 0;
  proposedRound = 0;
  lastTC: TC | undefined;
  consecutiveTimeouts = 0;
  /** Leaders whose last turn ended by timeout without their proposal reaching us. */
  readonly suspects = new Set<VatId>();
  stalled = false;
  myTimeout: TimeoutMessage | undefined;
  votes = new Map<number, Map<BlockId, Map<VatId, Uint8Array>>>();
  votedBy = new Map<number, Map<VatId, { blockId: BlockId; sig: Uint8Array }>>();
  proposalsSeen = new Map<number, { blockId: BlockId; sig: Uint8Array; verified: boolean }>();
  timeouts = new Map<number, Map<VatId, TimeoutVote>>();
  deferred: { rec: BlockRecord; sig: Uint8Array; missing: Map<string, string> } | undefined;
  awaiting = new Map<BlockId, { from: VatId; message: ProposalMessage }>();
  future: { from: VatId; message: OrderingMessage; epoch: number }[] = [];
  timerArmed: { epoch: number; round: number } | undefined;
  syncTimerArmed = false;
  syncTarget = 0;
  readonly syncInFlight = new Set<VatId>();
  stateTransferReported = false;
  /** Members that said our next height is no longer kept, with the tip we had then (sync.ts). */
  readonly tooFarBehind = new Map<VatId, { tip: number; oldestKept: number }>();
  /** A learner's last sync reply brought it up to its peer's decided tip (caught up). */
  syncedComplete = false;
  readonly pool: InputPool;
  readonly checkpoints: Checkpoints;
  readonly reported = new Set<string>();
  readonly verified = new Set<string>();
  haltReason: string | undefined;
  epochRoot: BlockId = '';
  readonly helped = new Map<VatId, number>();
  /** The highest QC (`epoch|round`) last pushed to each peer when it connected. */
  readonly pushed = new Map<VatId, string>();
  readonly served = new Map<VatId, { state: string; repeats: number }>();
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
    this.highQC = rootQC(g, root.id);
    this.epochRoot = root.id;
    this.pool = new InputPool(this.maxPendingPerSender);
    if (opts.resume !== undefined) resume(this, opts.resume);
    restoreSafety(this);
    this.checkpoints = new Checkpoints(
      this.quorum,
      this.self,
      this.checkpointInterval,
      this.crypto,
      {
        emit: (a) => this.emit(a),
        reject: (from, reason) => this.reject(from, reason),
        report: (key, evidence) => this.report(key, evidence),
        diverge: (height, local, agreed) => diverge(this, height, local, agreed),
        configOf: (epoch) => this.configs.get(epoch),
        decidedHeight: () => this.decidedTip.height,
        ...(opts.stateDigest !== undefined ? { stateDigest: opts.stateDigest } : {}),
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
  leaderOf(round: number): VatId {
    const m = this.config.members;
    return m[(round + this.config.epoch) % m.length]!;
  }
  emit(action: ReplicaAction): undefined {
    this.out.push(action);
  }
  reject(from: VatId, reason: string): undefined {
    this.emit({ type: 'rejected', from, reason });
  }
  broadcast(message: OrderingMessage): undefined {
    this.emit({ type: 'broadcast', message });
  }
  halt(reason: string): undefined {
    if (this.haltReason !== undefined) return;
    this.haltReason = reason;
    this.emit({ type: 'halted', reason });
    this.emit({ type: 'cancel-timer', timer: 'round' });
    this.emit({ type: 'cancel-timer', timer: 'sync' });
  }
  decidedRound(): number {
    return this.decidedTip.epoch === this.epoch ? this.decidedTip.round : 0;
  }
  report(key: string, evidence: Evidence): undefined {
    if (this.reported.has(key)) return;
    // Keys name a round or height; old ones cannot come back (their state is gone), so a
    // member lying every round costs a bounded memory.
    if (this.reported.size >= MAX_REPORTED)
      this.reported.delete(this.reported.values().next().value!);
    this.reported.add(key);
    this.emit({ type: 'evidence', evidence });
  }
}
