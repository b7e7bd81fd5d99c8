/**
 * QuorumClientPort: the layer between a vat's kernel (or a member node's MemberPort) and
 * NetworkTransport that lets the vat talk to quorum vats through their members. Toward the
 * transport it is the KernelPort of the HOST (its vatId is the host's Ed25519 VatID: links run
 * between hosts); toward the kernel it is the Transport, where a quorum vat Q is one peer.
 *
 * - Outbound to Q: wake(Q) wakes every member of Q's current configuration (never one member
 *   only: it could censor); each member's link asks unacked(Mi, after) and gets the kernel's
 *   unacked(Q, after), the same seqs for every member, each message with the sender's own
 *   signature `auth` (auth.ts; one signature per run of messages, solo senders only).
 * - Acks from Q: a member's frame ack is its statement "committed up to ack"; the kernel gets
 *   acked(Q, k-th highest among current members) (acks.ts).
 * - Inbound from Q: a member's frame carrying (seq, msg) is its claim; the kernel gets
 *   receive(Q, seq, msg) once k current members claimed identical content, in order, exactly once
 *   (inbound.ts); an equivocating member is logged once with both signed frames and ignored.
 * - Acks to Q: committedInbound(Mi) = the kernel's committedInbound(Q), so every member gets
 *   the ack on its own link.
 * - On a member host (option `quorum`: the vat above is that quorum vat, which has no key):
 *   each outbound message carries this member's own signatures (member-auth.ts): over the input
 *   statement for a quorum receiver, over each handoff certificate the message gives for a solo
 *   one. A receiver delivers a seq once k members sent the same content AND k of them signed
 *   what it needs (inbound.ts `complete`): a quorum receiver's members then order the input with
 *   the k-of-n certificate as its auth (auth.ts), a solo receiver gets the handoff certificates
 *   completed.
 * - Q's chain is learned from any member (chain-protocol.ts), verified against Q's VatID: from
 *   the member addresses of Q's sturdyref hints (`/p2p/<member>`), or from a host that sends us
 *   frames. A host we do not know yet is classified once: it serves a chain → a member of that
 *   quorum (refused unless in the CURRENT configuration, after one refetch of the chain); it
 *   does not speak the protocol → a solo vat, whose traffic passes straight through. Until a
 *   host is classified its frames are deferred (the stream is closed without a strike; the
 *   host resends).
 */
import type { EventSink } from '../../events/events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import type { AuthSequenced, KernelPort, Transport } from '../../transport/types.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { Sign } from '../../vattp/signing.ts';
import type { ConfigChain } from '../chain.ts';
import { isQuorumVatId } from '../config.ts';
import { chainDocument } from '../status.ts';
import { MemberAcks } from './acks.ts';
import { MAX_SIGNED_RUN, signInputs } from './auth.ts';
import { fetchQuorumChain, serveChainNews } from './chain-protocol.ts';
import { FrameCombiner, type FrameProof, frameEvidenceToJson } from './inbound.ts';
import { completeFromMembers, memberAuth } from './member-auth.ts';

/** What the port needs of the transport below it (NetworkTransport). */
export interface HostTransport extends Transport {
  /** The host's VatID: what the links below are between. */
  readonly vatId: VatId;
  readonly host: Pick<VatHost, 'dial' | 'addAddresses'> & Partial<Pick<VatHost, 'handle'>>;
}

export interface QuorumClientOptions {
  readonly lower: HostTransport;
  /** The host key's signer (signs `auth` when the vat above is this host's solo vat). */
  readonly sign: Sign;
  /**
   * Sign our messages to quorums (`auth`, from = the vat above). Default true: the vat above is
   * a solo vat whose key is the host's. False on a member node: the vat above is a quorum vat,
   * which has no key of its own (its receivers combine k members instead).
   */
  readonly signInputs?: boolean;
  /**
   * On a member host: the quorum vat above. Its messages then carry this member's signatures
   * for their receivers (member-auth.ts), and messages to it are completed as a quorum
   * receiver's (k senders' input certificates).
   */
  readonly quorum?: VatId;
  readonly events: EventSink;
  /** Chains known at start (e.g. a member node's own quorum is not needed here; others are). */
  readonly chains?: readonly ConfigChain[];
  /** Frame bytes one member may hold pending per quorum (inbound.ts). */
  readonly memberBudget?: number;
  /** One chain fetch (dial + read). */
  readonly fetchTimeoutMs?: number;
  /** Retry of a chain nobody served yet: first delay, doubling up to 5 s. */
  readonly retryMs?: number;
}

/** Thrown to the transport while a host's role is not known yet (no strike; it resends). */
export class InboundDeferred extends Error {
  override name = 'InboundDeferred';
}

/** The member VatID at the end of a sturdyref address hint (`…/p2p/<vatId>`). */
export function memberOfHint(addr: string): VatId | undefined {
  const m = /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/.exec(addr);
  return m?.[1];
}

interface Learning {
  timer: NodeJS.Timeout | undefined;
  delayMs: number;
  running: boolean;
  reported: boolean;
}

export class QuorumClientPort implements KernelPort, Transport {
  readonly #lower: HostTransport;
  readonly #sign: Sign;
  readonly #signInputs: boolean;
  readonly #quorum: VatId | undefined;
  readonly #events: EventSink;
  readonly #fetchTimeoutMs: number;
  readonly #retryMs: number;
  #upper: KernelPort | undefined;
  readonly #chains = new Map<VatId, ConfigChain>();
  /** Host VatID → the quorum it is a CURRENT member of (of the quorums we know). */
  readonly #memberOf = new Map<VatId, VatId>();
  /** Hosts known to be solo vats (they do not serve a chain). */
  readonly #solo = new Set<VatId>();
  /** Hosts refused (not a current member of the quorum whose chain they serve). */
  readonly #refused = new Set<VatId>();
  readonly #classifying = new Set<VatId>();
  /** Failed classifications (unreachable, timeout) per host: after two it counts as solo. */
  readonly #unclassified = new Map<VatId, number>();
  /** Member hosts named by hints, per quorum (with their addresses): where to fetch its chain. */
  readonly #candidates = new Map<VatId, Map<VatId, readonly string[]>>();
  readonly #learning = new Map<VatId, Learning>();
  readonly #inbound: FrameCombiner;
  readonly #acks = new Map<VatId, MemberAcks>();
  /** Our signatures over messages to each quorum, by seq, until the quorum acks them. */
  readonly #auth = new Map<VatId, Map<number, Uint8Array>>();
  /** On a member host: our signatures beside the quorum's messages, per receiver and seq. */
  readonly #memberAuth = new Map<VatId, Map<number, Uint8Array | null>>();
  /** The frame whose ack and messages the transport hands over next. */
  #frame: { peer: VatId; proof: FrameProof } | undefined;
  readonly #closing = new AbortController();

  constructor(options: QuorumClientOptions) {
    this.#lower = options.lower;
    this.#sign = options.sign;
    this.#signInputs = options.signInputs ?? true;
    this.#quorum = options.quorum;
    this.#events = options.events;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? 10_000;
    this.#retryMs = options.retryMs ?? 200;
    // The vat messages from quorums are for: the quorum above on a member host, else ours.
    const receiver = () => this.#quorum ?? this.#lower.vatId;
    this.#inbound = new FrameCombiner(options.memberBudget, (config, seq, msg, claims) =>
      completeFromMembers(config, receiver(), seq, msg, claims),
    );
    for (const chain of options.chains ?? []) this.#chains.set(chain.quorum, chain);
  }

  get vatId(): VatId {
    return this.#lower.vatId;
  }

  /** Quorums whose chain we hold (status, tests). */
  chainOf(quorum: VatId): ConfigChain | undefined {
    return this.#chains.get(quorum);
  }

  /** Highest seq of `quorum`'s messages delivered to the vat above (tests, status). */
  deliveredFrom(quorum: VatId): number {
    return this.#inbound.delivered(quorum) ?? 0;
  }

  /** Members proven to equivocate, with their evidence (tests, status). */
  evidence(quorum: VatId) {
    return this.#inbound.evidence(quorum);
  }

  // ------------------------------------------------------------ Transport (toward the kernel)

  attach(upper: KernelPort): void {
    if (this.#upper !== undefined) throw new Error('a kernel is already attached');
    this.#upper = upper;
    this.#lower.attach(this);
    for (const chain of [...this.#chains.values()]) this.#adopt(chain, true);
    // A member pushes its quorum's chain when a membership change is certified: a longer chain
    // of a quorum we know is taken (a removed member stops counting at once).
    const host = this.#lower.host;
    if (host.handle !== undefined) {
      void serveChainNews(host as Pick<VatHost, 'handle'>, (chain) => {
        if (this.#chains.has(chain.quorum)) this.#adopt(chain);
      }).catch(() => {}); // a host that is closing
    }
  }

  wake(peer: VatId): void {
    if (!isQuorumVatId(peer)) {
      this.#lower.wake(peer);
      return;
    }
    const chain = this.#chains.get(peer);
    if (chain === undefined) {
      this.#learn(peer);
      return;
    }
    for (const member of chain.current.members) this.#lower.wake(member);
  }

  addHints(peer: VatId, addrs: readonly string[]): void {
    if (!isQuorumVatId(peer)) {
      this.#lower.addHints?.(peer, addrs);
      return;
    }
    // A quorum's hints are its members' addresses: each goes to its member's link.
    const byMember = new Map<VatId, string[]>();
    for (const addr of addrs) {
      const member = memberOfHint(addr);
      if (member === undefined) continue;
      byMember.set(member, [...(byMember.get(member) ?? []), addr]);
    }
    const candidates = this.#candidates.get(peer) ?? new Map<VatId, readonly string[]>();
    for (const [member, list] of byMember) {
      candidates.set(member, [...new Set([...(candidates.get(member) ?? []), ...list])]);
      this.#lower.addHints?.(member, list);
    }
    this.#candidates.set(peer, candidates);
    if (!this.#chains.has(peer)) this.#learn(peer);
  }

  async close(): Promise<void> {
    this.#closing.abort(new Error('closed'));
    for (const l of this.#learning.values()) clearTimeout(l.timer);
    await this.#lower.close();
  }

  // ------------------------------------------------------------ KernelPort (toward the transport)

  signedFrame(peer: VatId, signed: Uint8Array, signature: Uint8Array): void {
    this.#frame = undefined;
    if (this.#memberOf.has(peer)) {
      this.#frame = { peer, proof: { signed, signature } };
      return;
    }
    if (this.#solo.has(peer)) return;
    if (this.#refused.has(peer)) {
      throw new ProtocolError('misdirected', 'not a member of the current quorum configuration');
    }
    this.#classify(peer);
    throw new InboundDeferred(`learning whether ${peer} is a quorum member`);
  }

  receive(peer: VatId, seq: number, msg: VatMessage, auth?: Uint8Array): 'accepted' | 'duplicate' {
    const upper = this.#attached();
    const quorum = this.#memberOf.get(peer);
    if (quorum === undefined) {
      return auth === undefined
        ? upper.receive(peer, seq, msg)
        : upper.receive(peer, seq, msg, auth);
    }
    const frame = this.#frame;
    if (frame === undefined || frame.peer !== peer) {
      throw new Error('quorum client: a member message without its signed frame');
    }
    const result = this.#inbound.offer(quorum, peer, seq, msg, frame.proof, auth);
    if (result.evidence !== undefined) {
      this.#acks.get(quorum)?.forget(peer);
      this.#events({ type: 'quorum-equivocation', ...frameEvidenceToJson(result.evidence) });
    }
    for (const d of result.delivered) this.#deliver(upper, quorum, d);
    if (result.outcome === 'ahead' || result.outcome === 'over-budget') {
      // Not kept (the window or the member's budget is full): close this stream without a
      // strike, so the member resends from our ack now rather than after a stall timeout.
      throw new InboundDeferred(`${peer}: seq ${seq} of ${quorum} not kept (${result.outcome})`);
    }
    return result.outcome === 'duplicate' && seq <= (this.#inbound.delivered(quorum) ?? 0)
      ? 'duplicate'
      : 'accepted';
  }

  /** A message combined from k members of `quorum`, with its input certificate if any. */
  #deliver(upper: KernelPort, quorum: VatId, d: AuthSequenced): void {
    if (d.auth === undefined) upper.receive(quorum, d.seq, d.msg);
    else upper.receive(quorum, d.seq, d.msg, d.auth);
  }

  committedInbound(peer: VatId): number {
    return this.#attached().committedInbound(this.#memberOf.get(peer) ?? peer);
  }

  acked(peer: VatId, seq: number): void {
    const upper = this.#attached();
    const quorum = this.#memberOf.get(peer);
    if (quorum === undefined) {
      upper.acked(peer, seq);
      this.#forgetSigned(this.#memberAuth.get(peer), seq);
      return;
    }
    if (this.#inbound.isEquivocator(quorum, peer)) return;
    const mark = this.#acks.get(quorum)?.offer(peer, seq);
    if (mark === undefined) return;
    upper.acked(quorum, mark);
    this.#forgetSigned(this.#auth.get(quorum), mark);
    this.#forgetSigned(this.#memberAuth.get(quorum), mark);
  }

  #forgetSigned(signed: Map<number, unknown> | undefined, mark: number): void {
    for (const s of signed?.keys() ?? []) if (s <= mark) signed!.delete(s);
  }

  unacked(peer: VatId, afterSeq: number): readonly AuthSequenced[] {
    const upper = this.#attached();
    const quorum = this.#memberOf.get(peer);
    const receiver = quorum ?? peer;
    const pending = upper.unacked(receiver, afterSeq);
    // A quorum vat above (a member host) has no key: this member signs beside its messages.
    if (this.#quorum !== undefined) return this.#withMemberAuth(this.#quorum, receiver, pending);
    if (quorum === undefined) return pending;
    if (!this.#signInputs || isQuorumVatId(upper.vatId)) return pending;
    let signed = this.#auth.get(quorum);
    if (signed === undefined) {
      signed = new Map();
      this.#auth.set(quorum, signed);
    }
    // One signature per run of messages not signed yet (auth.ts), shared by every member's link.
    const fresh = pending.filter(({ seq }) => !signed.has(seq));
    for (let i = 0; i < fresh.length; ) {
      let end = i + 1;
      while (
        end < fresh.length &&
        end - i < MAX_SIGNED_RUN &&
        fresh[end]!.seq === fresh[end - 1]!.seq + 1
      ) {
        end++;
      }
      const run = fresh.slice(i, end);
      const auth = signInputs(
        this.#sign,
        quorum,
        upper.vatId,
        run[0]!.seq,
        run.map((s) => s.msg),
      );
      for (const { seq } of run) signed.set(seq, auth);
      i = end;
    }
    return pending.map(({ seq, msg }) => ({ seq, msg, auth: signed.get(seq)! }));
  }

  /** The quorum's messages to `receiver`, each with this member's signatures, if it needs any. */
  #withMemberAuth(
    self: VatId,
    receiver: VatId,
    pending: readonly AuthSequenced[],
  ): readonly AuthSequenced[] {
    if (pending.length === 0) return pending;
    let signed = this.#memberAuth.get(receiver);
    if (signed === undefined) {
      signed = new Map();
      this.#memberAuth.set(receiver, signed);
    }
    return pending.map(({ seq, msg }) => {
      let auth = signed.get(seq);
      if (auth === undefined) {
        auth = memberAuth(this.#sign, self, receiver, seq, msg) ?? null;
        signed.set(seq, auth);
      }
      return auth === null ? { seq, msg } : { seq, msg, auth };
    });
  }

  /** A short-lived client left owing messages (members of a quorum never are such clients). */
  departed(peer: VatId): void {
    if (!this.#memberOf.has(peer)) this.#attached().departed?.(peer);
  }

  returned(peer: VatId): void {
    if (!this.#memberOf.has(peer)) this.#attached().returned?.(peer);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    return this.#attached().owed(this.#memberOf.get(peer) ?? peer, afterSeq);
  }

  // ------------------------------------------------------------ chains

  #attached(): KernelPort {
    if (this.#upper === undefined) throw new ProtocolError('not-ready', 'vat not ready');
    return this.#upper;
  }

  /** Fetch Q's chain from the members its hints name, retrying with backoff until one serves it. */
  #learn(quorum: VatId): void {
    let l = this.#learning.get(quorum);
    if (l === undefined) {
      l = { timer: undefined, delayMs: this.#retryMs, running: false, reported: false };
      this.#learning.set(quorum, l);
    }
    if (l.running || this.#closing.signal.aborted) return;
    clearTimeout(l.timer);
    l.timer = undefined;
    l.running = true;
    const learning = l;
    void (async () => {
      let lastErr = 'no member address known (a sturdyref of the quorum carries them)';
      for (const [member, addrs] of this.#candidates.get(quorum) ?? []) {
        try {
          await this.#lower.host.addAddresses(member, addrs);
          const chain = await this.#fetch(member, quorum);
          this.#adopt(chain);
          learning.running = false;
          this.#learning.delete(quorum);
          return;
        } catch (err) {
          lastErr = `${member}: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      learning.running = false;
      if (this.#closing.signal.aborted) return;
      if (!learning.reported) {
        learning.reported = true;
        this.#events({ type: 'quorum-chain-unavailable', quorum, err: lastErr });
      }
      learning.timer = setTimeout(() => this.#learn(quorum), learning.delayMs);
      learning.delayMs = Math.min(learning.delayMs * 2, 5_000);
    })();
  }

  #fetch(member: VatId, quorum?: VatId): Promise<ConfigChain> {
    const signal = AbortSignal.any([
      this.#closing.signal,
      AbortSignal.timeout(this.#fetchTimeoutMs),
    ]);
    return fetchQuorumChain(this.#lower.host, member, signal, quorum);
  }

  /**
   * Takes a verified chain: a new quorum, or a longer chain of one we know (a shorter or equal
   * one changes nothing). Members of the current configuration are mapped to the quorum (and
   * removed members unmapped); the combiners follow; every current member is woken.
   */
  #adopt(chain: ConfigChain, initial = false): boolean {
    const quorum = chain.quorum;
    const known = this.#chains.get(quorum);
    if (!initial && known !== undefined && known.records.length >= chain.records.length) {
      return false;
    }
    this.#chains.set(quorum, chain);
    const config = chain.current;
    const upper = this.#upper;
    if (upper === undefined) return true; // taken up at attach
    for (const [host, q] of [...this.#memberOf]) if (q === quorum) this.#memberOf.delete(host);
    for (const member of config.members) {
      this.#memberOf.set(member, quorum);
      this.#refused.delete(member);
      this.#solo.delete(member);
    }
    const acks = this.#acks.get(quorum);
    let mark: number | undefined;
    if (acks === undefined) this.#acks.set(quorum, new MemberAcks(config));
    else mark = acks.setConfig(config);
    const isNew = this.#inbound.delivered(quorum) === undefined;
    const delivered = this.#inbound.setConfig(
      config,
      isNew ? upper.committedInbound(quorum) : undefined,
    );
    for (const d of delivered) this.#deliver(upper, quorum, d);
    if (mark !== undefined) upper.acked(quorum, mark);
    this.#events({
      type: 'quorum-chain-learned',
      quorum,
      epoch: config.epoch,
      n: config.members.length,
      k: config.threshold,
    });
    // The members themselves are where the chain is fetched next time (by VatID: the DHT or
    // the addresses we learned finds them).
    const candidates = this.#candidates.get(quorum) ?? new Map<VatId, readonly string[]>();
    for (const m of config.members) if (!candidates.has(m)) candidates.set(m, []);
    this.#candidates.set(quorum, candidates);
    for (const member of config.members) this.#lower.wake(member);
    return true;
  }

  /**
   * A host we do not know sent a frame: is it a member host (it serves a chain) or a solo vat?
   * A member host of a quorum we know but not in our current configuration makes us take its
   * (longer) chain once; if it is still not a current member it is refused.
   */
  #classify(peer: VatId): void {
    if (this.#classifying.has(peer) || this.#closing.signal.aborted) return;
    this.#classifying.add(peer);
    void (async () => {
      try {
        const chain = await this.#fetch(peer);
        this.#adopt(chain);
        if (this.#memberOf.has(peer)) return;
        // Not a member of the chain it serves, or of the newer one we hold: once more from the
        // members we know (it may have been added since our chain was fetched).
        for (const member of this.#chains.get(chain.quorum)?.current.members ?? []) {
          try {
            this.#adopt(await this.#fetch(member, chain.quorum));
            break;
          } catch {
            // the next member
          }
        }
        if (this.#memberOf.has(peer)) return;
        this.#refused.add(peer);
        this.#events({
          type: 'quorum-member-refused',
          peer,
          quorum: chain.quorum,
          reason: `not a member of epoch ${this.#chains.get(chain.quorum)?.current.epoch} of the quorum`,
        });
      } catch (err) {
        if (err instanceof Error && err.name === 'ChainError') {
          this.#refused.add(peer);
          this.#events({ type: 'quorum-member-refused', peer, reason: err.message });
        } else if ((err as Error)?.name === 'UnsupportedProtocolError') {
          this.#solo.add(peer); // a solo vat: it does not serve a chain
        } else {
          // Unreachable (a client that listens nowhere), a timeout: its next frame tries again,
          // and after two failures it counts as solo. Safe either way: a host taken for a solo
          // vat speaks only for itself, never for a quorum (only k members' frames do).
          const failures = (this.#unclassified.get(peer) ?? 0) + 1;
          this.#unclassified.set(peer, failures);
          if (failures >= 2) {
            this.#unclassified.delete(peer);
            this.#solo.add(peer);
          }
        }
      } finally {
        this.#classifying.delete(peer);
      }
    })();
  }

  /** The chain document of a quorum we know (status). */
  chainDocumentOf(quorum: VatId) {
    const chain = this.#chains.get(quorum);
    return chain === undefined ? undefined : chainDocument(chain);
  }
}
