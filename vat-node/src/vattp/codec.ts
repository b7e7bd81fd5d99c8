/**
 * The VatTP wire format. One frame = one signed batch of messages from vat A to vat B.
 *
 * Frame bytes (what is signed):
 *
 *   offset  size  content
 *   0       4     magic "QVTP" (0x51 0x56 0x54 0x50)
 *   4       1     kind 'F' (0x46)
 *   5       1     version 0x01
 *   6       n     body: canonical JSON of the frame, UTF-8
 *
 *   body = {"ack":A,"from":F,"messages":[{"msg":M,"seq":S},...],"session":N,"to":T}
 *
 * Canonical JSON: no whitespace; object keys sorted (UTF-16 code-unit order, all ASCII here);
 * strings exactly as JSON.stringify writes them (so `\u0041` or an unescaped lone surrogate is
 * non-canonical); numbers are safe non-negative integers in plain decimal (no `-0`, `1.0`,
 * `1e3`); no duplicate keys; every key of the message shapes (protocol/messages.ts, checked by
 * protocol/validate.ts) present, no other key.
 * The decoder parses, validates every field, re-encodes and rejects the frame unless the bytes
 * are identical: so exactly one byte string stands for a frame, and a signature means one thing.
 *
 * Wire message (one length-prefixed message on the stream) = frame bytes || Ed25519 signature
 * (64 bytes) by `from` over the frame bytes. The magic+kind are a domain separator: a signature
 * on a frame can never pass for one on another kind of signed object. The signature covers
 * `to` (a frame cannot be replayed to another vat) and `session`, the 16-byte nonce the
 * receiver sent in its hello on this stream (a frame cannot be replayed on another stream).
 *
 * Hello (receiver -> sender, first message on a stream, unsigned: the Noise channel already
 * authenticates it and it carries no authority): "QVTP" 'H' 0x01 nonce(16) = 22 bytes.
 *
 * Messages in one frame carry consecutive sequence numbers. `ack` is the highest seq from the
 * receiver that the sender has committed. Limits: a wire message is at most 1 MiB.
 *
 * A message to a member of a quorum vat may carry `auth` ({"auth":A,"msg":M,"seq":S}): the
 * sender's own signature over {quorum, from, seq, digest of msg} (quorum/client/auth.ts makes
 * and checks it), base64url without padding. It lets a member vote for an input it has not
 * received itself. A member host of a quorum vat puts its own signatures there instead (the
 * quorum vat has no key): over the input statement when the receiver is a quorum, and over
 * each handoff certificate the message gives (quorum/client/member-auth.ts), so the auth is
 * 1 to MAX_AUTH_SIGNATURES signatures of 64 bytes, concatenated. Optional, but canonical like
 * the rest: present only with a signature, never null or empty.
 */
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import { MAX_MESSAGE_BYTES, type Sequenced } from '../protocol/messages.ts';
import { array, record, uint, vatMessage } from '../protocol/validate.ts';
import { publicKeyOfVatId } from './identity.ts';
import { SIGNATURE_BYTES, type Sign, verifySignature } from './signing.ts';

export const MAX_WIRE_BYTES = MAX_MESSAGE_BYTES;
export const SESSION_BYTES = 16;
const HEADER_BYTES = 6;
const MAGIC = [0x51, 0x56, 0x54, 0x50];
const KIND_FRAME = 0x46;
const KIND_HELLO = 0x48;
const VERSION = 0x01;
const MAX_VATID_CHARS = 128;

/** One message of a frame, with the sender's signature when it goes to a quorum member. */
export interface FramedMessage extends Sequenced {
  readonly auth?: Uint8Array;
}

export interface Frame {
  readonly from: VatId;
  readonly to: VatId;
  /** The receiver's hello nonce for this stream, 32 lowercase hex digits. */
  readonly session: string;
  /** Highest seq from `to` that `from` has committed. */
  readonly ack: number;
  readonly messages: readonly FramedMessage[];
}

export interface SignedFrame {
  readonly frame: Frame;
  /** The frame bytes the signature covers. */
  readonly signed: Uint8Array;
  readonly signature: Uint8Array;
}

// ---------------------------------------------------------------- canonical JSON (encoder)

/** Canonical JSON of plain data (see the header comment); throws TypeError on anything else. */
export function canonicalJson(value: unknown): string {
  // Data already in canonical shape (what JSON.parse gives for canonical text, and most of
  // what is re-encoded) is written by the native JSON.stringify: the same text, several times
  // faster than building it piece by piece.
  return inCanonicalOrder(value) ? JSON.stringify(value) : canonicalPieces(value);
}

/**
 * True when JSON.stringify(value) is its canonical JSON: only plain objects (prototype
 * Object.prototype or null, no toJSON) whose own keys are already sorted, dense arrays,
 * strings, booleans, null and safe non-negative integers (not -0). False sends the value
 * through canonicalPieces, which sorts keys and throws on what is not plain data.
 */
function inCanonicalOrder(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isSafeInteger(value) && value >= 0 && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype || 'toJSON' in value) return false;
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !inCanonicalOrder(value[i])) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const record = value as Record<string, unknown>;
      if ('toJSON' in record) return false;
      // Keys first: an unsorted object (one the kernel built) is found before its subtree.
      const keys = Object.keys(record);
      for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
      for (const k of keys) if (!inCanonicalOrder(record[k])) return false;
      return true;
    }
    default:
      return false;
  }
}

function canonicalPieces(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
        throw new TypeError(`not a canonical number: ${value}`);
      }
      return String(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`not plain data: ${typeof value}`);
  }
}

/**
 * The canonical JSON of a message, remembered per message object. One message is encoded many
 * times over: a message to a quorum vat goes into every member's frame and into its sender's
 * signature, a received one is re-encoded by the decoder (canonical check) and then digested
 * (claims of k members, the body a member orders). Messages are plain data that nothing
 * changes once they are queued to send (the kernel's outbox holds them as committed) or
 * decoded (fresh objects), so the text stays true for the object.
 */
const messageJsonCache = new WeakMap<object, string>();

export function messageJson(msg: unknown): string {
  if (typeof msg !== 'object' || msg === null) return canonicalJson(msg);
  let json = messageJsonCache.get(msg);
  if (json === undefined) {
    json = canonicalJson(msg);
    messageJsonCache.set(msg, json);
  }
  return json;
}

/** The canonical JSON of one sequenced message, as it appears inside a frame body. */
export function encodeSequenced(message: FramedMessage): string {
  // Keys in sorted order: auth, msg, seq (equal to canonicalJson of the object).
  const auth = message.auth === undefined ? '' : `"auth":"${authText(message.auth)}",`;
  return `{${auth}"msg":${messageJson(message.msg)},"seq":${canonicalJson(message.seq)}}`;
}

/** Most signatures one message's `auth` carries (an input statement and handoffs). */
export const MAX_AUTH_SIGNATURES = 32;
const AUTH_TEXT = /^[A-Za-z0-9_-]+$/;

function isAuthLength(bytes: number): boolean {
  return (
    bytes > 0 && bytes % SIGNATURE_BYTES === 0 && bytes <= MAX_AUTH_SIGNATURES * SIGNATURE_BYTES
  );
}

function authText(auth: Uint8Array): string {
  if (!isAuthLength(auth.length)) {
    throw new TypeError(`auth must be 1 to ${MAX_AUTH_SIGNATURES} signatures of 64 bytes`);
  }
  return Buffer.from(auth.buffer, auth.byteOffset, auth.byteLength).toString('base64url');
}

/** The signatures an `auth` text stands for; undefined unless it is their canonical text. */
function authFromText(text: unknown): Uint8Array | undefined {
  if (
    typeof text !== 'string' ||
    text.length > Math.ceil((MAX_AUTH_SIGNATURES * SIGNATURE_BYTES * 4) / 3) ||
    !AUTH_TEXT.test(text)
  ) {
    return undefined;
  }
  const bytes = Buffer.from(text, 'base64url');
  return isAuthLength(bytes.length) && bytes.toString('base64url') === text
    ? new Uint8Array(bytes)
    : undefined;
}

function header(kind: number): Uint8Array {
  return Uint8Array.of(...MAGIC, kind, VERSION);
}

function frameBodyJson(
  fields: Omit<Frame, 'messages'>,
  encodedMessages: readonly string[],
): string {
  // Keys in sorted order: ack, from, messages, session, to (equal to canonicalJson(frame)).
  return (
    `{"ack":${canonicalJson(fields.ack)},"from":${JSON.stringify(fields.from)},` +
    `"messages":[${encodedMessages.join(',')}],` +
    `"session":${JSON.stringify(fields.session)},"to":${JSON.stringify(fields.to)}}`
  );
}

function frameBytes(body: string): Uint8Array {
  const bodyBytes = Buffer.from(body, 'utf8');
  const out = new Uint8Array(HEADER_BYTES + bodyBytes.length);
  out.set(header(KIND_FRAME), 0);
  out.set(bodyBytes, HEADER_BYTES);
  return out;
}

/** The frame bytes (unsigned) of one frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  return frameBytes(frameBodyJson(frame, frame.messages.map(encodeSequenced)));
}

/** frame bytes || signature: one wire message. */
export function signFrame(frame: Uint8Array, sign: Sign): Uint8Array {
  const out = new Uint8Array(frame.length + SIGNATURE_BYTES);
  out.set(frame, 0);
  out.set(sign(frame), frame.length);
  return out;
}

export interface PackedFrame {
  /** Signed wire bytes. */
  readonly wire: Uint8Array;
  /** Seq of the last message in the frame (undefined for an ack-only frame). */
  readonly lastSeq: number | undefined;
}

export interface Packed {
  readonly frames: PackedFrame[];
  /** The first message too large for any frame (a kernel bug): packing stopped before it. */
  readonly oversized: FramedMessage | undefined;
}

/**
 * Packs `messages` (consecutive seqs) into as few signed frames as fit `maxWireBytes` each,
 * every frame carrying the same ack. Always at least one frame: with no message (or only an
 * oversized one) it is ack-only.
 */
export function packFrames(
  fields: Omit<Frame, 'messages'>,
  messages: readonly FramedMessage[],
  sign: Sign,
  maxWireBytes: number = MAX_WIRE_BYTES,
): Packed {
  const limit = Math.min(maxWireBytes, MAX_WIRE_BYTES);
  const fixed =
    HEADER_BYTES + Buffer.byteLength(frameBodyJson(fields, []), 'utf8') + SIGNATURE_BYTES;
  const frames: PackedFrame[] = [];
  let batch: string[] = [];
  let size = fixed;
  let lastSeq: number | undefined;
  let oversized: FramedMessage | undefined;
  const flush = () => {
    frames.push({ wire: signFrame(frameBytes(frameBodyJson(fields, batch)), sign), lastSeq });
    batch = [];
    size = fixed;
  };
  for (const message of messages) {
    const json = encodeSequenced(message);
    const length = Buffer.byteLength(json, 'utf8');
    if (fixed + length > limit) {
      oversized = message;
      break;
    }
    if (batch.length > 0 && size + 1 + length > limit) flush();
    size += length + (batch.length > 0 ? 1 : 0);
    batch.push(json);
    lastSeq = message.seq;
  }
  if (batch.length > 0 || frames.length === 0) flush();
  return { frames, oversized };
}

// ---------------------------------------------------------------- hello

export function encodeHello(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== SESSION_BYTES) throw new TypeError('hello nonce must be 16 bytes');
  const out = new Uint8Array(HEADER_BYTES + SESSION_BYTES);
  out.set(header(KIND_HELLO), 0);
  out.set(nonce, HEADER_BYTES);
  return out;
}

/** The session string (hex nonce) a hello announces. */
export function decodeHello(bytes: Uint8Array): string {
  if (bytes.length !== HEADER_BYTES + SESSION_BYTES || !hasHeader(bytes, KIND_HELLO)) {
    throw new ProtocolError('malformed', 'malformed hello');
  }
  return sessionOf(bytes.subarray(HEADER_BYTES));
}

export function sessionOf(nonce: Uint8Array): string {
  return Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('hex');
}

function hasHeader(bytes: Uint8Array, kind: number): boolean {
  return (
    bytes[0] === MAGIC[0] &&
    bytes[1] === MAGIC[1] &&
    bytes[2] === MAGIC[2] &&
    bytes[3] === MAGIC[3] &&
    bytes[4] === kind &&
    bytes[5] === VERSION
  );
}

// ---------------------------------------------------------------- decoder

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const VATID = /^[1-9A-HJ-NP-Za-km-z]+$/;
const SESSION = /^[0-9a-f]{32}$/;

function fail(reason: string): never {
  throw new ProtocolError('malformed', reason);
}

function vatId(v: unknown, where: string): VatId {
  if (typeof v !== 'string' || v.length > MAX_VATID_CHARS || !VATID.test(v)) {
    fail(`${where}: not a VatID`);
  }
  return v;
}

function frame(v: unknown): Frame {
  const o = record(v, 'frame', ['ack', 'from', 'messages', 'session', 'to']);
  const session = o.session;
  if (typeof session !== 'string' || !SESSION.test(session)) fail('frame.session: malformed');
  const items = array(o.messages, 'frame.messages');
  let expected: number | undefined;
  const messages = items.map((item, i): FramedMessage => {
    const withAuth = typeof item === 'object' && item !== null && Object.hasOwn(item, 'auth');
    const m = record(item, `messages[${i}]`, withAuth ? ['auth', 'msg', 'seq'] : ['msg', 'seq']);
    const seq = uint(m.seq, `messages[${i}].seq`, 1);
    if (expected !== undefined && seq !== expected) fail('messages: seqs not consecutive');
    expected = seq + 1;
    const msg = vatMessage(m.msg, `messages[${i}].msg`);
    if (!withAuth) return { seq, msg };
    const auth = authFromText(m.auth);
    if (auth === undefined) fail(`messages[${i}].auth: not base64url Ed25519 signatures`);
    return { seq, msg, auth };
  });
  return {
    from: vatId(o.from, 'frame.from'),
    to: vatId(o.to, 'frame.to'),
    session,
    ack: uint(o.ack, 'frame.ack'),
    messages,
  };
}

/**
 * Decodes one wire message. Throws ProtocolError (and nothing else) for any byte string that
 * is not exactly the canonical encoding of a well-formed frame plus a 64-byte signature.
 * Does not check the signature: see verifyFrame.
 */
export function decodeWire(bytes: Uint8Array): SignedFrame {
  if (bytes.length > MAX_WIRE_BYTES) fail(`frame larger than ${MAX_WIRE_BYTES} bytes`);
  if (bytes.length < HEADER_BYTES + 2 + SIGNATURE_BYTES) fail('frame too short');
  if (!hasHeader(bytes, KIND_FRAME)) fail('bad frame header (magic, kind or version)');
  const signed = bytes.subarray(0, bytes.length - SIGNATURE_BYTES);
  const signature = bytes.subarray(bytes.length - SIGNATURE_BYTES);
  let text: string;
  let parsed: unknown;
  try {
    text = utf8.decode(signed.subarray(HEADER_BYTES));
    parsed = JSON.parse(text);
  } catch {
    fail('frame body is not JSON in UTF-8');
  }
  const decoded = frame(parsed);
  let canonical: string;
  try {
    canonical = frameBodyJson(decoded, decoded.messages.map(encodeSequenced));
  } catch {
    fail('frame body is not canonical');
  }
  if (canonical !== text) fail('frame body is not canonical');
  return { frame: decoded, signed, signature };
}

/** True if `from` signed these frame bytes. ProtocolError if `from` is not an Ed25519 VatID. */
export function verifyFrame(signed: SignedFrame): boolean {
  return verifySignature(publicKeyOfVatId(signed.frame.from), signed.signed, signed.signature);
}
