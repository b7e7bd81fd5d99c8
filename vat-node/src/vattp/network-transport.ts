/**
 * VatTP over libp2p: the Transport a vat node's kernel talks through.
 *
 * Per peer vat, one outbound session: a stream on VATTP_PROTOCOL that we open. The receiving
 * side first sends a hello with a fresh nonce (the session); every frame we send on that stream
 * is signed over that session, so a frame recorded on one stream is refused on any other.
 * Frames flow one way on a stream; the peer's frames (and its acks) come on its own stream.
 *
 * The kernel owns seqs, the outbox and the committed high-water mark (transport/types.ts);
 * this class only remembers, per peer, what it wrote on the current stream (lastSent), the
 * highest ack the peer sent (ackedByPeer) and the ack it last wrote (ackSent):
 * - wake(peer) schedules a pump: it dials on demand, sends kernel.unacked(peer, lastSent) in
 *   as few frames as fit, each carrying ack = kernel.committedInbound(peer);
 * - an ack with nothing to carry it waits ackDelayMs, so a burst of commits costs one frame;
 * - when a stream is lost, lastSent falls back to ackedByPeer: the next stream retransmits
 *   every unacked message and the receiver's kernel drops the duplicates;
 * - failed dials are retried with backoff and full jitter, only while something is owed,
 *   with one log line when the peer becomes unreachable and one when it is back;
 * - a peer is no longer dialled (parked) when it is a short-lived client that left
 *   (`quorumvat send` says so in identify) or after giveUpMs of failed
 *   dials (one log line). What it is owed stays in the kernel's durable outbox and goes out
 *   when the peer connects to us again or we learn new addresses for it.
 * Inbound frames are checked (canonical decoding, `to` is us, `from` is the authenticated
 * connection peer, our session, the signature) before the kernel sees any message; bad input
 * is logged with its reason, the stream closed, and repeat offenders banned for a while.
 */
import { randomBytes } from 'node:crypto';
import type { Stream, StreamMessageEvent } from '@libp2p/interface';
import { LengthPrefixedDecoder, type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { EventSink } from '../events/events.ts';
import { ProtocolError, type ProtocolErrorCode } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { KernelPort, Transport } from '../transport/types.ts';
import { Backoff, type BackoffPolicy } from './backoff.ts';
import {
  decodeHello,
  decodeWire,
  encodeHello,
  MAX_WIRE_BYTES,
  packFrames,
  SESSION_BYTES,
  sessionOf,
  verifyFrame,
} from './codec.ts';
import { DEFAULT_BACKOFF, DEFAULT_PENALTIES, VATTP_DEFAULTS } from './defaults.ts';
import { createVatHost, type VatHost, type VatHostOptions } from './host.ts';
import { type HostIdentity, publicKeyOfVatId } from './identity.ts';
import { Penalties, type PenaltyPolicy } from './penalties.ts';

export const VATTP_PROTOCOL = '/quorumvat/vattp/1.0.0';

export interface NetworkTransportOptions {
  readonly identity: HostIdentity;
  readonly host: VatHost;
  /** Where the transport reports what an operator should know (events/log.ts makes lines). */
  readonly events: EventSink;
  /** Known addresses of peer vats (configuration, sturdyref hints). */
  readonly hints?: ReadonlyMap<VatId, readonly string[]>;
  readonly backoff?: BackoffPolicy;
  /** How long an ack with no message to ride on waits for one. */
  readonly ackDelayMs?: number;
  /** Largest frame we send (the receiver accepts up to MAX_WIRE_BYTES). */
  readonly maxFrameBytes?: number;
  /** Dial (including a DHT lookup) plus hello. */
  readonly connectTimeoutMs?: number;
  /**
   * A link with unacknowledged messages that hears nothing from the peer for this long is
   * declared dead and redialled. TCP itself waits out a silent partition for many minutes.
   */
  readonly stallTimeoutMs?: number;
  readonly penalties?: PenaltyPolicy;
  /** Stop dialling a peer unreachable this long (default: VATTP_DEFAULTS.giveUpMs). */
  readonly giveUpMs?: number;
  /** Stop the host in close() (true when the transport created it). */
  readonly ownsHost?: boolean;
}

interface Session {
  readonly stream: Stream;
  readonly lp: LengthPrefixedStream<Stream>;
  readonly session: string;
  readonly openedAt: number;
}

/** What the transport remembers about one peer vat (nothing of it is durable). */
class Link {
  readonly peer: VatId;
  readonly backoff: Backoff;
  out: Session | undefined;
  connecting = false;
  /** Highest seq written on the current stream. */
  lastSent = 0;
  /** Highest ack the peer has sent us. */
  ackedByPeer = 0;
  /** Highest ack we wrote (set back to 0 when the peer's resends show it missed one). */
  ackSent = 0;
  ackTimer: NodeJS.Timeout | undefined;
  ackDue = false;
  /** When a frame from the peer was last accepted. */
  heardAt = 0;
  stallTimer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  unreachableSince: number | undefined;
  /** Not dialled until the peer connects to us or new hints come (see the header). */
  parked = false;
  /** Start of the failed dials counted against giveUpMs (restarts when unparked). */
  failingSince: number | undefined;
  /** First seq of a batch that could not be framed (logged once). */
  stuckAt: number | undefined;
  scheduled = false;
  pumping = false;
  dirty = false;

  constructor(peer: VatId, backoff: BackoffPolicy) {
    this.peer = peer;
    this.backoff = new Backoff(backoff);
  }
}

/** Counters for tests, benchmarks and metrics. */
export interface VattpStats {
  framesSent: number;
  ackOnlyFramesSent: number;
  messagesSent: number;
  framesReceived: number;
  messagesReceived: number;
  duplicatesReceived: number;
  rejectedInputs: number;
  connects: number;
  connectFailures: number;
}

const { stableStreamMs: STABLE_STREAM_MS, maxMessagesPerPump: MAX_MESSAGES_PER_PUMP } =
  VATTP_DEFAULTS;

export class NetworkTransport implements Transport {
  readonly #identity: HostIdentity;
  readonly #host: VatHost;
  readonly #events: EventSink;
  readonly #hints = new Map<VatId, readonly string[]>();
  readonly #backoffPolicy: BackoffPolicy;
  readonly #ackDelayMs: number;
  readonly #maxFrameBytes: number;
  readonly #connectTimeoutMs: number;
  readonly #stallTimeoutMs: number;
  readonly #giveUpMs: number;
  readonly #penalties: Penalties;
  readonly #ownsHost: boolean;
  readonly #links = new Map<VatId, Link>();
  readonly #inbound = new Set<Stream>();
  readonly #closing = new AbortController();
  /** The kernel refused a frame as unavailable (logged once). */
  #refusing = false;
  #kernel: KernelPort | undefined;
  readonly stats: VattpStats = {
    framesSent: 0,
    ackOnlyFramesSent: 0,
    messagesSent: 0,
    framesReceived: 0,
    messagesReceived: 0,
    duplicatesReceived: 0,
    rejectedInputs: 0,
    connects: 0,
    connectFailures: 0,
  };

  /** Creates the libp2p host for `identity` and a transport that owns it. */
  static async create(
    options: Omit<NetworkTransportOptions, 'host' | 'ownsHost'> &
      Omit<VatHostOptions, 'events' | 'identity'>,
  ): Promise<NetworkTransport> {
    const host = await createVatHost({ ...options, events: options.events });
    const transport = new NetworkTransport({ ...options, host, ownsHost: true });
    await transport.start();
    return transport;
  }

  constructor(options: NetworkTransportOptions) {
    this.#identity = options.identity;
    this.#host = options.host;
    this.#events = options.events;
    for (const [peer, addrs] of options.hints ?? []) this.#hints.set(peer, addrs);
    this.#backoffPolicy = options.backoff ?? DEFAULT_BACKOFF;
    this.#ackDelayMs = options.ackDelayMs ?? VATTP_DEFAULTS.ackDelayMs;
    this.#maxFrameBytes = Math.min(
      options.maxFrameBytes ?? VATTP_DEFAULTS.maxFrameBytes,
      MAX_WIRE_BYTES,
    );
    this.#connectTimeoutMs = options.connectTimeoutMs ?? VATTP_DEFAULTS.connectTimeoutMs;
    this.#stallTimeoutMs = options.stallTimeoutMs ?? VATTP_DEFAULTS.stallTimeoutMs;
    this.#giveUpMs = options.giveUpMs ?? VATTP_DEFAULTS.giveUpMs;
    this.#penalties = new Penalties(options.penalties ?? DEFAULT_PENALTIES);
    this.#ownsHost = options.ownsHost ?? false;
    this.#host.setDenied((peer) => this.#penalties.isBanned(peer));
  }

  /** Starts serving inbound streams. Frames are refused until a kernel is attached. */
  async start(): Promise<void> {
    await this.#host.handle(VATTP_PROTOCOL, (stream, remote) => this.#serve(stream, remote));
    // A peer that connects to us is reachable: a pending retry need not wait out its backoff.
    this.#host.onPeerConnect((peer) => {
      const link = this.#links.get(peer);
      if (link === undefined) return;
      if (link.parked) this.#unpark(link);
      else if (link.retryTimer !== undefined) this.#retryNow(link);
    });
  }

  get vatId(): VatId {
    return this.#identity.vatId;
  }

  get host(): VatHost {
    return this.#host;
  }

  /** Listen addresses (with /p2p/<vatId>) for others to use as hints. */
  multiaddrs(): string[] {
    return this.#host.multiaddrs();
  }

  /** Peers this vat has exchanged frames with that are connected now (metrics). */
  connectedPeers(): number {
    let n = 0;
    for (const peer of this.#links.keys()) if (this.#host.isConnected(peer)) n++;
    return n;
  }

  addHints(peer: VatId, addrs: readonly string[]): void {
    this.#hints.set(peer, [...new Set([...(this.#hints.get(peer) ?? []), ...addrs])]);
    const link = this.#links.get(peer);
    if (link?.parked && addrs.length > 0) this.#unpark(link);
  }

  /** Peers no longer dialled (parked), for tests and metrics. */
  parkedPeers(): VatId[] {
    return [...this.#links.values()].filter((l) => l.parked).map((l) => l.peer);
  }

  #unpark(link: Link): void {
    link.parked = false;
    this.#kernel?.returned?.(link.peer);
    link.failingSince = undefined;
    link.backoff.reset();
    this.#retryNow(link);
  }

  /**
   * The kernel attaches itself; it must then wake() every peer it holds unacked messages
   * for, since the port cannot list peers.
   */
  attach(kernel: KernelPort): void {
    if (this.#kernel !== undefined) throw new Error('a kernel is already attached');
    if (kernel.vatId !== this.#identity.vatId) {
      throw new Error(`kernel ${kernel.vatId} is not the vat of this transport`);
    }
    this.#kernel = kernel;
  }

  wake(peer: VatId): void {
    if (this.#kernel === undefined || this.#closing.signal.aborted) return;
    const link = this.#link(peer);
    if (link !== undefined) this.#schedule(link);
  }

  /**
   * Send every owed ack now, on links that are up (a short-lived client does this before it
   * exits, so its peers do not keep retransmitting what it already received).
   */
  async flushAcks(): Promise<void> {
    for (const link of this.#links.values()) {
      if (link.out === undefined) continue;
      link.ackDue = true;
      await this.#pump(link);
    }
  }

  /**
   * Send what is owed (committed messages and acks) to the peers connected now, and wait until
   * it is written (a graceful stop: answers leave before the node closes). Peers that are not
   * connected get it after the restart, as always.
   */
  async flushConnected(): Promise<void> {
    for (const link of this.#links.values()) {
      if (!this.#host.isConnected(link.peer)) continue;
      link.ackDue = true;
      // A pump already running (woken by the last commit) may be half-way: let it finish.
      while (link.pumping && !this.#closing.signal.aborted) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await this.#pump(link);
    }
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new Error('transport closed'));
    for (const link of this.#links.values()) {
      clearTimeout(link.ackTimer);
      clearTimeout(link.retryTimer);
      clearTimeout(link.stallTimer);
      link.out?.stream.abort(new Error('transport closed'));
      link.out = undefined;
    }
    for (const stream of this.#inbound) stream.abort(new Error('transport closed'));
    this.#inbound.clear();
    if (this.#ownsHost) await this.#host.stop();
  }

  #link(peer: VatId): Link | undefined {
    let link = this.#links.get(peer);
    if (link === undefined) {
      try {
        publicKeyOfVatId(peer);
      } catch {
        this.#events({ type: 'wake-ignored', peer });
        return undefined;
      }
      link = new Link(peer, this.#backoffPolicy);
      this.#links.set(peer, link);
    }
    return link;
  }

  // ------------------------------------------------------------------ outbound

  /** Coalesces wakes: all commits of one turn of the event loop go out together. */
  #schedule(link: Link): void {
    if (link.scheduled || this.#closing.signal.aborted) return;
    link.scheduled = true;
    setImmediate(() => {
      link.scheduled = false;
      void this.#pump(link);
    });
  }

  async #pump(link: Link): Promise<void> {
    if (link.pumping) {
      link.dirty = true;
      return;
    }
    link.pumping = true;
    try {
      do {
        link.dirty = false;
        await this.#pumpOnce(link);
      } while (link.dirty && !this.#closing.signal.aborted);
    } catch (err) {
      this.#events({ type: 'send-failed', peer: link.peer, err: String(err) });
    } finally {
      link.pumping = false;
    }
  }

  async #pumpOnce(link: Link): Promise<void> {
    const kernel = this.#kernel;
    if (kernel === undefined || this.#closing.signal.aborted) return;
    if (link.connecting || link.retryTimer !== undefined) return; // a retry is already due
    link.lastSent = Math.max(link.lastSent, link.ackedByPeer);
    const owes = kernel.owed(link.peer, link.lastSent);
    const ack = kernel.committedInbound(link.peer);
    if (!owes && ack <= link.ackSent) {
      this.#clearAck(link);
      return;
    }
    const out = link.out;
    if (out === undefined) {
      // Only an ack is owed and the peer is not connected: no dial. A peer holding unacked
      // messages reconnects and resends them itself, and its duplicates re-owe the ack.
      if (!owes && !this.#host.isConnected(link.peer)) return;
      if (link.parked && !this.#host.isConnected(link.peer)) return;
      if (this.#penalties.isBanned(link.peer)) {
        this.#retryLater(link, this.#penalties.banRemainingMs(link.peer));
        return;
      }
      if (await this.#connect(link)) link.dirty = true;
      return;
    }
    if (!owes && !link.ackDue) {
      // Only an ack is owed: wait a moment for a message to carry it.
      link.ackTimer ??= setTimeout(() => {
        link.ackTimer = undefined;
        link.ackDue = true;
        this.#schedule(link);
      }, this.#ackDelayMs);
      return;
    }
    this.#clearAck(link);
    // Armed before writing: a write into a silently dead connection may never return.
    if (owes) this.#watchForStall(link, out);
    const pending = owes ? kernel.unacked(link.peer, link.lastSent) : [];
    // A long outbox (after an outage) goes out in slices: bounded memory per pump.
    const slice =
      pending.length > MAX_MESSAGES_PER_PUMP ? pending.slice(0, MAX_MESSAGES_PER_PUMP) : pending;
    if (slice !== pending) link.dirty = true;
    const { frames, oversized } = packFrames(
      { from: this.#identity.vatId, to: link.peer, session: out.session, ack },
      slice,
      this.#identity.sign,
      this.#maxFrameBytes,
    );
    if (oversized !== undefined) {
      // Cannot happen while the kernel refuses oversized messages (kernel/message-size.ts) and
      // maxFrameBytes is MAX_FRAME_BYTES. Skipping it would break ordering, so the link stalls
      // after the messages before it, logged once per stuck message.
      link.dirty = false;
      if (link.stuckAt !== oversized.seq) {
        link.stuckAt = oversized.seq;
        this.#events({
          type: 'delivery-undeliverable',
          peer: link.peer,
          seq: oversized.seq,
          maxFrameBytes: this.#maxFrameBytes,
        });
      }
    }
    for (const frame of frames) {
      if (frame.lastSeq === undefined && ack <= link.ackSent) continue; // nothing new in it
      try {
        await out.lp.write(frame.wire, { signal: this.#closing.signal });
      } catch {
        this.#lost(link, out);
        return;
      }
      if (link.out !== out) return; // lost while writing: the next stream retransmits
      this.stats.framesSent++;
      if (frame.lastSeq === undefined) {
        this.stats.ackOnlyFramesSent++;
      } else {
        this.stats.messagesSent += frame.lastSeq - link.lastSent;
        link.lastSent = frame.lastSeq;
      }
      link.ackSent = Math.max(link.ackSent, ack);
    }
  }

  /**
   * Messages are out and unacknowledged: if the peer goes silent (a partition that drops
   * packets without a reset), give up on this stream and its connection, and redial.
   */
  #watchForStall(link: Link, out: Session): void {
    if (link.stallTimer !== undefined) return;
    const sentAt = Date.now();
    link.stallTimer = setTimeout(() => {
      link.stallTimer = undefined;
      if (link.out !== out || !this.#kernel?.owed(link.peer, link.ackedByPeer)) return;
      if (Date.now() - Math.max(link.heardAt, sentAt) < this.#stallTimeoutMs) {
        this.#watchForStall(link, out); // the peer is talking: look again later
        return;
      }
      this.#events({ type: 'link-stalled', peer: link.peer, stallMs: this.#stallTimeoutMs });
      this.#lost(link, out);
      void this.#host.hangUp(link.peer).catch(() => {});
    }, this.#stallTimeoutMs);
  }

  #clearAck(link: Link): void {
    clearTimeout(link.ackTimer);
    link.ackTimer = undefined;
    link.ackDue = false;
  }

  /** Dials the peer and waits for its hello. True on success; on failure a retry is set. */
  async #connect(link: Link): Promise<boolean> {
    link.connecting = true;
    const signal = AbortSignal.any([
      this.#closing.signal,
      AbortSignal.timeout(this.#connectTimeoutMs),
    ]);
    let stream: Stream | undefined;
    try {
      const hints = this.#hints.get(link.peer);
      if (hints !== undefined) await this.#host.addAddresses(link.peer, hints);
      stream = await this.#host.dial(link.peer, VATTP_PROTOCOL, signal);
      const lp = lpStream(stream, { maxDataLength: 64 });
      const session = decodeHello((await lp.read({ signal })).subarray());
      const out: Session = { stream, lp, session, openedAt: Date.now() };
      if (this.#closing.signal.aborted || stream.status !== 'open') {
        throw new Error('stream closed before the session started');
      }
      stream.addEventListener('close', () => this.#lost(link, out), { once: true });
      link.out = out;
      this.stats.connects++;
      link.lastSent = link.ackedByPeer; // retransmit everything the peer has not acked
      link.failingSince = undefined;
      if (link.unreachableSince !== undefined) {
        this.#events({
          type: 'peer-reachable',
          peer: link.peer,
          downMs: Date.now() - link.unreachableSince,
        });
        link.unreachableSince = undefined;
      }
      return true;
    } catch (err) {
      stream?.abort(new Error('vattp connect failed'));
      if (this.#closing.signal.aborted) return false;
      this.stats.connectFailures++;
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      if (!this.#kernel?.owed(link.peer, link.ackedByPeer)) {
        // Only an ack was owed (e.g. a short-lived client that sent its last message and
        // left): nothing to retry. A peer that still needs it resends, and its duplicate
        // re-owes the ack.
        this.#events({ type: 'ack-undelivered', peer: link.peer, err: reason });
        return false;
      }
      if (await this.#host.isClient(link.peer)) {
        // A client that left: it cannot be dialled, and it resends what it still needs
        // when it connects again.
        link.parked = true;
        this.#events({ type: 'client-gone', peer: link.peer });
        // The kernel keeps what it owes the client only for a retention period (departures.ts).
        this.#kernel?.departed?.(link.peer);
        return false;
      }
      link.failingSince ??= Date.now();
      if (Date.now() - link.failingSince >= this.#giveUpMs) {
        const downMs = Date.now() - (link.unreachableSince ?? link.failingSince);
        link.parked = true;
        this.#events({
          type: 'peer-given-up',
          peer: link.peer,
          downMs,
          owed: this.#kernel?.unacked(link.peer, 0).length ?? 0,
        });
        return false;
      }
      const delayMs = link.backoff.next();
      if (link.unreachableSince === undefined) {
        link.unreachableSince = Date.now();
        this.#events({ type: 'peer-unreachable', peer: link.peer, err: reason });
      } else {
        this.#events({ type: 'connect-retry-failed', peer: link.peer, err: reason, delayMs });
      }
      this.#retryLater(link, delayMs);
      return false;
    } finally {
      link.connecting = false;
    }
  }

  #retryLater(link: Link, delayMs: number): void {
    clearTimeout(link.retryTimer);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      this.#schedule(link);
    }, delayMs);
  }

  #retryNow(link: Link): void {
    clearTimeout(link.retryTimer);
    link.retryTimer = undefined;
    this.#schedule(link);
  }

  /** The stream is gone: fall back to the peer's ack, and reconnect if something is owed. */
  #lost(link: Link, out: Session): void {
    if (link.out !== out) return;
    link.out = undefined;
    clearTimeout(link.stallTimer);
    link.stallTimer = undefined;
    out.stream.abort(new Error('vattp stream lost'));
    link.lastSent = link.ackedByPeer;
    // ackSent stays: if our last ack was lost, the peer resends and the duplicates re-owe it.
    this.#clearAck(link);
    if (this.#closing.signal.aborted) return;
    if (Date.now() - out.openedAt >= STABLE_STREAM_MS) link.backoff.reset();
    // A short random pause (first backoff step) before redialling: a peer that accepts and
    // drops streams at once does not get a tight reconnect loop.
    this.#retryLater(link, link.backoff.next());
  }

  // ------------------------------------------------------------------ inbound

  #serve(stream: Stream, remote: VatId): void {
    if (this.#kernel === undefined || this.#closing.signal.aborted) {
      stream.abort(new Error('vat not ready'));
      return;
    }
    if (this.#penalties.isBanned(remote)) {
      stream.abort(new Error('banned'));
      return;
    }
    const nonce = new Uint8Array(randomBytes(SESSION_BYTES));
    const session = sessionOf(nonce);
    const hello = encodeHello(nonce);
    this.#inbound.add(stream);
    // Frames are handled synchronously as bytes arrive: no read buffer to overflow, and the
    // kernel has taken each frame before the next one is looked at.
    const decoder = new LengthPrefixedDecoder({
      maxDataLength: MAX_WIRE_BYTES,
      maxBufferSize: MAX_WIRE_BYTES + 16,
    });
    let rejected = false;
    const onMessage = (event: StreamMessageEvent) => {
      if (rejected) return;
      try {
        for (const chunk of decoder.decode(event.data)) {
          this.#acceptFrame(chunk.subarray(), remote, session);
        }
      } catch (err) {
        rejected = true;
        if (err instanceof ProtocolError) {
          this.#reject(stream, remote, err.code, err.message);
        } else if (isFramingError(err)) {
          this.#reject(
            stream,
            remote,
            'malformed',
            `malformed length prefix or oversized frame (${(err as Error).name})`,
          );
        } else if ((err as Error)?.name === 'InboundDeferred') {
          // The port cannot take this peer's frames yet (a quorum client learning who the
          // peer is): close the stream quietly, no strike; the peer redials and resends.
          stream.abort(err as Error);
        } else if ((err as Error)?.name === 'KernelUnavailable') {
          // The vat refuses new work (its store failed: the kernel logged that one error
          // line): refuse the stream, without a line per retry of every peer. The peer keeps
          // its messages.
          if (!this.#refusing) {
            this.#refusing = true;
            this.#events({ type: 'inbound-refused', peer: remote, err: String(err) });
          }
          stream.abort(err as Error);
        } else {
          // Our bug (or the kernel's), not the peer's fault: no strike. The peer resends.
          this.#events({ type: 'inbound-failed', peer: remote, err: String(err) });
          stream.abort(err instanceof Error ? err : new Error(String(err)));
        }
      }
    };
    stream.addEventListener('message', onMessage);
    stream.addEventListener('close', () => this.#inbound.delete(stream), { once: true });
    // Hello: one length byte (22 < 128 is a one-byte varint) and the nonce.
    stream.send(Uint8Array.of(hello.length, ...hello));
  }

  /** Checks one wire message completely before the kernel sees any of it. */
  #acceptFrame(bytes: Uint8Array, remote: VatId, session: string): void {
    const kernel = this.#kernel;
    if (kernel === undefined) throw new ProtocolError('not-ready', 'vat not ready');
    const signed = decodeWire(bytes);
    const { frame } = signed;
    if (frame.to !== this.#identity.vatId) {
      throw new ProtocolError('misdirected', 'frame addressed to another vat');
    }
    if (frame.from !== remote) {
      throw new ProtocolError('misdirected', 'frame sender is not the connection peer');
    }
    if (frame.session !== session) {
      throw new ProtocolError('misdirected', 'frame signed for another session (replayed)');
    }
    if (!verifyFrame(signed)) throw new ProtocolError('bad-signature', 'bad signature');
    const link = this.#link(remote);
    if (link === undefined) throw new ProtocolError('bad-vat-id', 'not a VatID');
    kernel.signedFrame?.(remote, signed.signed, signed.signature);
    // Ack first: a bad ack rejects the frame before any message of it is delivered.
    kernel.acked(remote, frame.ack);
    link.heardAt = Date.now();
    if (frame.ack > link.ackedByPeer) {
      link.ackedByPeer = frame.ack;
      link.backoff.reset(); // the peer makes progress
    }
    let duplicates = 0;
    for (const { seq, msg, auth } of frame.messages) {
      const outcome =
        auth === undefined
          ? kernel.receive(remote, seq, msg)
          : kernel.receive(remote, seq, msg, auth);
      if (outcome === 'duplicate') duplicates++;
    }
    this.stats.framesReceived++;
    this.stats.messagesReceived += frame.messages.length - duplicates;
    this.stats.duplicatesReceived += duplicates;
    if (duplicates > 0) {
      // The peer resends what we hold: it has not seen our ack. Owe it again.
      link.ackSent = 0;
      this.#schedule(link);
    }
    if (link.retryTimer !== undefined && link.out === undefined) this.#retryNow(link);
  }

  #reject(stream: Stream, remote: VatId, code: ProtocolErrorCode, reason: string): void {
    this.stats.rejectedInputs++;
    this.#events({ type: 'peer-input-rejected', peer: remote, code, reason });
    stream.abort(new ProtocolError(code, reason));
    if (this.#penalties.strike(remote)) {
      this.#events({
        type: 'peer-banned',
        peer: remote,
        banMs: this.#penalties.banRemainingMs(remote),
      });
      void this.#host.hangUp(remote).catch(() => undefined);
    }
  }
}

function isFramingError(err: unknown): boolean {
  return (
    err instanceof Error &&
    ['InvalidMessageLengthError', 'InvalidDataLengthError', 'InvalidParametersError'].includes(
      err.name,
    )
  );
}
