/**
 * Messages FROM a quorum vat, as its receivers see them. Pure logic: no I/O, no clock; the vat
 * node wires it to VatTP.
 *
 * Outbound (quorum → receiver). Every member executes the same agreed inputs, so every honest
 * member produces the same outbound messages with the same per-receiver sequence numbers. Each
 * member signs a statement of a run of them (a batch: one signature covers up to
 * MAX_RUN messages)
 *
 *   outbound {quorum, to, first, digests: [sha256(canonical msg) for seq first, first+1, ...]}
 *
 * and sends it with the messages to the receiver. The receiver's OutboundCombiner delivers the
 * message of seq s exactly once, in seq order, when k distinct members of the sender's CURRENT
 * configuration signed the same digest for s. With at most f Byzantine members and k > f, at
 * least one of those k is honest, so the content is what the agreed order produced.
 *
 * A member that signs two different digests for one seq has proven itself faulty: the receiver
 * keeps both signed statements as portable Evidence (verifyEvidence checks it anywhere), reports
 * it once (one 'equivocation' event per member, not per repeat), and ignores every vote of that
 * member from then on: it gains nothing. Votes of non-members, of members removed by a newer
 * configuration (setConfig), and of seqs already delivered do not count.
 *
 * Memory per quorum sender is bounded: only seqs in (delivered, delivered + window] are kept
 * (window = params.maxPendingPerSender; later ones are dropped and will be retransmitted),
 * each member has at most one vote per seq, and the message bytes a member introduces (content
 * no other member sent first) count against that member's own budget, so a Byzantine member
 * can fill only its own share, never the honest members'. Content for the next seq to deliver
 * is always taken (at most one message per member beyond its budget), so full budgets cannot
 * stall delivery. Worst case per sender: n × (budget + one message + window × one statement
 * of ≤ MAX_RUN digests, ~4.4 KB).
 *
 * The transport's duty: members retransmit unacknowledged statements (a receiver acknowledges
 * only what it delivered), and the receiver persists `delivered` with its committed inbound mark
 * (setConfig(config, delivered) at start), so exactly-once holds across restarts.
 *
 * Acknowledgements in the other direction (a sender to the quorum): ack.ts.
 */

import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import { canonicalJson, messageJson } from '../vattp/codec.ts';
import type { Sign } from '../vattp/signing.ts';
import { memberIndex, type QuorumConfig } from './config.ts';
import {
  digestHex,
  messageDigest as messageDigestOf,
  SIGNATURE_BYTES,
  STATEMENT_HEADER_BYTES,
  statementBytes,
  statementKindOf,
  verifyMemberSignature,
} from './signatures.ts';

/** Most messages one outbound statement covers (bounds what one vote can make us keep). */
export const MAX_RUN = 64;
/** Default message bytes each member may introduce per quorum sender (content others did not send first). */
export const DEFAULT_MEMBER_BYTES = 16 * 1024 * 1024;

/** One member's signed statement of a run of outbound messages to one receiver. */
export interface SignedOutbound {
  readonly quorum: VatId;
  readonly to: VatId;
  readonly signer: VatId;
  readonly first: number;
  readonly digests: readonly string[];
  readonly signature: Uint8Array;
}

/** sha256 (hex) of a message's canonical JSON: what members sign for it. */
export function messageDigest(msg: VatMessage): string {
  return messageDigestOf(msg);
}

export function outboundStatement(
  quorum: VatId,
  to: VatId,
  first: number,
  digests: readonly string[],
): Uint8Array {
  return statementBytes('outbound', { quorum, to, first, digests: [...digests] });
}

/** A member's side: sign a run of consecutive outbound messages to `to`. */
export function signOutbound(
  sign: Sign,
  signer: VatId,
  quorum: VatId,
  to: VatId,
  messages: readonly Sequenced[],
): SignedOutbound {
  if (messages.length === 0 || messages.length > MAX_RUN) {
    throw new RangeError(`an outbound statement covers 1..${MAX_RUN} messages`);
  }
  const first = messages[0]!.seq;
  messages.forEach((m, i) => {
    if (m.seq !== first + i) throw new RangeError('outbound messages must have consecutive seqs');
  });
  const digests = messages.map((m) => messageDigest(m.msg));
  const signature = sign(outboundStatement(quorum, to, first, digests));
  return { quorum, to, signer, first, digests, signature };
}

// ---------------------------------------------------------------- evidence

/** One member signing two different contents for one seq: checkable by anyone. */
export interface Evidence {
  readonly quorum: VatId;
  readonly to: VatId;
  readonly member: VatId;
  readonly seq: number;
  /** Two outbound statements (bytes + signature) by `member` with different digests for `seq`. */
  readonly statements: readonly [SignedBytes, SignedBytes];
}

export interface SignedBytes {
  readonly statement: Uint8Array;
  readonly signature: Uint8Array;
}

interface OutboundBody {
  quorum: VatId;
  to: VatId;
  first: number;
  digests: string[];
}

function parseOutboundStatement(bytes: Uint8Array): OutboundBody | undefined {
  if (statementKindOf(bytes) !== 'outbound') return undefined;
  try {
    const body = JSON.parse(Buffer.from(bytes.subarray(STATEMENT_HEADER_BYTES)).toString('utf8'));
    if (
      canonicalJson(body) !== Buffer.from(bytes.subarray(STATEMENT_HEADER_BYTES)).toString('utf8')
    ) {
      return undefined;
    }
    if (
      typeof body?.quorum !== 'string' ||
      typeof body.to !== 'string' ||
      !Number.isSafeInteger(body.first) ||
      !Array.isArray(body.digests) ||
      !body.digests.every((d: unknown) => typeof d === 'string')
    ) {
      return undefined;
    }
    return body as OutboundBody;
  } catch {
    return undefined;
  }
}

/** True if `e` proves that e.member signed two different contents for e.seq of one stream. */
export function verifyEvidence(e: Evidence): boolean {
  const [a, b] = e.statements.map((s) => parseOutboundStatement(s.statement));
  if (a === undefined || b === undefined) return false;
  const digestAt = (s: OutboundBody) => s.digests[e.seq - s.first];
  for (const s of [a, b]) {
    if (s.quorum !== e.quorum || s.to !== e.to || digestAt(s) === undefined) return false;
  }
  if (digestAt(a) === digestAt(b)) return false;
  return e.statements.every((s) => verifyMemberSignature(e.member, s.statement, s.signature));
}

/** Evidence as plain JSON data (one log line, a status field): bytes as base64url. */
export interface EvidenceJson {
  readonly quorum: VatId;
  readonly to: VatId;
  readonly member: VatId;
  readonly seq: number;
  readonly statements: readonly { readonly statement: string; readonly signature: string }[];
}

export function evidenceToJson(e: Evidence): EvidenceJson {
  const b64 = (b: Uint8Array) =>
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
  return {
    quorum: e.quorum,
    to: e.to,
    member: e.member,
    seq: e.seq,
    statements: e.statements.map((s) => ({
      statement: b64(s.statement),
      signature: b64(s.signature),
    })),
  };
}

/** Evidence from its JSON form; undefined if malformed (then verifyEvidence is not reached). */
export function evidenceFromJson(v: unknown): Evidence | undefined {
  const o = v as Partial<EvidenceJson> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.quorum !== 'string' ||
    typeof o.to !== 'string' ||
    typeof o.member !== 'string' ||
    !Number.isSafeInteger(o.seq) ||
    !Array.isArray(o.statements) ||
    o.statements.length !== 2 ||
    !o.statements.every((s) => typeof s?.statement === 'string' && typeof s.signature === 'string')
  ) {
    return undefined;
  }
  const bytes = (t: string) => new Uint8Array(Buffer.from(t, 'base64url'));
  const [a, b] = o.statements.map((s) => ({
    statement: bytes(s.statement),
    signature: bytes(s.signature),
  }));
  return {
    quorum: o.quorum,
    to: o.to,
    member: o.member,
    seq: o.seq as number,
    statements: [a!, b!],
  };
}

// ---------------------------------------------------------------- the receiver's combiner

export type OfferOutcome =
  | 'accepted'
  | 'duplicate'
  | 'unknown-quorum'
  | 'wrong-receiver'
  | 'not-a-member'
  | 'equivocator'
  | 'malformed'
  | 'content-mismatch'
  | 'bad-signature'
  | 'equivocation';

export interface OfferResult {
  readonly outcome: OfferOutcome;
  /** Messages now deliverable, in seq order, each exactly once over the combiner's life. */
  readonly delivered: readonly Sequenced[];
  /** Evidence first found by this offer (at most once per member). */
  readonly evidence: readonly Evidence[];
}

interface Vote {
  readonly digest: string;
  readonly proof: SignedBytes;
}

interface Candidate {
  readonly msg: VatMessage;
  readonly bytes: number;
  readonly introducer: VatId;
  readonly voters: Set<VatId>;
}

interface SeqState {
  readonly votes: Map<VatId, Vote>;
  readonly candidates: Map<string, Candidate>;
}

interface SenderState {
  config: QuorumConfig;
  delivered: number;
  readonly pending: Map<number, SeqState>;
  readonly equivocators: Set<VatId>;
  readonly introduced: Map<VatId, number>;
}

export interface CombinerOptions {
  /** This receiver's VatID: statements addressed to anyone else are refused. */
  readonly receiver: VatId;
  /** Message bytes each member may introduce per quorum sender. */
  readonly memberBytes?: number;
}

export class OutboundCombiner {
  readonly #receiver: VatId;
  readonly #memberBytes: number;
  readonly #senders = new Map<VatId, SenderState>();
  /** Evidence kept per quorum (one per proven member): what status or logs may show. */
  readonly #evidence = new Map<VatId, Evidence[]>();

  constructor(options: CombinerOptions) {
    this.#receiver = options.receiver;
    this.#memberBytes = options.memberBytes ?? DEFAULT_MEMBER_BYTES;
  }

  /**
   * Starts tracking a quorum sender (delivered = the highest seq from it already committed), or
   * moves it to a newer configuration: votes of members no longer in it stop counting (and are
   * dropped), and messages the new configuration already certifies are returned for delivery.
   */
  setConfig(config: QuorumConfig, delivered = 0): readonly Sequenced[] {
    const state = this.#senders.get(config.quorum);
    if (state === undefined) {
      this.#senders.set(config.quorum, {
        config,
        delivered,
        pending: new Map(),
        equivocators: new Set(),
        introduced: new Map(),
      });
      return [];
    }
    if (config.epoch < state.config.epoch) return [];
    state.config = config;
    for (const [seq, s] of state.pending) {
      for (const member of [...s.votes.keys()]) {
        if (memberIndex(config, member) < 0) this.#dropVote(state, seq, s, member);
      }
    }
    return this.#deliverReady(state);
  }

  /** Highest seq delivered from `quorum` (undefined if not tracked). */
  delivered(quorum: VatId): number | undefined {
    return this.#senders.get(quorum)?.delivered;
  }

  evidence(quorum: VatId): readonly Evidence[] {
    return this.#evidence.get(quorum) ?? [];
  }

  /** Seqs held (not yet delivered) for `quorum`: what memory tests and status look at. */
  pendingCount(quorum: VatId): number {
    return this.#senders.get(quorum)?.pending.size ?? 0;
  }

  /**
   * One member's signed statement with the messages it covers (seq first .. first + n − 1).
   * Cheap refusals come before the one signature verification; a retransmission of votes
   * already counted costs no verification.
   */
  offer(signed: SignedOutbound, messages: readonly Sequenced[]): OfferResult {
    const none = (outcome: OfferOutcome): OfferResult => ({ outcome, delivered: [], evidence: [] });
    const state = this.#senders.get(signed.quorum);
    if (state === undefined) return none('unknown-quorum');
    if (signed.to !== this.#receiver) return none('wrong-receiver');
    if (memberIndex(state.config, signed.signer) < 0) return none('not-a-member');
    if (state.equivocators.has(signed.signer)) return none('equivocator');
    const n = signed.digests.length;
    if (
      !Number.isSafeInteger(signed.first) ||
      signed.first < 1 ||
      n < 1 ||
      n > MAX_RUN ||
      messages.length !== n ||
      signed.signature.length !== SIGNATURE_BYTES ||
      !signed.digests.every((d) => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d))
    ) {
      return none('malformed');
    }
    const window = state.config.params.maxPendingPerSender;
    // Only seqs not yet delivered and inside the window matter; anything else is a duplicate.
    const fresh: number[] = [];
    for (let i = 0; i < n; i++) {
      const seq = signed.first + i;
      if (seq <= state.delivered || seq > state.delivered + window) continue;
      const vote = state.pending.get(seq)?.votes.get(signed.signer);
      if (vote !== undefined && vote.digest === signed.digests[i]) continue;
      fresh.push(i);
    }
    if (fresh.length === 0) return none('duplicate');
    // Content matters only where it would be kept (no candidate with that digest yet): a vote
    // for known content is the signed digest alone, so the other k − 1 copies are not hashed.
    const encoded = new Map<number, string>();
    for (const i of fresh) {
      const m = messages[i]!;
      if (m?.seq !== signed.first + i) return none('content-mismatch');
      if (state.pending.get(m.seq)?.candidates.has(signed.digests[i]!)) continue;
      const json = messageJson(m.msg);
      if (digestHex(json) !== signed.digests[i]) return none('content-mismatch');
      encoded.set(i, json);
    }
    const statement = outboundStatement(signed.quorum, signed.to, signed.first, signed.digests);
    if (!verifyMemberSignature(signed.signer, statement, signed.signature))
      return none('bad-signature');
    const proof: SignedBytes = { statement, signature: signed.signature };

    // An equivocation anywhere in the run disqualifies the member before any of its votes count.
    for (const i of fresh) {
      const seq = signed.first + i;
      const prior = state.pending.get(seq)?.votes.get(signed.signer);
      if (prior !== undefined && prior.digest !== signed.digests[i]) {
        const evidence: Evidence = {
          quorum: signed.quorum,
          to: signed.to,
          member: signed.signer,
          seq,
          statements: [prior.proof, proof],
        };
        this.#convict(state, signed.signer, evidence);
        return { outcome: 'equivocation', delivered: [], evidence: [evidence] };
      }
    }
    for (const i of fresh) {
      const seq = signed.first + i;
      const s = state.pending.get(seq) ?? { votes: new Map(), candidates: new Map() };
      const digest = signed.digests[i]!;
      let candidate = s.candidates.get(digest);
      if (candidate === undefined) {
        const msg = messages[i]!.msg;
        const bytes = Buffer.byteLength(encoded.get(i) ?? canonicalJson(msg), 'utf8');
        const used = state.introduced.get(signed.signer) ?? 0;
        // Over its budget: dropped (members retransmit until acked). The next seq to deliver is
        // always taken, so budgets full of later seqs can never stall delivery.
        if (used + bytes > this.#memberBytes && seq !== state.delivered + 1) continue;
        state.introduced.set(signed.signer, used + bytes);
        candidate = { msg, bytes, introducer: signed.signer, voters: new Set() };
        s.candidates.set(digest, candidate);
      }
      candidate.voters.add(signed.signer);
      s.votes.set(signed.signer, { digest, proof });
      state.pending.set(seq, s);
    }
    return { outcome: 'accepted', delivered: this.#deliverReady(state), evidence: [] };
  }

  #convict(state: SenderState, member: VatId, evidence: Evidence): void {
    state.equivocators.add(member);
    const list = this.#evidence.get(evidence.quorum) ?? [];
    // One piece per member; at most n members: bounded.
    if (!list.some((e) => e.member === member)) list.push(evidence);
    this.#evidence.set(evidence.quorum, list);
    for (const [seq, s] of state.pending) {
      if (s.votes.has(member)) this.#dropVote(state, seq, s, member);
    }
  }

  #dropVote(state: SenderState, seq: number, s: SeqState, member: VatId): void {
    const vote = s.votes.get(member);
    if (vote === undefined) return;
    s.votes.delete(member);
    const candidate = s.candidates.get(vote.digest);
    if (candidate !== undefined) {
      candidate.voters.delete(member);
      if (candidate.voters.size === 0) this.#dropCandidate(state, s, vote.digest, candidate);
    }
    if (s.votes.size === 0) state.pending.delete(seq);
  }

  #dropCandidate(state: SenderState, s: SeqState, digest: string, c: Candidate): void {
    s.candidates.delete(digest);
    const used = (state.introduced.get(c.introducer) ?? 0) - c.bytes;
    if (used > 0) state.introduced.set(c.introducer, used);
    else state.introduced.delete(c.introducer);
  }

  #deliverReady(state: SenderState): Sequenced[] {
    const out: Sequenced[] = [];
    for (;;) {
      const seq = state.delivered + 1;
      const s = state.pending.get(seq);
      if (s === undefined) break;
      let winner: Candidate | undefined;
      for (const c of s.candidates.values()) {
        if (c.voters.size >= state.config.threshold) winner = c;
      }
      if (winner === undefined) break;
      out.push({ seq, msg: winner.msg });
      for (const [digest, c] of s.candidates) this.#dropCandidate(state, s, digest, c);
      state.pending.delete(seq);
      state.delivered = seq;
    }
    return out;
  }
}
