/**
 * The kernel of one vat: it owns the vat's c-lists (one per peer vat), its promise table, its
 * run queue and its outboxes, and runs the vat one delivery (crank) at a time.
 *
 *   transport ──receive──▶ c-list translation ──▶ run queue ──crank──▶ vat worker (liveslots)
 *   transport ◀──outbox── c-list translation ◀── syscalls (sends, resolutions) of the crank
 *
 * A crank commits whole or not at all: the worker buffers the crank's syscalls and store
 * writes and the kernel applies them only if the crank succeeded. A failed crank (gas,
 * memory, time) leaves no trace: its result promise is rejected, the worker is replaced by a
 * fresh one loaded from the committed store, and the vat goes on with its next delivery.
 *
 * Messages to a promise go to the vat that decides it (promise pipelining). A promise this
 * vat decides receives its messages inside the vat, where HandledPromise queues them in order
 * and forwards them wherever the promise resolves (E-order, also when that is another vat).
 * When a peer resolves a promise to something elsewhere while messages this vat sent through
 * the peer are still on their way back, the kernel embargoes the promise: it holds the vat's
 * notification and further sends until an echo through the peer proves the earlier messages
 * arrived (Cap'n Proto's Disembargo, by counting: see `received` in messages.ts).
 */
import type { CrankOutcome, Delivery, Syscall, VatOptions, VRef } from '../liveslots/protocol.ts';
import type { KernelPort, Transport, VatId } from '../transport/types.ts';
import { ProtocolError } from '../transport/types.ts';
import { CList, flip, isWireRef } from './clist.ts';
import {
  HandoffError,
  isHandoffSlot,
  makeHandoffSlot,
  readHandoffSlot,
  type VatIdentity,
} from './handoff.ts';
import { decodeHost, encodeHost, HostError } from './hostcaps.ts';
import type { CapData, Resolution, Sequenced, VatMessage, WireRef } from './messages.ts';
import {
  checkRedeemProof,
  formatSturdyRef,
  newSecret,
  parseSturdyRef,
  redeemProof,
  sturdyKey,
} from './sturdyref.ts';
import { Transcript } from './transcript.ts';
import { DEFAULT_LIMITS, VatWorker, type WorkerLimits } from './vat-worker.ts';

export interface KernelOptions extends VatOptions {
  readonly vatId: VatId;
  /**
   * Signs three-party handoff certificates and checks other vats' (kernel/handoff.ts).
   * Without it, references to a third vat's objects are proxied through this vat.
   */
  readonly identity?: VatIdentity;
  readonly limits?: WorkerLimits;
  /** Called once per failed crank with a one-line reason (the node logs it). */
  readonly onCrankFailure?: (reason: string, delivery: Delivery) => void;
}

interface PromiseRecord {
  /** Who decides it: null = this vat, else the peer vat. */
  decider: VatId | null;
  resolution: { rejected: boolean; data: CapData } | null;
  /** Messages this vat sent to it through each peer (for embargoes). */
  readonly sent: Map<VatId, number>;
  /** Messages each peer sent us targeted at it (reported when we resolve it). */
  readonly received: Map<VatId, number>;
  embargo: { token: number; held: SendItem[] } | null;
  /** For a take we sent: the certificate key (`giver:nonce`) it settles. */
  take?: string;
}

interface SendItem {
  readonly target: VRef;
  readonly method: string | null;
  readonly args: CapData;
  readonly result: VRef | null;
}

type RunItem =
  | { readonly kind: 'vat'; readonly delivery: Delivery; readonly from?: VatId }
  | { readonly kind: 'echo'; readonly peer: VatId; readonly token: number };

export interface HostResult {
  readonly rejected: boolean;
  readonly value: unknown;
}

export class Kernel implements KernelPort {
  readonly vatId: VatId;
  readonly #options: KernelOptions;
  readonly #transport: Transport;
  #worker: VatWorker | null = null;
  /** The vat's committed durable store (the worker holds a copy). */
  readonly #vatStore = new Map<string, string>();
  readonly #clists = new Map<VatId, CList>();
  /** Imported objects: vref → (owner, wire ref from our point of view). */
  readonly #imports = new Map<VRef, { peer: VatId; wire: WireRef }>();
  readonly #promises = new Map<VRef, PromiseRecord>();
  #nextImport = 1;
  #nextPromise = 1;
  #nextToken = 1;
  #nextHandoff = 1;
  /** Certificates we received, by `giver:nonce` → the promise that their take settles. */
  readonly #takes = new Map<string, { promise: VRef; vref: VRef | null; error: string | null }>();
  /** Inbound messages waiting for takes, per peer, in arrival order. */
  readonly #held = new Map<VatId, VatMessage[]>();
  /** Sturdyrefs we minted: public key (hex) → the object. */
  readonly #sturdyRefs = new Map<string, VRef>();
  /** Certificates we gave, by recipient and vref. */
  readonly #certs = new Map<string, string>();
  readonly #runQueue: RunItem[] = [];
  readonly #outbox = new Map<VatId, Sequenced[]>();
  readonly #nextSeq = new Map<VatId, number>();
  readonly #inboundSeq = new Map<VatId, number>();
  readonly #embargoes = new Map<number, VRef>();
  readonly #hostWaiters = new Map<VRef, (r: HostResult) => void>();
  readonly #wakeSet = new Set<VatId>();
  readonly transcript = new Transcript();
  #pumping = false;
  #idle: (() => void)[] = [];
  #closed = false;
  /** Counters for tests and metrics. */
  readonly stats = { cranks: 0, failedCranks: 0, workerRestarts: 0 };

  private constructor(options: KernelOptions, transport: Transport) {
    this.vatId = options.vatId;
    this.#options = options;
    this.#transport = transport;
  }

  /** Start the vat: load its contract in a fresh worker and run buildRootObject. */
  static async create(options: KernelOptions, transport: Transport): Promise<Kernel> {
    const k = new Kernel(options, transport);
    await k.#startWorker();
    transport.attach(k);
    return k;
  }

  // ---------------------------------------------------------------- host API

  /** Let `peer` reach this vat's root object; returns the wire ref (as this vat writes it). */
  grantRoot(peer: VatId): WireRef {
    return this.grant(peer, 'o+0');
  }

  /** Put one of this vat's refs in `peer`'s c-list; returns the wire ref (as this vat writes it). */
  grant(peer: VatId, vref: VRef): WireRef {
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects can be granted: ${vref}`);
    return this.#clist(peer).export(vref);
  }

  /** Import a ref that `peer` granted us (its wire ref, as `peer` wrote it); returns our vref. */
  importGranted(peer: VatId, wire: WireRef): VRef {
    return this.#importFromPeer(peer, wire, 'arg');
  }

  /**
   * Send `method(...args)` to a vref of this vat (its root `o+0`, an import, a promise) as the
   * host, and wait for the result. Args may contain HostRefs. Used by the CLI and tests.
   */
  call(target: VRef, method: string, args: unknown[]): Promise<HostResult> {
    const result = `p-${this.#nextPromise++}`;
    this.#promises.set(result, newPromise(null));
    const done = new Promise<HostResult>((resolve) => this.#hostWaiters.set(result, resolve));
    this.#route({ target, method, args: encodeHost(args), result }, FROM_HOST);
    this.#wakePeers();
    return done;
  }

  /**
   * Mint a sturdyref for one of this vat's objects: anyone holding the URI can redeem it for a
   * live reference until it is revoked. `hints` are addresses where this vat listens.
   */
  mintSturdyRef(vref: VRef, hints: readonly string[] = []): string {
    if (!/^o\+(d\d+\/)?\d+$/.test(vref))
      throw TypeError(`only this vat's objects have sturdyrefs: ${vref}`);
    const secret = newSecret();
    this.#sturdyRefs.set(sturdyKey(secret), vref);
    return formatSturdyRef({ vatId: this.vatId, secret, hints });
  }

  /** Revoke a sturdyref: later redemptions fail (references already handed out stay live). */
  revokeSturdyRef(uri: string): boolean {
    const ref = parseSturdyRef(uri);
    if (ref.vatId !== this.vatId) throw TypeError('not a sturdyref of this vat');
    return this.#sturdyRefs.delete(sturdyKey(ref.secret));
  }

  /** Redeem a sturdyref (of any vat) for a reference this vat holds; resolves to its vref. */
  async redeem(uri: string): Promise<VRef> {
    const ref = parseSturdyRef(uri);
    if (ref.vatId === this.vatId) {
      const vref = this.#sturdyRefs.get(sturdyKey(ref.secret));
      if (vref === undefined) throw Error('unknown or revoked sturdyref');
      return vref;
    }
    if (ref.hints.length > 0) this.#transport.addHints?.(ref.vatId, ref.hints);
    const result = `p-${this.#nextPromise++}`;
    this.#promises.set(result, newPromise(ref.vatId));
    const done = new Promise<HostResult>((resolve) => this.#hostWaiters.set(result, resolve));
    this.#push(ref.vatId, {
      op: 'redeem',
      key: sturdyKey(ref.secret),
      proof: redeemProof(ref.secret, ref.vatId, this.vatId),
      result: this.#clist(ref.vatId).export(result),
    });
    this.#wakePeers();
    const r = await done;
    if (r.rejected)
      throw Error(`sturdyref refused by ${ref.vatId}: ${(r.value as HostError).message}`);
    return (r.value as { vref: VRef }).vref;
  }

  /** Resolves when the run queue is empty and no crank is running. */
  idle(): Promise<void> {
    if (!this.#pumping && this.#runQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([this.#worker?.terminate(), this.#transport.close()]);
  }

  // ------------------------------------------------------- KernelPort (transport side)

  receive(peer: VatId, seq: number, msg: VatMessage): 'accepted' | 'duplicate' {
    const last = this.#inboundSeq.get(peer) ?? 0;
    if (!Number.isSafeInteger(seq) || seq <= 0) throw new ProtocolError(`bad seq ${seq}`);
    if (seq <= last) return 'duplicate';
    if (seq !== last + 1)
      throw new ProtocolError(`seq gap from ${peer}: got ${seq}, expected ${last + 1}`);
    // The message is consumed even if it is invalid: a retransmit of it is then a duplicate,
    // and one bad message from a peer cannot wedge the link forever.
    this.#inboundSeq.set(peer, seq);
    this.#wakeSet.add(peer); // an ack is owed
    try {
      this.#accept(peer, msg);
    } finally {
      this.#wakePeers();
    }
    return 'accepted';
  }

  committedInbound(peer: VatId): number {
    return this.#inboundSeq.get(peer) ?? 0;
  }

  acked(peer: VatId, seq: number): void {
    const box = this.#outbox.get(peer);
    const sent = (this.#nextSeq.get(peer) ?? 1) - 1;
    if (seq > sent) throw new ProtocolError(`ack ${seq} from ${peer} beyond last sent ${sent}`);
    if (!box) return;
    let drop = 0;
    while (drop < box.length && box[drop]!.seq <= seq) drop++;
    if (drop > 0) box.splice(0, drop);
  }

  unacked(peer: VatId, afterSeq: number): readonly Sequenced[] {
    const box = this.#outbox.get(peer);
    if (!box || box.length === 0) return [];
    if (box[0]!.seq > afterSeq) return box;
    return box.filter((s) => s.seq > afterSeq);
  }

  // -------------------------------------------------------------- inbound messages

  #accept(peer: VatId, msg: VatMessage): void {
    // A message that carries a third vat's object waits until that vat has added the object to
    // our c-list (the take), so the vat sees the very same presence as for any other reference
    // to it. Later messages from the same peer wait behind it, to keep their order.
    const held = this.#held.get(peer);
    if (held) {
      held.push(msg);
      return;
    }
    if (this.#startTakes(peer, msg)) {
      this.#held.set(peer, [msg]);
      return;
    }
    this.#process(peer, msg);
  }

  /** Present the certificates in `msg` that we have not taken yet; true if any is pending. */
  #startTakes(peer: VatId, msg: VatMessage): boolean {
    const slots =
      msg.op === 'deliver'
        ? msg.args.slots
        : msg.op === 'resolve'
          ? msg.resolutions.flatMap((r) => r.value.slots)
          : [];
    let pending = false;
    for (const slot of slots) {
      if (typeof slot !== 'string' || !isHandoffSlot(slot)) continue;
      const cert = this.#readCert(slot);
      if (cert.exporter === this.vatId) continue; // our own object, named by its certificate
      if (cert.giver !== peer)
        throw new ProtocolError(`handoff signed by ${cert.giver} sent by ${peer}`);
      if (cert.recipient !== this.vatId)
        throw new ProtocolError(`handoff for ${cert.recipient} sent here`);
      if (cert.exporter === peer) throw new ProtocolError('handoff must name a third vat');
      const key = `${cert.giver}:${cert.nonce}`;
      let take = this.#takes.get(key);
      if (!take) {
        const promise = `p-${this.#nextPromise++}`;
        this.#promises.set(promise, { ...newPromise(cert.exporter), take: key });
        take = { promise, vref: null, error: null };
        this.#takes.set(key, take);
        const result = this.#clist(cert.exporter).export(promise);
        this.#push(cert.exporter, { op: 'take', cert: slot, result });
      }
      if (take.vref === null && take.error === null) pending = true;
    }
    return pending;
  }

  /** A take was answered: let the held messages through, in order, as far as they can go. */
  #releaseHeld(): void {
    for (const [peer, queue] of this.#held) {
      while (queue.length > 0 && !this.#startTakes(peer, queue[0]!)) {
        const msg = queue.shift()!;
        try {
          this.#process(peer, msg);
        } catch (e) {
          // The peer sent it, but the error is only found now: drop it, keep the link.
          this.#options.onCrankFailure?.(`message from ${peer} refused: ${(e as Error).message}`, {
            type: 'notify',
            resolutions: [],
          });
        }
      }
      if (queue.length === 0) this.#held.delete(peer);
    }
  }

  #process(peer: VatId, msg: VatMessage): void {
    switch (msg.op) {
      case 'deliver': {
        const target = this.#importFromPeer(peer, msg.target, 'target');
        const args = this.#capDataFromPeer(peer, msg.args);
        const result =
          msg.result === null ? null : this.#importFromPeer(peer, msg.result, 'result');
        this.#route({ target, method: msg.method, args, result }, peer);
        return;
      }
      case 'resolve':
        for (const r of msg.resolutions) this.#acceptResolution(peer, r);
        return;
      case 'echo': {
        const target = this.#importFromPeer(peer, msg.target, 'target');
        if (!target.startsWith('p')) throw new ProtocolError('echo must target a promise');
        this.#enqueue({ kind: 'echo', peer, token: msg.token });
        return;
      }
      case 'echoed':
        this.#endEmbargo(peer, msg.token);
        return;
      case 'take':
        this.#acceptTake(peer, msg.cert, msg.result);
        return;
      case 'redeem':
        this.#acceptRedeem(peer, msg.key, msg.proof, msg.result);
        return;
      case 'drop':
        // Distributed GC is not implemented yet: imports stay alive. Validate and ignore.
        for (const r of msg.refs) if (!isWireRef(r)) throw new ProtocolError(`bad ref ${r}`);
        return;
    }
  }

  #acceptResolution(peer: VatId, r: Resolution): void {
    const vref = this.#importFromPeer(peer, r.promise, 'target');
    const rec = this.#promises.get(vref);
    if (!rec || rec.decider !== peer) {
      throw new ProtocolError(`${peer} resolved ${r.promise}, which it does not decide`);
    }
    if (!Number.isSafeInteger(r.received) || r.received < 0)
      throw new ProtocolError('bad received count');
    if (rec.take !== undefined) {
      this.#settleTake(peer, rec.take, r);
      return;
    }
    const data = this.#capDataFromPeer(peer, r.value);
    rec.decider = null;
    rec.resolution = { rejected: r.rejected, data };
    // Tell the other peers that know this promise through us.
    for (const [other, clist] of this.#clists) {
      if (other !== peer && clist.has(vref)) this.#resolveToPeer(other, vref, rec);
    }
    const host = this.#hostWaiters.get(vref);
    if (host) {
      // A promise the host asked for: the vat never held it.
      this.#hostWaiters.delete(vref);
      host({ rejected: r.rejected, value: decodeHost(data) });
      return;
    }
    const sent = rec.sent.get(peer) ?? 0;
    if (sent > r.received && !r.rejected && this.#redirectsAwayFrom(peer, data)) {
      const token = this.#nextToken++;
      rec.embargo = { token, held: [] };
      this.#embargoes.set(token, vref);
      this.#push(peer, { op: 'echo', target: this.#exportToPeer(peer, vref), token });
      return;
    }
    this.#enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, r.rejected, data]] },
    });
  }

  /** The exporter answered our take: the object is now in our c-list with it (or refused). */
  #settleTake(exporter: VatId, key: string, r: Resolution): void {
    const take = this.#takes.get(key)!;
    if (r.rejected) {
      take.error = `handoff refused by ${exporter}`;
    } else {
      const slot = r.value.slots[0];
      if (r.value.slots.length !== 1 || typeof slot !== 'string' || !slot.startsWith('o+')) {
        throw new ProtocolError(`take answered with something other than an object of ${exporter}`);
      }
      take.vref = this.#importFromPeer(exporter, slot, 'arg');
    }
    this.#releaseHeld();
  }

  #acceptRedeem(peer: VatId, key: string, proof: string, result: WireRef): void {
    const vref = this.#importFromPeer(peer, result, 'result');
    const rec = this.#promise(vref);
    const target = checkRedeemProof(key, proof, this.vatId, peer)
      ? this.#sturdyRefs.get(key)
      : undefined;
    rec.resolution =
      target === undefined
        ? {
            rejected: true,
            data: encodeHost(new HostError('Error', 'unknown or revoked sturdyref')),
          }
        : { rejected: false, data: { body: '#"$0.Alleged: sturdyref"', slots: [target] } };
    this.#resolveToPeer(peer, vref, rec);
  }

  /** A peer presents a certificate for one of our objects: add it to the peer's c-list. */
  #acceptTake(peer: VatId, cert: unknown, result: WireRef): void {
    if (typeof cert !== 'string' || !isHandoffSlot(cert))
      throw new ProtocolError('take without a certificate');
    const vref = this.#importFromPeer(peer, result, 'result');
    const rec = this.#promise(vref);
    let target: VRef;
    try {
      target = this.#objectForCert(peer, cert);
    } catch (e) {
      // A well-signed certificate for something the giver does not hold: the giver lied, not
      // the presenter. Refuse the take (the presenter drops what depended on it).
      rec.resolution = {
        rejected: true,
        data: encodeHost(new HostError('Error', (e as Error).message)),
      };
      this.#resolveToPeer(peer, vref, rec);
      if (e instanceof ProtocolError && /does not hold/.test(e.message)) return;
      throw e;
    }
    rec.resolution = { rejected: false, data: { body: '#"$0.Alleged: handoff"', slots: [target] } };
    this.#resolveToPeer(peer, vref, rec);
  }

  /** The object a certificate presented by `presenter` gives it (we are the exporter). */
  #objectForCert(presenter: VatId, slot: string): VRef {
    const cert = this.#readCert(slot);
    if (cert.exporter !== this.vatId)
      throw new ProtocolError(`handoff for ${cert.exporter} presented here`);
    if (cert.recipient !== presenter) {
      throw new ProtocolError(`handoff for ${cert.recipient} presented by ${presenter}`);
    }
    const vref = this.#clists.get(cert.giver)?.vrefOf(cert.ref);
    if (vref === undefined)
      throw new ProtocolError(`handoff of ${cert.ref}, which ${cert.giver} does not hold`);
    this.#clist(presenter).export(vref);
    return vref;
  }

  #readCert(slot: string) {
    if (!this.#options.identity) throw new ProtocolError('this vat does not accept handoffs');
    try {
      return readHandoffSlot(this.#options.identity, slot);
    } catch (e) {
      if (e instanceof HandoffError) throw new ProtocolError(e.message);
      throw e;
    }
  }

  /** Does this resolution send later messages somewhere else than `peer`? */
  #redirectsAwayFrom(peer: VatId, data: CapData): boolean {
    if (data.slots.length !== 1 || !/^#"[$&]0[."]/.test(data.body)) return false;
    const slot = data.slots[0]!;
    if (slot.startsWith('o-')) return this.#imports.get(slot)?.peer !== peer;
    if (slot.startsWith('p')) return this.#promises.get(slot)?.decider !== peer;
    return true; // one of our own objects
  }

  #endEmbargo(peer: VatId, token: number): void {
    const vref = this.#embargoes.get(token);
    if (vref === undefined) throw new ProtocolError(`unknown echo token ${token} from ${peer}`);
    this.#embargoes.delete(token);
    const rec = this.#promises.get(vref)!;
    const held = rec.embargo?.held ?? [];
    rec.embargo = null;
    const resolution = rec.resolution!;
    // Held sends go first, to where the promise now points; then the vat learns the resolution.
    const to = resolution.data.slots[0]!;
    for (const s of held) this.#route({ ...s, target: to }, FROM_VAT);
    this.#enqueue({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[vref, resolution.rejected, resolution.data]] },
    });
  }

  // -------------------------------------------------------------------- routing

  /** Send a message to `target` (a vref), from a peer, the vat (FROM_VAT) or the host (FROM_HOST). */
  #route(s: SendItem, from: VatId): void {
    const { target } = s;
    if (target.startsWith('o+')) {
      this.#enqueue({ kind: 'vat', delivery: { type: 'message', ...s }, from });
      return;
    }
    if (target.startsWith('o-')) {
      const owner = this.#imports.get(target);
      if (!owner) throw new ProtocolError(`unknown import ${target}`);
      this.#sendToPeer(owner.peer, s);
      return;
    }
    const rec = this.#promise(target);
    if (rec.embargo && from === FROM_VAT) {
      rec.embargo.held.push(s);
      return;
    }
    if (rec.decider === null) {
      this.#enqueue({ kind: 'vat', delivery: { type: 'message', ...s }, from });
    } else if (rec.decider === from) {
      throw new ProtocolError(`${from} sent a message to a promise it decides`);
    } else {
      rec.sent.set(rec.decider, (rec.sent.get(rec.decider) ?? 0) + 1);
      this.#sendToPeer(rec.decider, s);
    }
  }

  #sendToPeer(peer: VatId, s: SendItem): void {
    const target = this.#exportToPeer(peer, s.target);
    const args = this.#capDataToPeer(peer, s.args);
    let result: WireRef | null = null;
    if (s.result !== null) {
      result = this.#exportToPeer(peer, s.result);
      this.#promise(s.result).decider = peer; // the receiver decides the result
    }
    this.#push(peer, { op: 'deliver', target, method: s.method, args, result });
  }

  #resolveToPeer(peer: VatId, vref: VRef, rec: PromiseRecord): void {
    const res = rec.resolution!;
    this.#push(peer, {
      op: 'resolve',
      resolutions: [
        {
          promise: this.#exportToPeer(peer, vref),
          rejected: res.rejected,
          value: this.#capDataToPeer(peer, res.data),
          received: rec.received.get(peer) ?? 0,
        },
      ],
    });
  }

  #push(peer: VatId, msg: VatMessage): void {
    const seq = this.#nextSeq.get(peer) ?? 1;
    this.#nextSeq.set(peer, seq + 1);
    const box = this.#outbox.get(peer);
    if (box) box.push({ seq, msg });
    else this.#outbox.set(peer, [{ seq, msg }]);
    this.#wakeSet.add(peer);
  }

  #wakePeers(): void {
    for (const peer of this.#wakeSet) this.#transport.wake(peer);
    this.#wakeSet.clear();
  }

  // --------------------------------------------------------- c-list translation

  #clist(peer: VatId): CList {
    let c = this.#clists.get(peer);
    if (!c) {
      c = new CList();
      this.#clists.set(peer, c);
    }
    return c;
  }

  #promise(vref: VRef): PromiseRecord {
    let rec = this.#promises.get(vref);
    if (!rec) {
      rec = newPromise(null);
      this.#promises.set(vref, rec);
    }
    return rec;
  }

  /** Our vref → the wire ref `peer` should see (from our point of view). */
  #exportToPeer(peer: VatId, vref: VRef): WireRef {
    const owner = this.#imports.get(vref);
    if (owner && owner.peer === peer) return owner.wire;
    const identity = this.#options.identity;
    if (owner && identity) {
      // A third vat's object: hand it off rather than proxy it (one certificate per recipient).
      const key = `${peer}\n${vref}`;
      let cert = this.#certs.get(key);
      if (cert === undefined) {
        cert = makeHandoffSlot(identity, {
          exporter: owner.peer,
          ref: flip(owner.wire),
          recipient: peer,
          nonce: this.#nextHandoff++,
        });
        this.#certs.set(key, cert);
      }
      return cert;
    }
    // Anything else (our objects, promises, and imports from a third vat, which we proxy
    // until the three-party handoff takes over) gets an index we allocate.
    return this.#clist(peer).export(vref);
  }

  /** A wire ref as `peer` wrote it → our vref; allocates imports, rejects unknown indices. */
  #importFromPeer(peer: VatId, wire: unknown, role: 'arg' | 'target' | 'result'): VRef {
    if (typeof wire === 'string' && isHandoffSlot(wire) && role !== 'result') {
      // Ours (the peer names our object by a certificate it holds) or a third vat's.
      const cert = this.#readCert(wire);
      if (cert.exporter === this.vatId) return this.#objectForCert(peer, wire);
      if (role !== 'arg') fail(`${peer} sent a message to a third vat's object through us`);
      const take = this.#takes.get(`${cert.giver}:${cert.nonce}`);
      if (take?.vref) return take.vref;
      fail(take?.error ?? `handoff from ${cert.giver} was not taken`);
    }
    if (!isWireRef(wire)) throw new ProtocolError(`malformed ref ${String(wire)} from ${peer}`);
    const ours = flip(wire);
    const clist = this.#clist(peer);
    const known = clist.vrefOf(ours);
    if (ours[1] === '+') {
      // An index we allocated: the peer may only name what we gave it.
      if (known === undefined) throw new ProtocolError(`unknown c-list index ${wire} from ${peer}`);
      if (role === 'result') throw new ProtocolError(`result promise ${wire} is not fresh`);
      return known;
    }
    if (role === 'target' && ours[0] === 'o') {
      throw new ProtocolError(`${peer} sent a message to its own object ${wire}`);
    }
    if (known !== undefined) {
      if (role === 'result') throw new ProtocolError(`result promise ${wire} is not fresh`);
      return known;
    }
    if (role === 'target') throw new ProtocolError(`unknown c-list index ${wire} from ${peer}`);
    const vref = ours[0] === 'o' ? `o-${this.#nextImport++}` : `p-${this.#nextPromise++}`;
    clist.add(ours, vref);
    if (ours[0] === 'o') this.#imports.set(vref, { peer, wire: ours });
    else this.#promises.set(vref, newPromise(role === 'result' ? null : peer));
    return vref;
  }

  #capDataFromPeer(peer: VatId, data: CapData): CapData {
    return { body: data.body, slots: data.slots.map((s) => this.#importFromPeer(peer, s, 'arg')) };
  }

  #capDataToPeer(peer: VatId, data: CapData): CapData {
    return { body: data.body, slots: data.slots.map((s) => this.#exportToPeer(peer, s)) };
  }

  // ---------------------------------------------------------------------- cranks

  #enqueue(item: RunItem): void {
    this.#runQueue.push(item);
    if (!this.#pumping) {
      this.#pumping = true;
      queueMicrotask(() => void this.#pump());
    }
  }

  async #pump(): Promise<void> {
    try {
      while (this.#runQueue.length > 0 && !this.#closed) {
        const head = this.#runQueue[0]!;
        if (head.kind === 'echo') {
          this.#runQueue.shift();
          this.#push(head.peer, { op: 'echoed', token: head.token });
        } else {
          await this.#crankBatch();
        }
        this.#wakePeers();
      }
    } finally {
      this.#pumping = false;
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Run the vat deliveries at the head of the run queue as consecutive cranks in one trip to
   * the worker. Each crank still commits (or fails) on its own, in order, exactly as if they
   * had been sent one by one; batching only saves the round trips.
   */
  async #crankBatch(): Promise<void> {
    const batch: Extract<RunItem, { kind: 'vat' }>[] = [];
    for (let head = this.#runQueue[0]; batch.length < MAX_BATCH && head?.kind === 'vat'; ) {
      batch.push(head);
      this.#runQueue.shift();
      head = this.#runQueue[0];
    }
    const worker = this.#worker ?? (await this.#startWorker());
    let done = 0;
    let failed = false;
    await worker.cranks(
      batch.map((b) => b.delivery),
      (i, outcome) => {
        done = i + 1;
        failed = !outcome.ok;
        this.#commit(batch[i]!.delivery, batch[i]!.from, outcome);
        this.#wakePeers();
      },
    );
    // The deliveries after a failed crank never ran: they go back to the head of the queue.
    this.#runQueue.unshift(...batch.slice(done));
    if (failed) {
      // Nothing of the failed crank was applied. Replace the worker: its heap may hold half
      // a turn. The next crank starts a fresh one from the committed store.
      await worker.terminate();
      this.#worker = null;
      this.stats.workerRestarts++;
    }
  }

  #commit(delivery: Delivery, from: VatId | undefined, outcome: CrankOutcome): void {
    this.stats.cranks++;
    if (delivery.type === 'message' && isPeer(from) && delivery.target.startsWith('p')) {
      // Count it before this crank's resolutions go out: a peer that sent it learns from the
      // count whether it was forwarded before the resolution (else it must embargo).
      const rec = this.#promise(delivery.target);
      rec.received.set(from, (rec.received.get(from) ?? 0) + 1);
    }
    this.transcript.append(delivery, outcome);
    if (outcome.ok) {
      for (const [k, v] of outcome.writes) {
        if (v === null) this.#vatStore.delete(k);
        else this.#vatStore.set(k, v);
      }
      for (const sc of outcome.syscalls) this.#syscall(sc);
      return;
    }
    this.stats.failedCranks++;
    this.#options.onCrankFailure?.(outcome.error, delivery);
    if (delivery.type === 'message' && delivery.result !== null) {
      const error = encodeHost(new HostError('Error', `delivery aborted: ${outcome.error}`));
      this.#resolveByVat(delivery.result, true, error);
    }
  }

  #syscall(sc: Syscall): void {
    if (sc.type === 'send') {
      if (sc.result !== null) this.#promise(sc.result);
      this.#route(sc, FROM_VAT);
      return;
    }
    for (const [vref, rejected, data] of sc.resolutions) this.#resolveByVat(vref, rejected, data);
  }

  /** The vat settled a promise it decides: tell every peer that knows it (and the host). */
  #resolveByVat(vref: VRef, rejected: boolean, data: CapData): void {
    const rec = this.#promise(vref);
    if (rec.decider !== null) return; // not ours to decide: ignore a confused vat
    rec.resolution = { rejected, data };
    const host = this.#hostWaiters.get(vref);
    if (host) {
      this.#hostWaiters.delete(vref);
      host({ rejected, value: decodeHost(data) });
    }
    for (const [peer, clist] of this.#clists) {
      if (clist.has(vref)) this.#resolveToPeer(peer, vref, rec);
    }
  }

  async #startWorker(): Promise<VatWorker> {
    const { vatName, contractSource, gasLimit } = this.#options;
    this.#worker = await VatWorker.start(
      { vatName, contractSource, gasLimit },
      [...this.#vatStore],
      this.#options.limits ?? DEFAULT_LIMITS,
    );
    // buildRootObject runs at every start: it redefines the durable kinds and the root object.
    const outcome = await this.#worker.crank({ type: 'startVat' });
    if (!outcome.ok) {
      await this.#worker.terminate();
      this.#worker = null;
      throw Error(`vat ${vatName} failed to start: ${outcome.error}`);
    }
    this.transcript.append({ type: 'startVat' }, outcome);
    for (const [k, v] of outcome.writes) {
      if (v === null) this.#vatStore.delete(k);
      else this.#vatStore.set(k, v);
    }
    for (const sc of outcome.syscalls) this.#syscall(sc);
    return this.#worker;
  }
}

/** Deliveries sent to the worker in one trip (each still its own crank). */
const MAX_BATCH = 64;

/** Pseudo-senders for routing: never valid VatIds (those are libp2p PeerIds). */
const FROM_VAT = '<vat>';
const FROM_HOST = '<host>';
const isPeer = (from: VatId | undefined): from is VatId =>
  from !== undefined && from !== FROM_VAT && from !== FROM_HOST;

function fail(message: string): never {
  throw new ProtocolError(message);
}

function newPromise(decider: VatId | null): PromiseRecord {
  return { decider, resolution: null, sent: new Map(), received: new Map(), embargo: null };
}
