/**
 * Ed25519 signatures with node:crypto, several times faster than @noble/ed25519
 * (`npm run bench -- ed25519`; the README's table has a run). Signatures are byte-identical
 * to noble's (signing.test.ts proves it), so a peer may use either.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export type Sign = (message: Uint8Array) => Uint8Array;

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** A signing function over a 32-byte seed (the key stays inside a KeyObject, not in a closure). */
export function makeSigner(seed: Uint8Array, publicKey: Uint8Array): Sign {
  if (seed.length !== SEED_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new TypeError('Ed25519 seed and public key must be 32 bytes each');
  }
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(publicKey) },
    format: 'jwk',
  });
  return (message) => new Uint8Array(sign(null, message, key));
}

/** Parsing a public key costs more than a verification: keep the recent ones. */
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_LIMIT = 1024;

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = b64url(publicKey);
  let key = publicKeyCache.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: id }, format: 'jwk' });
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) {
      const oldest = publicKeyCache.keys().next().value;
      if (oldest !== undefined) publicKeyCache.delete(oldest);
    }
    publicKeyCache.set(id, key);
  }
  return key;
}

/** True only for a valid signature of `message` by `publicKey`; never throws on bad input. */
export function verifySignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    // An invalid point encoding makes createPublicKey throw: that is a failed verification.
    return false;
  }
}
