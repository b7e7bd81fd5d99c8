/**
 * VatTP's defaults, in one place. Every one can be overridden per transport
 * (NetworkTransportOptions, VatHostOptions); tests shorten the timeouts.
 */
import { MAX_FRAME_BYTES } from '../protocol/messages.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { PenaltyPolicy } from './penalties.ts';

/**
 * Redial backoff while messages are owed to an unreachable peer: full jitter, 50 ms doubling
 * to a 5 s ceiling, so a peer that comes back is found within ~5 s, and many peers that lost
 * the same host do not redial in step.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 50, capMs: 5_000, factor: 2 };

/** Three bad frames earn a peer a one-minute ban (a glitch is forgiven, a flood is not). */
export const DEFAULT_PENALTIES: PenaltyPolicy = { maxStrikes: 3, banMs: 60_000 };

export const VATTP_DEFAULTS = {
  /** An ack with no message to ride on waits this long, so a burst of commits costs one frame. */
  ackDelayMs: 5,
  /**
   * Largest frame we send. Many messages fit one signed frame (one signature each); smaller
   * than the 1 MiB a receiver accepts (MAX_WIRE_BYTES) so one frame never blocks a stream long.
   * One constant with the kernel, which never queues a message too large for it.
   */
  maxFrameBytes: MAX_FRAME_BYTES,
  /** Dial (including a DHT lookup) plus the peer's hello. */
  connectTimeoutMs: 10_000,
  /** One libp2p dial attempt (a part of connectTimeoutMs). */
  dialTimeoutMs: 5_000,
  /**
   * A link with unacknowledged messages that hears nothing from the peer for this long is
   * declared dead and redialled: TCP itself waits out a silent partition for many minutes.
   */
  stallTimeoutMs: 5_000,
  /** A stream that lived this long proves the peer works: the next loss starts backoff afresh. */
  stableStreamMs: 1_000,
  /** A long outbox (after an outage) goes out in slices of this many messages per pump. */
  maxMessagesPerPump: 4096,
  /**
   * A peer unreachable this long is no longer dialled (parked): what it is owed stays in the
   * kernel's durable outbox until it connects to us or we learn new addresses for it.
   */
  giveUpMs: 3_600_000,
  /**
   * Bootstrap peers (bootstrap.ts) are kept for as long as the node runs: retried after
   * bootstrapRetryFloorMs + a full-jitter backoff while unreachable, and looked at again every
   * bootstrapRecheckMs while connected (a disconnect wakes it sooner).
   */
  bootstrapBackoff: { baseMs: 200, capMs: 5_000, factor: 2 } satisfies BackoffPolicy,
  bootstrapRetryFloorMs: 100,
  bootstrapRecheckMs: 30_000,
} as const;
