/**
 * Embargo decisions (Cap'n Proto's Disembargo, by counting). When a peer settles a promise we
 * sent messages to through it, and later sends will no longer go through that peer, the
 * earlier ones may still be on their way: later sends must wait until an echo shows they
 * arrived. Pure: embargoes.ts holds and releases the sends.
 */

export type Embargo =
  /** Nothing can be overtaken: later sends go out at once. */
  | 'none'
  /**
   * Back to one of our objects: the messages still on their way come back through the peer,
   * so an echo from the peer (op echo), sent after them, proves they arrived.
   */
  | 'echo'
  /**
   * On to a third vat: the earlier messages travel peer → third vat, and only an echo that
   * takes the same path (a message to the promise, forwarded where they went, answered there)
   * proves they arrived before our direct sends start.
   */
  | 'path-echo';

export interface Settlement {
  readonly rejected: boolean;
  /** Does the settlement send later messages somewhere else than the peer that settled it? */
  readonly redirects: boolean;
  /** ...to this vat (one of our objects, or a promise we decide)? */
  readonly home: boolean;
  /** Messages we sent to the promise through the peer. */
  readonly sent: number;
  /** Of those, how many the peer had received when it settled the promise. */
  readonly received: number;
}

export function embargoFor(s: Settlement): Embargo {
  if (s.rejected || !s.redirects) return 'none';
  // Back to us, the peer's forwards come back on the same link before its settlement: only
  // messages it had not yet processed can be behind. Onward to a third vat, any message we
  // sent through the peer may still be on the peer's link to that vat.
  if (s.home) return s.sent > s.received ? 'echo' : 'none';
  return s.sent > 0 ? 'path-echo' : 'none';
}
