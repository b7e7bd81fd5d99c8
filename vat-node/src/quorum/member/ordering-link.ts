/**
 * The ordering protocol's link between member hosts: `/quorumvat/ordering/1.0.0` on the node's
 * libp2p host, length-prefixed ordering messages (ordering/codec.ts), one outbound stream per
 * peer member, messages flowing one way on it.
 *
 * Best effort, on purpose: the replica tolerates loss, duplication and reordering (it resends
 * through timeouts and sync), so nothing here is retransmitted or made durable. What is bounded:
 * the queue per peer (oldest dropped first), a failed dial (the peer's messages are dropped
 * until a backoff ends, or at once when the peer connects to us), the size of one message. Only
 * peers `accept` allows (members and learners of a configuration the node knows) may open an
 * inbound stream; the replica checks every message's signatures itself.
 */
import type { Stream, StreamMessageEvent } from '@libp2p/interface';
import { LengthPrefixedDecoder, type LengthPrefixedStream, lpStream } from '@libp2p/utils';
import type { VatId } from '../../protocol/identity.ts';
import type { VatHost } from '../../vattp/host.ts';

export const ORDERING_PROTOCOL = '/quorumvat/ordering/1.0.0';

export const ORDERING_LINK_DEFAULTS = {
  /** Largest ordering message (a sync reply carries up to 8 MiB of inputs, in base64). */
  maxMessageBytes: 16 << 20,
  /** Messages waiting for one peer's stream. */
  queueMessages: 1024,
  queueBytes: 32 << 20,
  dialTimeoutMs: 5_000,
  /** After a failed dial, messages to that peer are dropped for this long, doubling… */
  backoffMinMs: 200,
  /** …up to this. */
  backoffMaxMs: 5_000,
} as const;

export interface OrderingLinkOptions {
  readonly host: VatHost;
  /** May this peer talk ordering to us (a member or learner of a known configuration)? */
  readonly accept: (peer: VatId) => boolean;
  /** A message arrived (not validated: the replica does that). */
  readonly deliver: (from: VatId, bytes: Uint8Array) => void;
  /** A connection to this peer opened (it may have missed what we dropped meanwhile). */
  readonly connected?: (peer: VatId) => void;
  readonly dialTimeoutMs?: number;
}

/** Counters for tests and metrics. */
export interface OrderingLinkStats {
  sent: number;
  received: number;
  dropped: number;
  dialFailures: number;
}

class PeerLink {
  readonly queue: Uint8Array[] = [];
  queuedBytes = 0;
  out: { stream: Stream; lp: LengthPrefixedStream<Stream> } | undefined;
  pumping = false;
  retryAt = 0;
  backoffMs = 0;
}

export class OrderingLink {
  readonly #opts: OrderingLinkOptions;
  readonly #peers = new Map<VatId, PeerLink>();
  readonly #inbound = new Set<Stream>();
  readonly #closing = new AbortController();
  readonly stats: OrderingLinkStats = { sent: 0, received: 0, dropped: 0, dialFailures: 0 };

  constructor(opts: OrderingLinkOptions) {
    this.#opts = opts;
  }

  async start(): Promise<void> {
    await this.#opts.host.handle(ORDERING_PROTOCOL, (stream, remote) =>
      this.#serve(stream, remote),
    );
    // A peer that connects to us is up: stop dropping what we have for it.
    this.#opts.host.onPeerConnect((peer) => {
      const p = this.#peers.get(peer);
      if (p !== undefined) p.retryAt = 0;
      if (this.#opts.accept(peer)) this.#opts.connected?.(peer);
    });
  }

  /** Queue `bytes` for `to`; dropped if the peer is backing off or its queue is full. */
  send(to: VatId, bytes: Uint8Array): void {
    if (this.#closing.signal.aborted) return;
    let p = this.#peers.get(to);
    if (p === undefined) {
      p = new PeerLink();
      this.#peers.set(to, p);
    }
    if (p.out === undefined && Date.now() < p.retryAt) {
      this.stats.dropped++;
      return;
    }
    p.queue.push(bytes);
    p.queuedBytes += bytes.length;
    while (
      p.queue.length > ORDERING_LINK_DEFAULTS.queueMessages ||
      p.queuedBytes > ORDERING_LINK_DEFAULTS.queueBytes
    ) {
      p.queuedBytes -= p.queue.shift()!.length;
      this.stats.dropped++;
    }
    if (!p.pumping) void this.#pump(to, p);
  }

  async close(): Promise<void> {
    this.#closing.abort(new Error('ordering link closed'));
    for (const p of this.#peers.values()) {
      p.out?.stream.abort(new Error('ordering link closed'));
      p.out = undefined;
      p.queue.length = 0;
    }
    for (const s of this.#inbound) s.abort(new Error('ordering link closed'));
    this.#inbound.clear();
  }

  async #pump(to: VatId, p: PeerLink): Promise<void> {
    p.pumping = true;
    try {
      while (p.queue.length > 0 && !this.#closing.signal.aborted) {
        if (p.out === undefined && !(await this.#dial(to, p))) return;
        const out = p.out!;
        const bytes = p.queue.shift()!;
        p.queuedBytes -= bytes.length;
        try {
          await out.lp.write(bytes, { signal: this.#closing.signal });
          this.stats.sent++;
        } catch {
          // The stream is gone: this message is lost (best effort), the next one redials.
          this.stats.dropped++;
          if (p.out === out) p.out = undefined;
          out.stream.abort(new Error('ordering stream lost'));
        }
      }
    } finally {
      p.pumping = false;
    }
  }

  async #dial(to: VatId, p: PeerLink): Promise<boolean> {
    const signal = AbortSignal.any([
      this.#closing.signal,
      AbortSignal.timeout(this.#opts.dialTimeoutMs ?? ORDERING_LINK_DEFAULTS.dialTimeoutMs),
    ]);
    try {
      const stream = await this.#opts.host.dial(to, ORDERING_PROTOCOL, signal);
      const out = {
        stream,
        lp: lpStream(stream, { maxDataLength: ORDERING_LINK_DEFAULTS.maxMessageBytes }),
      };
      stream.addEventListener(
        'close',
        () => {
          if (p.out === out) p.out = undefined;
        },
        { once: true },
      );
      p.out = out;
      p.backoffMs = 0;
      return true;
    } catch {
      if (this.#closing.signal.aborted) return false;
      this.stats.dialFailures++;
      const { backoffMinMs, backoffMaxMs } = ORDERING_LINK_DEFAULTS;
      p.backoffMs = Math.min(backoffMaxMs, Math.max(backoffMinMs, p.backoffMs * 2));
      p.retryAt = Date.now() + p.backoffMs;
      this.stats.dropped += p.queue.length;
      p.queue.length = 0;
      p.queuedBytes = 0;
      return false;
    }
  }

  #serve(stream: Stream, remote: VatId): void {
    if (this.#closing.signal.aborted || !this.#opts.accept(remote)) {
      stream.abort(new Error('not a member of this quorum'));
      return;
    }
    this.#inbound.add(stream);
    // A new stream from a peer: it lost its previous one (and maybe what was on it) or is new.
    this.#opts.connected?.(remote);
    const decoder = new LengthPrefixedDecoder({
      maxDataLength: ORDERING_LINK_DEFAULTS.maxMessageBytes,
      maxBufferSize: ORDERING_LINK_DEFAULTS.maxMessageBytes + 16,
    });
    const onMessage = (event: StreamMessageEvent) => {
      try {
        for (const chunk of decoder.decode(event.data)) {
          this.stats.received++;
          this.#opts.deliver(remote, chunk.subarray());
        }
      } catch (err) {
        // A bad length prefix or an oversized message: this stream is done.
        stream.removeEventListener('message', onMessage);
        stream.abort(err instanceof Error ? err : new Error(String(err)));
      }
    };
    stream.addEventListener('message', onMessage);
    stream.addEventListener('close', () => this.#inbound.delete(stream), { once: true });
  }
}
