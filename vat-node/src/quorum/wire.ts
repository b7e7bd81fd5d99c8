/**
 * Plain-data (canonical JSON) forms of the member statements a transport carries beside VatTP
 * frames: a member's signed outbound run (outbound.ts) and a member's signed ack. The decoders
 * take anything a peer sent and return a well-typed value holding only the known fields, or
 * throw QuorumWireError: a bad statement is refused and the connection keeps serving.
 * (Signatures are checked later, by the combiners, against the quorum's configuration.)
 */

import type { VatId } from '../protocol/identity.ts';
import { isQuorumVatId } from './config.ts';
import { MAX_RUN, type SignedOutbound } from './outbound.ts';
import { signatureFromText, signatureText } from './signatures.ts';

const MAX_VATID_CHARS = 128;
const VATID = /^[1-9A-HJ-NP-Za-km-z]+$/;
const DIGEST = /^[0-9a-f]{64}$/;

export class QuorumWireError extends Error {
  override name = 'QuorumWireError';
}

function fail(message: string): never {
  throw new QuorumWireError(message);
}

function exact(v: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${where}: not an object`);
  if (Object.keys(v).sort().join(',') !== [...keys].sort().join(',')) {
    fail(`${where}: keys must be exactly ${keys.join(',')}`);
  }
  return v as Record<string, unknown>;
}

function vatId(v: unknown, where: string): VatId {
  if (typeof v !== 'string' || v.length > MAX_VATID_CHARS || !VATID.test(v))
    fail(`${where}: not a VatID`);
  return v;
}

function quorumId(v: unknown, where: string): VatId {
  const id = vatId(v, where);
  if (!isQuorumVatId(id)) fail(`${where}: not a quorum VatID`);
  return id;
}

function seq(v: unknown, where: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || Object.is(v, -0))
    fail(`${where}: not an integer >= ${min}`);
  return v;
}

function signature(v: unknown, where: string): Uint8Array {
  const sig = typeof v === 'string' ? signatureFromText(v) : undefined;
  if (sig === undefined) fail(`${where}: not a base64url Ed25519 signature`);
  return sig;
}

export interface SignedOutboundWire {
  readonly quorum: VatId;
  readonly to: VatId;
  readonly signer: VatId;
  readonly first: number;
  readonly digests: readonly string[];
  readonly signature: string;
}

export function outboundToWire(s: SignedOutbound): SignedOutboundWire {
  return {
    quorum: s.quorum,
    to: s.to,
    signer: s.signer,
    first: s.first,
    digests: [...s.digests],
    signature: signatureText(s.signature),
  };
}

export function outboundFromWire(v: unknown): SignedOutbound {
  const o = exact(v, 'outbound', ['digests', 'first', 'quorum', 'signature', 'signer', 'to']);
  if (!Array.isArray(o.digests) || o.digests.length < 1 || o.digests.length > MAX_RUN) {
    fail(`outbound.digests: 1..${MAX_RUN} digests`);
  }
  const digests = o.digests.map((d, i) => {
    if (typeof d !== 'string' || !DIGEST.test(d))
      fail(`outbound.digests[${i}]: not a sha256 hex digest`);
    return d;
  });
  return {
    quorum: quorumId(o.quorum, 'outbound.quorum'),
    to: vatId(o.to, 'outbound.to'),
    signer: vatId(o.signer, 'outbound.signer'),
    first: seq(o.first, 'outbound.first', 1),
    digests,
    signature: signature(o.signature, 'outbound.signature'),
  };
}

/** A member's signed ack: "I committed every message of `peer` up to `ack`". */
export interface SignedAck {
  readonly quorum: VatId;
  readonly peer: VatId;
  readonly signer: VatId;
  readonly ack: number;
  readonly signature: Uint8Array;
}

export interface SignedAckWire {
  readonly quorum: VatId;
  readonly peer: VatId;
  readonly signer: VatId;
  readonly ack: number;
  readonly signature: string;
}

export function ackToWire(a: SignedAck): SignedAckWire {
  return { ...a, signature: signatureText(a.signature) };
}

export function ackFromWire(v: unknown): SignedAck {
  const o = exact(v, 'ack', ['ack', 'peer', 'quorum', 'signature', 'signer']);
  return {
    quorum: quorumId(o.quorum, 'ack.quorum'),
    peer: vatId(o.peer, 'ack.peer'),
    signer: vatId(o.signer, 'ack.signer'),
    ack: seq(o.ack, 'ack.ack', 0),
    signature: signature(o.signature, 'ack.signature'),
  };
}
