/**
 * Membership changes on a member: an administrator's signed request goes in, a certified
 * record of the configuration chain comes out.
 *
 *   submit     the request is checked against the configuration the ordering is in (right
 *              quorum and epoch, the genesis administrator's signature, a change that keeps
 *              2k > n, and at least k live members afterwards), then ordered like any input
 *              (a `reconfigure` input, ordering/reconfigure.ts). Every member that got it holds
 *              it; whichever leader orders it, it is decided once (its seq is its epoch + 1).
 *   entered    the ordering decided it at height H: the next epoch is in force from H + 1 on
 *              every member at once (ordering/deciding.ts). Each member of the old epoch signs
 *              the change statement {quorum, epoch, position H, request digest} and sends it to
 *              the members and learners of both epochs; k signatures of old-epoch members make
 *              the record's certificate, and the record joins the chain (stored, served by
 *              GET /quorum/chain and `/quorumvat/quorum-chain/1.0.0`).
 *   catch-up   a member that misses signatures (it restarted, it is a learner replaying old
 *              epochs) fetches the chain from a member: records verify by themselves.
 *
 * Liveness of peers is judged from what the ordering link hears: every member and learner
 * sends a small heartbeat on the link, so an idle quorum still knows who is up, and a change
 * that would leave fewer than k live members is refused before it is ordered (synchronously:
 * `?wait=0` gets the refusal, not 202).
 */
import type { EventSink } from '../../events/events.ts';
import type { VatId } from '../../protocol/identity.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { Sign } from '../../vattp/signing.ts';
import { assembleCertificate } from '../certificate.ts';
import {
  ChainError,
  type ChainRecord,
  type ChangeRequest,
  type ConfigChain,
  changeStatement,
  checkRequest,
  checkSignedRequest,
} from '../chain.ts';
import { isLearner, isMember, type QuorumConfig } from '../config.ts';
import { reconfigureInput } from '../ordering/reconfigure.ts';
import type { Input } from '../ordering/types.ts';
import { signatureFromText, signatureText, verifyMemberSignature } from '../signatures.ts';
import type { EpochEntry, OrderingStore } from './ordering-store.ts';

/** A change request as the administrator signed it (chain.ts requestChange). */
export interface SignedChange {
  readonly request: ChangeRequest;
  /** The administrator's signature, base64url. */
  readonly admin: string;
}

export type ChangeOutcome =
  /** Ordered and applied: the configuration of `epoch` starts after `position`. */
  | { readonly state: 'decided'; readonly epoch: number; readonly position: number }
  /** Ordered, and refused at its position (another change took the epoch); changes nothing. */
  | { readonly state: 'refused'; readonly reason: string; readonly message: string };

/** Member-to-member messages on the ordering link that are not the ordering's own. */
type MemberMessage =
  | { member: 'heartbeat' }
  | { member: 'record-sig'; epoch: number; position: number; signer: VatId; sig: string }
  /** A change request a member took: every member holds it, whoever leads orders it. */
  | { member: 'change'; request: unknown; admin: unknown };

const PREFIX = Buffer.from('{"member":');

/** A peer heard within this many heartbeats counts as live. */
const LIVE_HEARTBEATS = 5;

export interface ChangesHost {
  readonly quorum: VatId;
  readonly self: VatId;
  readonly sign: Sign;
  readonly store: OrderingStore;
  readonly events: EventSink;
  readonly heartbeatMs: number;
  /** The certified chain this member holds, and adopting a longer verified one. */
  chain(): ConfigChain;
  adoptChain(chain: ConfigChain): void;
  /** The configuration the ordering is in and its decided height (undefined before start). */
  ordering(): { readonly config: QuorumConfig; readonly height: number } | undefined;
  /** Orders an input (driver.submit). */
  submit(input: Input): void;
  send(to: VatId, bytes: Uint8Array): void;
  fetchChain(peer: VatId, signal: AbortSignal): Promise<ConfigChain>;
  /** The chain grew. */
  grew(): void;
}

interface Pending {
  readonly request: ChangeRequest;
  readonly admin: string;
  readonly position: number;
  /** The configuration the request applied to (its members certify). */
  readonly before: QuorumConfig;
  readonly after: QuorumConfig;
  readonly sigs: Map<VatId, Uint8Array>;
  mine?: string;
}

/** The requester of reconfigure inputs (one sequence: seq = the epoch a request applies to + 1). */
export const ADMIN_REQUESTER = 'administrator';

export class Changes {
  readonly #host: ChangesHost;
  readonly #pending = new Map<number, Pending>();
  readonly #heard = new Map<VatId, number>();
  readonly #waiters = new Set<() => void>();
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #fetching = false;
  #fetchTurn = 0;

  constructor(host: ChangesHost) {
    this.#host = host;
  }

  start(): void {
    const tick = () => {
      this.#heartbeat();
      if (this.#pending.size > 0) this.#retry();
      this.#timer = setTimeout(tick, this.#host.heartbeatMs);
      this.#timer.unref();
    };
    tick();
  }

  close(): void {
    this.#closing.abort(new Error('closed'));
    clearTimeout(this.#timer);
    for (const w of this.#waiters) w();
  }

  /** Bytes from the link: true if they were a member message (handled here). */
  receive(from: VatId, bytes: Uint8Array): boolean {
    this.#heard.set(from, Date.now());
    if (bytes.length > 32_768 || !Buffer.from(bytes.subarray(0, PREFIX.length)).equals(PREFIX)) {
      return false;
    }
    let m: MemberMessage;
    try {
      m = JSON.parse(Buffer.from(bytes).toString('utf8')) as MemberMessage;
    } catch {
      return true;
    }
    if (m.member === 'record-sig') this.#onSignature(from, m);
    if (m.member === 'change') this.#onForwarded(from, m);
    return true;
  }

  /** Members (of `config`) heard from recently, this member included. */
  liveMembers(config: QuorumConfig): VatId[] {
    const since = Date.now() - LIVE_HEARTBEATS * this.#host.heartbeatMs;
    return config.members.filter(
      (m) => m === this.#host.self || (this.#heard.get(m) ?? 0) >= since,
    );
  }

  /** The change requests of epochs decided and not certified yet (status). */
  get pendingEpochs(): number[] {
    return [...this.#pending.keys()];
  }

  // ------------------------------------------------------------------ requests

  /**
   * Checks a signed change and orders it; resolves once its epoch's record is certified.
   * Refusals before ordering throw ChainError synchronously (before the first await).
   */
  submit(change: SignedChange, signal: AbortSignal): Promise<ChangeOutcome> {
    const request = checkRequest(change.request);
    const signed: SignedChange = { request, admin: change.admin };
    const known = this.#host.chain().records[request.epoch];
    if (known !== undefined) return Promise.resolve(outcomeOf(known, signed));
    const ordering = this.#host.ordering();
    if (ordering === undefined) throw new ChainError('malformed', 'this member is starting');
    const { config, height } = ordering;
    if (request.epoch >= config.epoch) {
      // Not decided yet: check it as the ordering will, and that enough members stay live.
      const next = checkSignedRequest(
        config,
        request,
        change.admin,
        Math.max(config.since, height + 1),
      );
      this.#checkLive(config, next);
      this.#host.submit(
        reconfigureInput(request, change.admin, ADMIN_REQUESTER, request.epoch + 1),
      );
      // Every member must hold it: an idle quorum orders an input only when its leader has it.
      const bytes = Buffer.from(JSON.stringify({ member: 'change', ...signed }), 'utf8');
      for (const to of audience(config, config)) {
        if (to !== this.#host.self) this.#host.send(to, bytes);
      }
    }
    // Decided (now or earlier: the ordering is past its epoch); wait for the certified record.
    return new Promise((resolve) => {
      const check = () => {
        const record = this.#host.chain().records[request.epoch];
        if (record === undefined && !signal.aborted && !this.#closing.signal.aborted) return;
        this.#waiters.delete(check);
        resolve(
          record === undefined
            ? { state: 'refused', reason: 'aborted', message: 'not certified yet' }
            : outcomeOf(record, signed),
        );
      };
      this.#waiters.add(check);
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  }

  /**
   * Refuses a change after which fewer than k members of the new configuration are live (a
   * member that is not running cannot vote: the quorum would stop at once).
   */
  #checkLive(before: QuorumConfig, after: QuorumConfig): void {
    if (after.members.join() === before.members.join() && after.threshold === before.threshold) {
      return; // a learner admitted or dismissed: voting is unchanged
    }
    const live = this.liveMembers(after);
    if (live.length < after.threshold) {
      const down = after.members.filter((m) => !live.includes(m));
      throw new ChainError(
        'too-few-live-members',
        `refused: after this change k = ${after.threshold} of n = ${after.members.length} members must vote, and only ${live.length} are live (not heard from: ${down.join(', ')})`,
      );
    }
  }

  // ------------------------------------------------------------------ certification

  /** The ordering entered a new epoch (decided now, or stored before a restart). */
  entered(entry: EpochEntry): void {
    const epoch = entry.config.epoch - 1;
    const chain = this.#host.chain();
    if (chain.records[epoch] !== undefined || this.#pending.has(epoch)) return;
    const before = chain.configAt(epoch) ?? this.#pending.get(epoch - 1)?.after;
    if (before === undefined) return; // an older epoch is missing: the chain fetch brings both
    const p: Pending = {
      request: entry.request,
      admin: entry.admin,
      position: entry.since - 1,
      before,
      after: entry.config,
      sigs: new Map(),
    };
    this.#pending.set(epoch, p);
    if (isMember(before, this.#host.self)) {
      const sig = this.#host.sign(changeStatement(p.request, p.position));
      p.sigs.set(this.#host.self, sig);
      p.mine = signatureText(sig);
      this.#sendSignature(epoch, p);
    }
    this.#complete();
  }

  /** Another member took a change request: hold it too, if it is valid here. */
  #onForwarded(from: VatId, m: Extract<MemberMessage, { member: 'change' }>): void {
    const ordering = this.#host.ordering();
    if (ordering === undefined || typeof m.admin !== 'string') return;
    const { config, height } = ordering;
    if (!isMember(config, from)) return;
    try {
      const request = checkRequest(m.request);
      checkSignedRequest(config, request, m.admin, Math.max(config.since, height + 1));
      this.#host.submit(reconfigureInput(request, m.admin, ADMIN_REQUESTER, request.epoch + 1));
    } catch {
      // stale here, or not valid: the member that took it answered its requester
    }
  }

  #sendSignature(epoch: number, p: Pending): void {
    if (p.mine === undefined) return;
    const m: MemberMessage = {
      member: 'record-sig',
      epoch,
      position: p.position,
      signer: this.#host.self,
      sig: p.mine,
    };
    const bytes = Buffer.from(JSON.stringify(m), 'utf8');
    for (const to of audience(p.before, p.after)) {
      if (to !== this.#host.self) this.#host.send(to, bytes);
    }
  }

  #onSignature(from: VatId, m: Extract<MemberMessage, { member: 'record-sig' }>): void {
    const p = this.#pending.get(m.epoch);
    if (p === undefined || m.position !== p.position || m.signer !== from) return;
    if (!isMember(p.before, from) || p.sigs.has(from)) return;
    const sig = typeof m.sig === 'string' ? signatureFromText(m.sig) : undefined;
    if (sig === undefined) return;
    if (!verifyMemberSignature(from, changeStatement(p.request, p.position), sig)) return;
    p.sigs.set(from, sig);
    this.#complete();
  }

  /** Appends every record whose k signatures are in, in epoch order. */
  #complete(): void {
    let grew = false;
    for (;;) {
      const chain = this.#host.chain();
      const epoch = chain.current.epoch;
      const p = this.#pending.get(epoch);
      if (p === undefined || p.sigs.size < p.before.threshold) break;
      const record: ChainRecord = {
        request: p.request,
        admin: p.admin,
        position: p.position,
        certificate: assembleCertificate(p.before, [...p.sigs].slice(0, p.before.threshold)),
      };
      try {
        chain.append(record);
      } catch (err) {
        // Only a signer lying about what it decided gets here: drop the signatures, refetch.
        p.sigs.clear();
        this.#host.events({
          type: 'quorum-message-rejected',
          quorum: this.#host.quorum,
          peer: this.#host.self,
          reason: `change record of epoch ${epoch} does not verify: ${(err as Error).message}`,
        });
        break;
      }
      this.#host.store.saveRecord(epoch, record);
      this.#pending.delete(epoch);
      this.#host.events({
        type: 'quorum-change-certified',
        quorum: this.#host.quorum,
        epoch: epoch + 1,
        position: p.position,
      });
      grew = true;
    }
    if (grew) this.#grew();
  }

  #grew(): void {
    const chain = this.#host.chain();
    for (const e of [...this.#pending.keys()]) if (e < chain.current.epoch) this.#pending.delete(e);
    this.#host.grew();
    for (const w of [...this.#waiters]) w();
  }

  /** Something is still uncertified: say our part again, and ask a member for its chain. */
  #retry(): void {
    for (const [epoch, p] of this.#pending) this.#sendSignature(epoch, p);
    if (this.#fetching) return;
    const config = this.#host.ordering()?.config ?? this.#host.chain().current;
    const peers = config.members.filter((m) => m !== this.#host.self);
    const peer = peers[this.#fetchTurn++ % Math.max(1, peers.length)];
    if (peer === undefined) return;
    this.#fetching = true;
    const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(5_000)]);
    this.#host
      .fetchChain(peer, signal)
      .then((fetched) => {
        if (fetched.records.length <= this.#host.chain().records.length) return;
        const from = this.#host.chain().records.length;
        this.#host.adoptChain(fetched);
        for (const [i, r] of fetched.records.entries()) {
          if (i >= from) this.#host.store.saveRecord(i, r);
        }
        this.#grew();
        this.#complete();
      })
      .catch(() => {}) // unreachable or not further along: the next tick asks another member
      .finally(() => {
        this.#fetching = false;
      });
  }

  #heartbeat(): void {
    const ordering = this.#host.ordering();
    const config = ordering?.config ?? this.#host.chain().current;
    const bytes = Buffer.from(JSON.stringify({ member: 'heartbeat' }), 'utf8');
    for (const to of audience(config, config)) {
      if (to !== this.#host.self) this.#host.send(to, bytes);
    }
  }
}

/** Members and learners of two configurations. */
function audience(a: QuorumConfig, b: QuorumConfig): VatId[] {
  return [...new Set([...a.members, ...a.learners, ...b.members, ...b.learners])];
}

function outcomeOf(record: ChainRecord, change: SignedChange): ChangeOutcome {
  const same =
    canonicalJson(record.request) === canonicalJson(change.request) &&
    record.admin === change.admin;
  if (same) {
    return { state: 'decided', epoch: record.request.epoch + 1, position: record.position };
  }
  return {
    state: 'refused',
    reason: 'superseded',
    message: `another change was decided for epoch ${record.request.epoch} (at position ${record.position}); a request applies to one epoch only: sign it again for the current one`,
  };
}

/** Is `peer` a member or learner of any of these configurations? */
export function inAny(configs: Iterable<QuorumConfig>, peer: VatId): boolean {
  for (const c of configs) if (isMember(c, peer) || isLearner(c, peer)) return true;
  return false;
}
