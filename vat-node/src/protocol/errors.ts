/**
 * ProtocolError: a peer (or a vat's own message) broke the VatTP/kernel protocol. The peer's
 * input is refused whole and nothing of it is applied. `code` says which rule was broken, for
 * callers that must tell cases apart (the kernel, the transport's strikes, logs and metrics):
 * never match the message text, which is for people and may name refs and VatIDs.
 */

export const PROTOCOL_ERROR_CODES = [
  /** Not well-formed: a field, ref, frame, hello or certificate that does not parse. */
  'malformed',
  /** Something that should be a VatID is not the canonical VatID of an Ed25519 key. */
  'bad-vat-id',
  /** A frame whose signature does not verify. */
  'bad-signature',
  /** A frame for another vat, from someone other than the connection peer, or another session. */
  'misdirected',
  /** A sequence number that is not the next one, or an ack of something never sent. */
  'out-of-order',
  /** A c-list index, promise or echo token the receiver never gave the peer. */
  'unknown-ref',
  /** A result promise that is not a fresh one. */
  'not-fresh',
  /** The peer acted for a promise or object that is not its to act for. */
  'not-decider',
  /** A handoff certificate that is not valid here (signature, recipient, exporter, parties). */
  'bad-handoff',
  /** A well-formed handoff of an object its giver does not (or no longer) hold. */
  'handoff-not-held',
  /** Something this vat does not accept (e.g. handoffs without an identity). */
  'unsupported',
  /** The receiving vat is not ready yet (no kernel attached). */
  'not-ready',
] as const;

export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** True for a ProtocolError, optionally only one with this code. */
export function isProtocolError(err: unknown, code?: ProtocolErrorCode): err is ProtocolError {
  return err instanceof ProtocolError && (code === undefined || err.code === code);
}
