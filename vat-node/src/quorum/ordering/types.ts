/**
 * Types of the ordering core: what a Replica is given (configuration, signer, hooks), the
 * messages members exchange, the events a Replica handles and the actions it returns.
 *
 * Members are named by their VatIDs (QuorumConfig, ../config.ts). The core never touches keys
 * or the network: it signs and verifies through `OrderingCrypto`, and says what to send through
 * actions. Bytes (signatures, message bodies) are Uint8Arrays; block ids and digests are
 * lower-case hex SHA-256.
 */

import type { VatId } from '../../protocol/identity.ts';
import type { Certificate } from '../certificate.ts';
import type { QuorumConfig } from '../config.ts';

export type BlockId = string;

/** Signing with this member's vat key and checking other members' signatures. */
export interface OrderingCrypto {
  sign(bytes: Uint8Array): Uint8Array;
  /** True only if `signer` signed `bytes`; never throws. Says nothing about membership. */
  verify(signer: VatId, bytes: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * One inbound item to order. `message`: a vat message from `from` with its per-sender sequence
 * number (1, 2, 3, … per sender, the KernelPort's numbering); `reconfigure`: a membership change
 * request (its body is interpreted by the `reconfigure` hook), sequenced per requester.
 * `auth` is the sender's own signature over the input, when the sender gives one: it lets a
 * member vote for an input it has not received itself (see batch.ts, "Unseen inputs").
 */
export interface Input {
  readonly kind: 'message' | 'reconfigure';
  readonly from: VatId;
  readonly seq: number;
  readonly body: Uint8Array;
  readonly auth?: Uint8Array;
}

/**
 * Quorum certificate: k members of `epoch` voted for `blockId` in `round`. The votes are a
 * certificate of ../certificate.ts (signer bitmap over the epoch's sorted members, signatures
 * in member order): one representation for every k-of-n certificate of a quorum. No signer
 * (an all-zero bitmap, no signatures) only for the root certificate of an epoch (round 0, the
 * epoch's root block).
 */
export interface QC extends Certificate {
  readonly round: number;
  readonly blockId: BlockId;
}

/** One member's signed timeout of `round`, naming the round of its highest QC. */
export interface TimeoutVote {
  readonly signer: VatId;
  readonly highQcRound: number;
  readonly sig: Uint8Array;
}

/**
 * Timeout certificate: k members gave up on `round`. Not a ../certificate.ts certificate: each
 * member signs its own statement (the round of its highest QC differs between them), so a TC
 * keeps each signer's highQcRound next to its signature.
 */
export interface TC {
  readonly epoch: number;
  readonly round: number;
  readonly timeouts: readonly TimeoutVote[];
}

/**
 * A proposal's content. Its parent is the block `justify` certifies; `tc` is present when the
 * block's round does not follow justify's round (the previous round timed out).
 */
export interface Block {
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
  readonly parent: BlockId;
  readonly proposer: VatId;
  readonly justify: QC;
  readonly tc?: TC;
  readonly inputs: readonly Input[];
}

/**
 * Proof that a tip is decided: `child` (round = the round of its parent + 1) is certified, and
 * its parent is the tip or, after a reconfiguration, reached from the tip through `links`
 * (certified blocks after the reconfiguration, never decided themselves).
 */
export interface CommitProof {
  readonly child: Block;
  readonly qc: QC;
  readonly links?: readonly Block[];
}

/** Decided blocks (consecutive heights, one epoch) whose last one `proof` shows decided. */
export interface DecidedSegment {
  readonly blocks: readonly Block[];
  readonly proof: CommitProof;
}

export type OrderingMessage =
  | { readonly type: 'proposal'; readonly block: Block; readonly sig: Uint8Array }
  | {
      readonly type: 'vote';
      readonly epoch: number;
      readonly round: number;
      readonly blockId: BlockId;
      readonly signer: VatId;
      readonly sig: Uint8Array;
      /** The leader's signature of the proposal voted for: evidence if the leader equivocated. */
      readonly proposalSig: Uint8Array;
    }
  | {
      readonly type: 'timeout';
      readonly epoch: number;
      readonly round: number;
      readonly signer: VatId;
      readonly highQC: QC;
      /** The TC that moved the sender into `round`, if a TC did: lets laggards catch up. */
      readonly tc: TC | null;
      readonly sig: Uint8Array;
    }
  | {
      readonly type: 'checkpoint';
      readonly epoch: number;
      readonly height: number;
      readonly hash: string;
      readonly signer: VatId;
      readonly sig: Uint8Array;
    }
  /** Ask for decided blocks from `fromHeight` on, and the sender's undecided chain. */
  | { readonly type: 'sync'; readonly fromHeight: number }
  | {
      readonly type: 'sync-reply';
      readonly segments: readonly DecidedSegment[];
      /** Undecided blocks from the sender's last decided block to its highest certified one. */
      readonly pending: readonly Block[];
      readonly highQC: QC | null;
      /** Set when the requested heights are no longer kept: catch up from a checkpoint. */
      readonly oldestKept: number | null;
    };

/** Two signed statements of one member that cannot both be honest. */
export type Evidence =
  | {
      readonly kind: 'proposal' | 'vote';
      readonly signer: VatId;
      readonly epoch: number;
      readonly round: number;
      readonly a: { readonly blockId: BlockId; readonly sig: Uint8Array };
      readonly b: { readonly blockId: BlockId; readonly sig: Uint8Array };
    }
  | {
      readonly kind: 'checkpoint';
      readonly signer: VatId;
      readonly epoch: number;
      readonly height: number;
      readonly a: { readonly hash: string; readonly sig: Uint8Array };
      readonly b: { readonly hash: string; readonly sig: Uint8Array };
    }
  /** A member's transcript hash differs from the one k members of the epoch certified. */
  | {
      readonly kind: 'transcript';
      readonly signer: VatId;
      readonly epoch: number;
      readonly height: number;
      readonly claimed: { readonly hash: string; readonly sig: Uint8Array };
      /** The checkpoint certificate (../certificate.ts) on the agreed hash. */
      readonly agreed: { readonly hash: string; readonly certificate: Certificate };
    };

export type TimerName = 'round' | 'sync';

/**
 * Where a restarted member resumes: what its durable store kept with the last executed height
 * (from the `decide` and `epoch` actions, and the kernel's committed inbound marks).
 */
export interface ResumeState {
  /** Every epoch's configuration up to the current one, genesis first. */
  readonly configs: readonly QuorumConfig[];
  /** The block the current epoch started from (`epoch` action's root; genesis: none given). */
  readonly epochRoot?: BlockId;
  /** The last decided and executed block. */
  readonly tip: {
    readonly id: BlockId;
    readonly epoch: number;
    readonly round: number;
    readonly height: number;
  };
  /** The next undecided seq of each sender (keys as pool.ts seqKey). */
  readonly next: ReadonlyMap<string, number>;
  /** The undecided blocks it persisted (`persist-block`). */
  readonly blocks?: readonly Block[];
  /** Recent decided blocks with their proofs (from `decide`), ending at the tip: served to peers. */
  readonly decided?: readonly { readonly block: Block; readonly proof: CommitProof }[];
}

/**
 * What a member must remember across a restart to stay honest: the last round it voted in, and
 * the highest certificate it held then (its timeouts must keep naming it: a view change relies
 * on the voters of a decided block reporting its certificate).
 */
export interface SafetyState {
  readonly epoch: number;
  readonly highestVotedRound: number;
  readonly highQC: QC;
}

export type ReplicaEvent =
  /** Begin: arm timers, propose if leading. */
  | { readonly type: 'start' }
  /** A message from another member (or a learner), as received: it is validated here. */
  | { readonly type: 'message'; readonly from: VatId; readonly message: unknown }
  /** An input arrived directly from its sender (authenticated by the transport). */
  | { readonly type: 'submit'; readonly input: Input }
  /** A timer set by a `set-timer` action fired. */
  | {
      readonly type: 'timer';
      readonly timer: TimerName;
      readonly epoch: number;
      readonly round: number;
    }
  /** The executor ran every decided input up to `height`; `hash` is its transcript hash there. */
  | { readonly type: 'executed'; readonly height: number; readonly hash: string }
  /**
   * A (new) connection to this peer opened: it may have missed what we sent while it was
   * unreachable (the link is best effort), and an idle quorum sends nothing more.
   */
  | { readonly type: 'peer-connected'; readonly peer: VatId };

export type ReplicaAction =
  | { readonly type: 'send'; readonly to: VatId; readonly message: OrderingMessage }
  /** To every other member of the current configuration. */
  | { readonly type: 'broadcast'; readonly message: OrderingMessage }
  /** (Re)arm the named timer; a later set-timer or cancel-timer of that name replaces it. */
  | {
      readonly type: 'set-timer';
      readonly timer: TimerName;
      readonly delayMs: number;
      readonly epoch: number;
      readonly round: number;
    }
  | { readonly type: 'cancel-timer'; readonly timer: TimerName }
  /** Execute these inputs, in this order, after those of height - 1. Heights have no gaps. */
  | {
      readonly type: 'decide';
      readonly epoch: number;
      readonly round: number;
      readonly height: number;
      readonly blockId: BlockId;
      readonly inputs: readonly Input[];
      /** The block and the proof it is decided: keep recent ones to serve peers after a restart. */
      readonly block: Block;
      readonly proof: CommitProof;
    }
  /** A new configuration is in force from the next height on. */
  | {
      readonly type: 'epoch';
      readonly config: QuorumConfig;
      readonly since: number;
      /** The decided block the epoch starts from (keep it for ResumeState.epochRoot). */
      readonly root: BlockId;
    }
  | { readonly type: 'evidence'; readonly evidence: Evidence }
  | { readonly type: 'rejected'; readonly from: VatId; readonly reason: string }
  /** k members of the epoch agree on the transcript hash at `height`. */
  | {
      readonly type: 'stable-checkpoint';
      readonly height: number;
      readonly hash: string;
      /** k members' checkpoint signatures on the hash (../certificate.ts). */
      readonly certificate: Certificate;
    }
  /** This member's transcript differs from the agreed one: it stopped executing. */
  | {
      readonly type: 'diverged';
      readonly height: number;
      readonly local: string;
      readonly agreed: string;
    }
  /** Decided blocks this member needs are no longer kept by its peer: restore a checkpoint. */
  | {
      readonly type: 'state-transfer-needed';
      readonly fromHeight: number;
      readonly oldestKept: number;
    }
  /**
   * No progress for several view timeouts in a row (fewer than k members reachable, or
   * successive faulty leaders): said once, until `resumed`.
   */
  | {
      readonly type: 'stalled';
      readonly round: number;
      readonly height: number;
      readonly reason: string;
    }
  /** Deciding again after `stalled`. */
  | { readonly type: 'resumed'; readonly height: number }
  /**
   * Write this durably BEFORE carrying out the actions after it (they include the vote or
   * timeout it covers); give it back as `safety` after a restart, so the member never votes
   * twice in a round it may already have voted in.
   */
  | { readonly type: 'persist-safety'; readonly state: SafetyState }
  /**
   * Write this (undecided) block durably BEFORE carrying out the actions after it (a vote for
   * it), and forget it once its height is decided; give the others back in ResumeState.blocks
   * after a restart. A certified block must survive its holders' restarts: the next leader has
   * to extend the highest certificate, so a certified block nobody holds would stop the quorum.
   */
  | { readonly type: 'persist-block'; readonly block: Block }
  /** Something only more than f Byzantine members could cause: this member stopped. */
  | { readonly type: 'halted'; readonly reason: string };

/**
 * Interprets a `reconfigure` input ordered at `height`: the next configuration (epoch + 1, in
 * force from height + 1), or the reason it is refused (then it is decided and changes nothing).
 * Must be deterministic: every member runs it on the same (config, input, height).
 */
export type Reconfigure = (
  current: QuorumConfig,
  input: Input,
  height: number,
) => QuorumConfig | string;

/**
 * Checks an input's `auth` (its sender's own signature): true (the sender signed it), false
 * (it cannot be: the block is refused) or 'unknown' (not without inputs this member does not
 * hold, e.g. the rest of the run one signature covers: the member waits as for an unseen
 * input). `related(seq)` is the same sender's input `seq` as the block carries it, else as
 * this member's pool holds it.
 */
export type AuthenticateInput = (
  input: Input,
  related: (seq: number) => Input | undefined,
) => boolean | 'unknown';
