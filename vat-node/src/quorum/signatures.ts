/**
 * Signed statements of quorum members: the one place where the bytes a member signs are made.
 *
 * Statement bytes:
 *
 *   offset  size  content
 *   0       4     magic "QVTP" (the VatTP magic, vattp/codec.ts)
 *   4       1     kind (one byte per statement kind, below; never 'F' or 'H', VatTP's frame
 *                 and hello kinds)
 *   5       1     version 0x01
 *   6       n     body: canonical JSON (vattp/codec.ts canonicalJson), UTF-8
 *
 * Domain separation: the kind byte makes a signature on one kind of statement useless as any
 * other kind (an outbound message can never pass for a checkpoint hash, a vote for a config
 * change), and no statement can pass for a VatTP frame ('F'), a single-signer handoff
 * certificate or a sturdyref proof (those begin "quorumvat-"). Every body names its quorum
 * VatID (`quorum`), so a member that serves in two quorums cannot have its signature for one
 * replayed in the other.
 *
 * Members sign with their vat key (the Ed25519 key behind their VatID): a receiver verifies a
 * member's signature with the public key read off the member's VatID, and checks membership
 * against the quorum's configuration separately (certificate.ts), so a statement signed by a
 * member stays verifiable after that member is removed, but no longer counts.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, messageJson } from '../vattp/codec.ts';
import { publicKeyOfVatId } from '../vattp/identity.ts';
import { SIGNATURE_BYTES, type Sign, verifySignature } from '../vattp/signing.ts';

export { SIGNATURE_BYTES };

import type { VatId } from '../protocol/identity.ts';
import type { VatMessage } from '../protocol/messages.ts';
import { isQuorumVatId } from './config.ts';

/**
 * Statement kinds and their kind byte: the one table for the whole quorum folder. The ordering
 * core (ordering/statements.ts) uses proposal, vote, timeout and checkpoint; the rest are this
 * folder's. A kind byte, once used, is never given to another kind.
 */
export const STATEMENT_KINDS = {
  /** Outbound messages of the quorum vat to one receiver (outbound.ts). */
  outbound: 0x4f, // 'O'
  /** Acknowledgement high-water mark for one sender's messages to the quorum (outbound.ts). */
  ack: 0x41, // 'A'
  /** A three-party handoff certificate given by the quorum vat (handoff.ts). */
  handoff: 0x44, // 'D'
  /** A checkpoint / transcript hash at an order position. */
  checkpoint: 0x43, // 'C'
  /** An administrator's request for a configuration change (chain.ts). */
  'change-request': 0x51, // 'Q'
  /** Members certifying a decided configuration change (chain.ts). */
  'config-change': 0x52, // 'R'
  /** A sturdyref key registration, signed by the sturdyref key itself (sturdyref.ts). */
  'sturdy-registration': 0x53, // 'S'
  /** A leader's proposal of one block in one round (ordering/). */
  proposal: 0x50, // 'P'
  /** A member's vote for one block in one round; k of them make a QC (ordering/). */
  vote: 0x56, // 'V'
  /** A member giving up on a round (the view change); k of them make a TC (ordering/). */
  timeout: 0x57, // 'W'
  /**
   * A sender's own signature over one of its messages to a quorum vat (client/auth.ts): signed
   * by the sender (a solo vat), not by a member, so members can order an input they have not
   * received themselves.
   */
  input: 0x49, // 'I'
  /**
   * A solo sender's one signature over a run of its messages to a quorum vat (consecutive seqs,
   * each by its digest; client/auth.ts): what `input` is per message, once per batch.
   */
  inputs: 0x42, // 'B'
} as const;

export type StatementKind = keyof typeof STATEMENT_KINDS;

const MAGIC = [0x51, 0x56, 0x54, 0x50];
const VERSION = 0x01;
export const STATEMENT_HEADER_BYTES = 6;

/** A statement body: plain data (canonicalJson's domain) naming its quorum. */
export type StatementBody = { readonly quorum: VatId } & Readonly<Record<string, unknown>>;

/** The exact bytes a member signs for a statement of `kind` with `body`. */
export function statementBytes(kind: StatementKind, body: StatementBody): Uint8Array {
  const kindByte = STATEMENT_KINDS[kind];
  if (kindByte === undefined) throw new TypeError(`unknown statement kind ${String(kind)}`);
  if (typeof body.quorum !== 'string' || !isQuorumVatId(body.quorum)) {
    throw new TypeError('a statement body must name its quorum VatID');
  }
  const json = Buffer.from(canonicalJson(body), 'utf8');
  const out = new Uint8Array(STATEMENT_HEADER_BYTES + json.length);
  out.set(MAGIC, 0);
  out[4] = kindByte;
  out[5] = VERSION;
  out.set(json, STATEMENT_HEADER_BYTES);
  return out;
}

/** The kind of a statement's bytes (undefined if they are not a statement). */
export function statementKindOf(bytes: Uint8Array): StatementKind | undefined {
  if (bytes.length < STATEMENT_HEADER_BYTES || bytes[5] !== VERSION) return undefined;
  if (MAGIC.some((b, i) => bytes[i] !== b)) return undefined;
  for (const [kind, byte] of Object.entries(STATEMENT_KINDS)) {
    if (byte === bytes[4]) return kind as StatementKind;
  }
  return undefined;
}

/** A member signs a statement with its vat key. */
export function signStatement(sign: Sign, kind: StatementKind, body: StatementBody): Uint8Array {
  return sign(statementBytes(kind, body));
}

/**
 * True only if `signer` (a solo VatID) signed `bytes`. Never throws: a signer name that is not
 * an Ed25519 VatID is a failed verification. Says nothing about membership.
 */
export function verifyMemberSignature(
  signer: VatId,
  bytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  let key: Uint8Array;
  try {
    key = publicKeyOfVatId(signer);
  } catch {
    return false;
  }
  return verifySignature(key, bytes, signature);
}

/** SHA-256, lower-case hex: how statements name large content (messages, requests). */
export function digestHex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The digest of a plain-data value's canonical JSON (e.g. one VatMessage). */
export function contentDigest(value: unknown): string {
  return digestHex(canonicalJson(value));
}

/** The digest of one message's canonical JSON (vattp/codec.ts remembers it per message). */
export function messageDigest(msg: VatMessage): string {
  return digestHex(messageJson(msg));
}

/** A 64-byte signature from its base64url text; undefined unless the text is canonical. */
export function signatureFromText(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length === SIGNATURE_BYTES && bytes.toString('base64url') === text
    ? new Uint8Array(bytes)
    : undefined;
}

export function signatureText(signature: Uint8Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString(
    'base64url',
  );
}
