/**
 * Sturdyrefs: URI strings that bootstrap a reference from outside the reference graph (a CLI,
 * a config file, a Kubernetes status field):
 *
 *   quorumvat://<vatId>/s/<secret>?addr=<multiaddr>&addr=...
 *
 * The secret is the seed of an Ed25519 key. The minting vat stores only the public key. To
 * redeem, a vat proves it holds the secret by signing "redeem <minter> for <redeemer>" with
 * it and sends the public key and that proof: the secret itself never travels in a message,
 * and the proof is bound to the redeemer (a copy is useless to an eavesdropper). The minter
 * then adds the object to the redeemer's c-list. Revoking deletes the public key.
 */
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import type { VatId } from '../protocol/identity.ts';

const SCHEME = 'quorumvat:';
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export class SturdyRefError extends Error {
  override name = 'SturdyRefError';
}

export interface SturdyRef {
  readonly vatId: VatId;
  readonly secret: Uint8Array;
  readonly hints: readonly string[];
}

export function formatSturdyRef(ref: SturdyRef): string {
  const query = ref.hints.map((a) => `addr=${encodeURIComponent(a)}`).join('&');
  const secret = Buffer.from(ref.secret).toString('base64url');
  return `quorumvat://${ref.vatId}/s/${secret}${query ? `?${query}` : ''}`;
}

export function parseSturdyRef(uri: string): SturdyRef {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new SturdyRefError('not a sturdyref URI');
  }
  const m = /^\/s\/([A-Za-z0-9_-]{43})$/.exec(url.pathname);
  if (url.protocol !== SCHEME || !url.hostname || !m) {
    throw new SturdyRefError('a sturdyref looks like quorumvat://<vatId>/s/<secret>?addr=...');
  }
  const secret = Buffer.from(m[1]!, 'base64url');
  if (secret.length !== 32) throw new SturdyRefError('bad sturdyref secret');
  // URL lower-cases hosts; VatIds (base58) are case-sensitive, so take it from the raw text.
  const vatId = uri.slice('quorumvat://'.length).split('/')[0]!;
  return { vatId, secret, hints: url.searchParams.getAll('addr') };
}

export function newSecret(): Uint8Array {
  return randomBytes(32);
}

/** The Ed25519 private key whose 32-byte seed is the sturdyref's secret. */
function privateKeyOf(secret: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secret]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** The public key (hex) that the minter stores for this secret. */
export function sturdyKey(secret: Uint8Array): string {
  const priv = privateKeyOf(secret);
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_PREFIX.length).toString('hex');
}

const proofBytes = (minter: VatId, redeemer: VatId) =>
  Buffer.from(`quorumvat-redeem-v1\n${minter}\n${redeemer}`);

export function redeemProof(secret: Uint8Array, minter: VatId, redeemer: VatId): string {
  const priv = privateKeyOf(secret);
  return sign(null, proofBytes(minter, redeemer), priv).toString('base64url');
}

export function checkRedeemProof(
  key: string,
  proof: string,
  minter: VatId,
  redeemer: VatId,
): boolean {
  if (!/^[0-9a-f]{64}$/.test(key) || !/^[A-Za-z0-9_-]{86}$/.test(proof)) return false;
  try {
    const pub = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, Buffer.from(key, 'hex')]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, proofBytes(minter, redeemer), pub, Buffer.from(proof, 'base64url'));
  } catch {
    return false;
  }
}
