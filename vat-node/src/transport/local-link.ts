/**
 * An in-process network of kernels: the same Transport interface as VatTP over libp2p, so the
 * kernel runs unchanged. Each wake() flushes the unacknowledged messages for a peer as one
 * batch after an optional one-way latency (FIFO per direction, like a stream), and the
 * receiver's committed high-water mark comes back as the ack. Every batch is recorded, so
 * tests can count round trips. Like VatTP, the link hands the receiving kernel only messages
 * that pass the protocol's validator; a batch with a bad ack or message stops there (nothing
 * after it is delivered), and the refusal is recorded in `refused`.
 */

import { type EventSink, ignoreEvents } from '../events/events.ts';
import { ProtocolError, type ProtocolErrorCode } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { VatMessage } from '../protocol/messages.ts';
import { vatMessage } from '../protocol/validate.ts';
import type { KernelPort, Transport } from './types.ts';

export interface BatchRecord {
  readonly from: VatId;
  readonly to: VatId;
  readonly ops: readonly VatMessage['op'][];
  readonly at: number;
}

export interface RefusalRecord {
  readonly from: VatId;
  readonly to: VatId;
  readonly code: ProtocolErrorCode;
  readonly reason: string;
}

export class LocalNetwork {
  readonly #kernels = new Map<VatId, KernelPort>();
  readonly #latency: (from: VatId, to: VatId) => number;
  readonly batches: BatchRecord[] = [];
  /** Batches the receiving side refused (a ProtocolError): what VatTP would log and strike. */
  readonly refused: RefusalRecord[] = [];
  /** When set, links are cut: batches are not delivered (and not acked), as on a dead TCP link. */
  partitioned = false;

  /** Refusals are reported here too (as VatTP reports them), if given. */
  readonly events: EventSink;

  /** One-way latency: the same for every link, or per link (from, to). */
  constructor(
    options: {
      latencyMs?: number | ((from: VatId, to: VatId) => number);
      events?: EventSink;
    } = {},
  ) {
    const l = options.latencyMs ?? 0;
    this.#latency = typeof l === 'number' ? () => l : l;
    this.events = options.events ?? ignoreEvents;
  }

  transport(): Transport {
    return new LocalTransport(this);
  }

  register(kernel: KernelPort): void {
    this.#kernels.set(kernel.vatId, kernel);
  }

  latency(from: VatId, to: VatId): number {
    return this.#latency(from, to);
  }

  kernel(vatId: VatId): KernelPort | undefined {
    return this.#kernels.get(vatId);
  }

  /** A closed vat is gone from the network: nothing reaches it any more. */
  unregister(kernel: KernelPort): void {
    if (this.#kernels.get(kernel.vatId) === kernel) this.#kernels.delete(kernel.vatId);
  }
}

class LocalTransport implements Transport {
  readonly #net: LocalNetwork;
  #kernel: KernelPort | null = null;
  /** Highest seq handed to the link per peer (retransmission restarts from the ack). */
  readonly #sent = new Map<VatId, number>();
  readonly #scheduled = new Set<VatId>();

  constructor(net: LocalNetwork) {
    this.#net = net;
  }

  attach(kernel: KernelPort): void {
    this.#kernel = kernel;
    this.#net.register(kernel);
  }

  wake(peer: VatId): void {
    if (this.#scheduled.has(peer)) return;
    this.#scheduled.add(peer);
    setImmediate(() => {
      this.#scheduled.delete(peer);
      this.#flush(peer);
    });
  }

  #flush(peer: VatId): void {
    const me = this.#kernel;
    const them = this.#net.kernel(peer);
    if (!me || !them) return;
    const batch = me.unacked(peer, this.#sent.get(peer) ?? 0);
    const ack = me.committedInbound(peer);
    if (batch.length > 0) this.#sent.set(peer, batch[batch.length - 1]!.seq);
    this.#net.batches.push({
      from: me.vatId,
      to: peer,
      ops: batch.map((s) => s.msg.op),
      at: performance.now(),
    });
    const deliver = () => {
      if (this.#net.partitioned) {
        this.#sent.delete(peer); // lost in flight: resend from the last ack once healed
        return;
      }
      try {
        them.acked(me.vatId, ack);
        for (const { seq, msg } of batch) them.receive(me.vatId, seq, vatMessage(msg));
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.#net.refused.push({ from: me.vatId, to: peer, code: e.code, reason: e.message });
        this.#net.events({
          type: 'peer-input-rejected',
          peer: me.vatId,
          code: e.code,
          reason: e.message,
        });
      }
    };
    const latency = this.#net.latency(me.vatId, peer);
    if (latency > 0) setTimeout(deliver, latency);
    else deliver();
  }

  async close(): Promise<void> {
    if (this.#kernel) this.#net.unregister(this.#kernel);
  }
}
