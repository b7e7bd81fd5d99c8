/**
 * Vat-to-vat messages: what one vat's kernel hands the transport for one peer vat, and what a
 * transport hands the receiving kernel (after `vatMessage` in validate.ts checked it).
 *
 * References are c-list indices written from the SENDER's point of view (refs.ts):
 *   o+N  an object the sender exports (the sender allocated N)
 *   o-N  an object the receiver exported to the sender (the receiver allocated N)
 *   p+N / p-N  the same for promises.
 * The receiver flips the sign when it reads a message. Indices are never reused, and no
 * object is ever named by a secret.
 */
import type { WireRef } from './refs.ts';

export type { WireRef };

/** No string in a message is longer than this; a VatTP wire message is at most this long too. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Largest VatTP frame a sender writes (vattp/defaults.ts `maxFrameBytes`): smaller than what a
 * receiver accepts (MAX_MESSAGE_BYTES) so that one frame never holds a stream long.
 */
export const MAX_FRAME_BYTES = 256 * 1024;
/**
 * What a frame spends besides its messages, at most: header, signature, the ack, the session
 * and two VatIDs of up to 128 characters (vattp/codec.ts; its test checks the bound).
 */
export const FRAME_OVERHEAD_BYTES = 1024;
/**
 * Largest one outbound message may be (its wire encoding, sequence number included): it then
 * fits a frame alone. The kernel refuses to queue a larger one (kernel/message-size.ts): no
 * frame could carry it, and a message that never leaves would hold up every one behind it.
 */
export const MAX_OUTBOUND_MESSAGE_BYTES = MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES;

/**
 * A marshalled value: an @endo/marshal smallcaps body whose slots are wire refs, or handoff
 * certificates (`h:...`) for objects of a third vat.
 */
export interface CapData {
  readonly body: string;
  readonly slots: readonly WireRef[];
}

export type VatMessage =
  /** Send `method(...args)` to `target`; `result` names the result promise (decided by the receiver). */
  | {
      readonly op: 'deliver';
      readonly target: WireRef;
      readonly method: string | null;
      readonly args: CapData;
      readonly result: WireRef | null;
    }
  /**
   * Settle promises the sender decides. `received` counts the messages the sender had received
   * targeted at each promise before it settled: the receiver compares it with what it sent, to
   * know whether messages it pipelined are still on their way back (embargo, see kernel).
   */
  | {
      readonly op: 'resolve';
      readonly resolutions: readonly Resolution[];
    }
  /** Echo request for embargoes: bounce `token` back once everything sent before it arrived. */
  | { readonly op: 'echo'; readonly target: WireRef; readonly token: number }
  /** Reply to an echo. */
  | { readonly op: 'echoed'; readonly token: number }
  /**
   * Present a three-party handoff certificate (kernel/handoff.ts) for an object the receiver
   * exports; the receiver settles `result` (a fresh promise of the sender's) to that object.
   */
  | { readonly op: 'take'; readonly cert: string; readonly result: WireRef }
  /**
   * Redeem a sturdyref (kernel/sturdyref.ts): `key` names it, `proof` shows the sender holds its
   * secret; the receiver settles `result` to the object, or rejects it.
   */
  | {
      readonly op: 'redeem';
      readonly key: string;
      readonly proof: string;
      readonly result: WireRef;
    }
  /**
   * The sender learned the settlement of these promises and will never name their indices
   * again: the receiver forgets them too (kernel/retirement.ts). Object refs are accepted and
   * kept for now (no distributed GC of objects yet).
   */
  | { readonly op: 'drop'; readonly refs: readonly WireRef[] };

export interface Resolution {
  readonly promise: WireRef;
  readonly rejected: boolean;
  readonly value: CapData;
  readonly received: number;
}

/** A message with its per-peer sequence number (1, 2, 3, ... for each ordered pair of vats). */
export interface Sequenced {
  readonly seq: number;
  readonly msg: VatMessage;
}
