/**
 * What the kernel reports about itself: one typed event per thing that went wrong (or that an
 * operator should know), handed to one sink. The vat node turns them into pino lines; tests
 * collect them. The kernel never reports by throwing where nobody listens, and never drops
 * a message without an event saying which one and why.
 */
import type { VRef } from '../liveslots/protocol.ts';

export type KernelEvent =
  /**
   * A message could not be delivered and has no result promise to reject (a sendOnly to a
   * promise that settled to data or was rejected, or to an object that is gone). Messages
   * with a result never need this: their result is rejected with the reason.
   */
  {
    readonly type: 'delivery undeliverable';
    readonly target: VRef;
    readonly method: string | null;
    readonly reason: string;
  };

export type KernelEventSink = (event: KernelEvent) => void;
