/**
 * Messages FROM a quorum vat Q, combined from its members' VatTP frames. Pure logic: no I/O, no
 * clock. (outbound.ts is the same rule over separate signed digest statements; on the wire the
 * member's signed frame is the statement, so this combiner takes frames.)
 *
 * Every member executes the same agreed inputs, so every honest member sends us Q's messages
 * with the same seqs and the same content. A frame from member M (signed by M's host key, the
 * transport checked the signature) carrying (seq, msg) is M's claim "Q's message seq to you is
 * msg". We deliver seq s exactly once, in seq order, when k distinct members of Q's CURRENT
 * configuration claimed identical content (sha256 of canonical JSON). With at most f Byzantine
 * members and k > f, one of those k is honest: the content is what the agreed order produced.
 *
 * Two different contents for one seq from one member prove it faulty: both signed frames are
 * kept as Evidence (portable: verifyFrameEvidence checks the wire bytes anywhere), reported once
 * per member, and its votes are dropped and ignored from then on. Non-members, members removed by
 * a newer configuration (setConfig) and seqs already delivered do not count.
 *
 * Memory per quorum sender is bounded: only seqs in (delivered, delivered + window] are kept
 * (window = params.maxPendingPerSender; others are dropped, and the client port closes that
 * member's stream without a strike, so it resends from the receiver's ack), each member holds at most one vote per seq, and the frame bytes a
 * member's votes keep alive count against that member's own budget (a frame is counted once
 * however many of its messages it votes for), so a Byzantine member can fill only its own share.
 * The next seq to deliver is always taken, so full budgets never stall delivery.
 *
 * A member's frame may carry its signatures beside a message (`auth`, member-auth.ts): what the
 * receiver needs besides the content (a certificate for a quorum receiver's ordering, handoff
 * certificates). The `complete` hook gets the members that sent the winning content with their
 * auths and says whether k of them signed what is needed; until it does the seq waits (for
 * another member's frame), so one member's bad signature never blocks or forges anything.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import type { AuthSequenced } from '../../transport/types.ts';
import { decodeWire, verifyFrame } from '../../vattp/codec.ts';
import { memberIndex, type QuorumConfig } from '../config.ts';
import { messageDigest } from '../signatures.ts';

/** Default frame bytes one member's pending votes may hold per quorum sender. */
export const DEFAULT_MEMBER_BUDGET = 16 * 1024 * 1024;

/** One signed VatTP frame, as the transport verified it: frame bytes and signature. */
export interface FrameProof {
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

/** A member that sent two different contents for one seq, with both signed frames. */
export interface FrameEvidence {
  readonly quorum: VatId;
  readonly member: VatId;
  readonly seq: number;
  readonly frames: readonly [FrameProof, FrameProof];
}

/** What `member` signed in a frame for `seq` (and to whom); undefined unless it verifies. */
function claimIn(
  proof: FrameProof,
  member: VatId,
  seq: number,
): { to: VatId; msg: VatMessage } | undefined {
  try {
    const decoded = decodeWire(concat(proof));
    if (decoded.frame.from !== member || !verifyFrame(decoded)) return undefined;
    const msg = decoded.frame.messages.find((m) => m.seq === seq)?.msg;
    return msg === undefined ? undefined : { to: decoded.frame.to, msg };
  } catch {
    return undefined;
  }
}

/**
 * True if `e` proves that e.member signed two frames to one receiver with different contents for
 * e.seq (the member's host serves exactly one quorum vat, so both speak for e.quorum).
 */
export function verifyFrameEvidence(e: FrameEvidence): boolean {
  if (!Array.isArray(e.frames) || e.frames.length !== 2) return false;
  const [a, b] = e.frames.map((f) => claimIn(f, e.member, e.seq));
  if (a === undefined || b === undefined) return false;
  return a.to === b.to && messageDigest(a.msg) !== messageDigest(b.msg);
}

function concat(f: FrameProof): Uint8Array {
  const out = new Uint8Array(f.signed.length + f.signature.length);
  out.set(f.signed, 0);
  out.set(f.signature, f.signed.length);
  return out;
}

/** Evidence as plain JSON (one log line): each frame as base64url wire bytes. */
export function frameEvidenceToJson(e: FrameEvidence): {
  quorum: VatId;
  member: VatId;
  seq: number;
  frames: string[];
} {
  return {
    quorum: e.quorum,
    member: e.member,
    seq: e.seq,
    frames: e.frames.map((f) => Buffer.from(concat(f)).toString('base64url')),
  };
}

export type FrameOfferOutcome =
  | 'accepted'
  | 'duplicate'
  | 'unknown-quorum'
  | 'not-a-member'
  | 'equivocator'
  | 'equivocation'
  | 'ahead'
  | 'over-budget';

export interface FrameOfferResult {
  readonly outcome: FrameOfferOutcome;
  /** Messages now deliverable, in seq order, each exactly once over the combiner's life. */
  readonly delivered: readonly AuthSequenced[];
  /** Set when this offer proved the member an equivocator (once per member). */
  readonly evidence?: FrameEvidence;
}

interface Vote {
  readonly digest: string;
  readonly proof: FrameProof;
  readonly auth?: Uint8Array;
}

/** The members that sent one content for a seq, with the auth each frame carried. */
export type Complete = (
  config: QuorumConfig,
  seq: number,
  msg: VatMessage,
  claims: readonly { readonly member: VatId; readonly auth?: Uint8Array }[],
) => { readonly msg: VatMessage; readonly auth?: Uint8Array } | undefined;

interface Candidate {
  readonly msg: VatMessage;
  readonly voters: Set<VatId>;
}

interface SeqState {
  readonly votes: Map<VatId, Vote>;
  readonly candidates: Map<string, Candidate>;
}

interface Holdings {
  /** Frames this member's pending votes keep alive, with how many votes each. */
  readonly frames: Map<FrameProof, number>;
  bytes: number;
}

interface SenderState {
  config: QuorumConfig;
  delivered: number;
  readonly pending: Map<number, SeqState>;
  readonly equivocators: Set<VatId>;
  readonly held: Map<VatId, Holdings>;
  readonly evidence: FrameEvidence[];
}

export class FrameCombiner {
  readonly #budget: number;
  readonly #complete: Complete;
  readonly #senders = new Map<VatId, SenderState>();

  constructor(
    memberBudget = DEFAULT_MEMBER_BUDGET,
    complete: Complete = (_c, _s, msg) => ({ msg }),
  ) {
    this.#budget = memberBudget;
    this.#complete = complete;
  }

  /**
   * Starts combining a quorum's messages (`delivered`: the highest seq already committed here,
   * e.g. the kernel's inbound mark after a restart), or moves it to a newer configuration. A
   * removed member's votes are dropped; returns what the new configuration already certifies.
   */
  setConfig(config: QuorumConfig, delivered?: number): readonly AuthSequenced[] {
    const state = this.#senders.get(config.quorum);
    if (state === undefined) {
      this.#senders.set(config.quorum, {
        config,
        delivered: delivered ?? 0,
        pending: new Map(),
        equivocators: new Set(),
        held: new Map(),
        evidence: [],
      });
      return [];
    }
    if (config.epoch < state.config.epoch) return [];
    state.config = config;
    for (const [seq, s] of [...state.pending]) {
      for (const member of [...s.votes.keys()]) {
        if (memberIndex(config, member) < 0) this.#dropVote(state, seq, s, member);
      }
    }
    return this.#deliverReady(state);
  }

  delivered(quorum: VatId): number | undefined {
    return this.#senders.get(quorum)?.delivered;
  }

  /** Undelivered seqs held for a quorum (tests, status). */
  pendingCount(quorum: VatId): number {
    return this.#senders.get(quorum)?.pending.size ?? 0;
  }

  /** Frame bytes a member's pending votes hold (tests, status). */
  heldBytes(quorum: VatId, member: VatId): number {
    return this.#senders.get(quorum)?.held.get(member)?.bytes ?? 0;
  }

  evidence(quorum: VatId): readonly FrameEvidence[] {
    return this.#senders.get(quorum)?.evidence ?? [];
  }

  isEquivocator(quorum: VatId, member: VatId): boolean {
    return this.#senders.get(quorum)?.equivocators.has(member) ?? false;
  }

  /**
   * Member `member` of `quorum` claims, in the signed frame `proof`, that the quorum's message
   * `seq` to us is `msg`. The caller checked the frame's signature and that it came from member.
   */
  offer(
    quorum: VatId,
    member: VatId,
    seq: number,
    msg: VatMessage,
    proof: FrameProof,
    auth?: Uint8Array,
  ): FrameOfferResult {
    const none = (outcome: FrameOfferOutcome): FrameOfferResult => ({ outcome, delivered: [] });
    const state = this.#senders.get(quorum);
    if (state === undefined) return none('unknown-quorum');
    if (state.equivocators.has(member)) return none('equivocator');
    if (memberIndex(state.config, member) < 0) return none('not-a-member');
    if (seq <= state.delivered) return none('duplicate');
    if (seq > state.delivered + state.config.params.maxPendingPerSender) return none('ahead');
    const digest = messageDigest(msg);
    const s = state.pending.get(seq);
    const prior = s?.votes.get(member);
    if (prior !== undefined) {
      if (prior.digest === digest) return none('duplicate');
      const evidence: FrameEvidence = { quorum, member, seq, frames: [prior.proof, proof] };
      this.#convict(state, member, evidence);
      return { outcome: 'equivocation', delivered: [], evidence };
    }
    const holdings = state.held.get(member) ?? { frames: new Map(), bytes: 0 };
    const size = proof.signed.length + proof.signature.length;
    const fresh = !holdings.frames.has(proof);
    if (fresh && holdings.bytes + size > this.#budget && seq !== state.delivered + 1) {
      return none('over-budget');
    }
    holdings.frames.set(proof, (holdings.frames.get(proof) ?? 0) + 1);
    if (fresh) holdings.bytes += size;
    state.held.set(member, holdings);
    const seqState = s ?? { votes: new Map(), candidates: new Map() };
    let candidate = seqState.candidates.get(digest);
    if (candidate === undefined) {
      candidate = { msg, voters: new Set() };
      seqState.candidates.set(digest, candidate);
    }
    candidate.voters.add(member);
    seqState.votes.set(member, auth === undefined ? { digest, proof } : { digest, proof, auth });
    state.pending.set(seq, seqState);
    return { outcome: 'accepted', delivered: this.#deliverReady(state) };
  }

  #convict(state: SenderState, member: VatId, evidence: FrameEvidence): void {
    state.equivocators.add(member);
    state.evidence.push(evidence); // once per member: a convicted member is never offered again
    for (const [seq, s] of [...state.pending]) this.#dropVote(state, seq, s, member);
  }

  #dropVote(state: SenderState, seq: number, s: SeqState, member: VatId): void {
    const vote = s.votes.get(member);
    if (vote === undefined) return;
    s.votes.delete(member);
    const candidate = s.candidates.get(vote.digest);
    candidate?.voters.delete(member);
    if (candidate?.voters.size === 0) s.candidates.delete(vote.digest);
    if (s.votes.size === 0) state.pending.delete(seq);
    this.#release(state, member, vote.proof);
  }

  #release(state: SenderState, member: VatId, proof: FrameProof): void {
    const holdings = state.held.get(member);
    const count = holdings?.frames.get(proof);
    if (holdings === undefined || count === undefined) return;
    if (count > 1) {
      holdings.frames.set(proof, count - 1);
      return;
    }
    holdings.frames.delete(proof);
    holdings.bytes -= proof.signed.length + proof.signature.length;
    if (holdings.frames.size === 0) state.held.delete(member);
  }

  #deliverReady(state: SenderState): AuthSequenced[] {
    const out: AuthSequenced[] = [];
    for (;;) {
      const seq = state.delivered + 1;
      const s = state.pending.get(seq);
      if (s === undefined) break;
      let winner: { readonly msg: VatMessage; readonly auth?: Uint8Array } | undefined;
      for (const c of s.candidates.values()) {
        if (c.voters.size < state.config.threshold) continue;
        const claims = [...c.voters].map((member) => ({
          member,
          ...(s.votes.get(member)?.auth !== undefined ? { auth: s.votes.get(member)!.auth } : {}),
        }));
        winner = this.#complete(state.config, seq, c.msg, claims);
        if (winner !== undefined) break;
      }
      if (winner === undefined) break;
      out.push(winner.auth === undefined ? { seq, msg: winner.msg } : { seq, ...winner });
      for (const member of [...s.votes.keys()]) this.#dropVote(state, seq, s, member);
      state.pending.delete(seq);
      state.delivered = seq;
    }
    return out;
  }
}
