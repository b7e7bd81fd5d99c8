/**
 * k-of-n certificates: one statement (signatures.ts) signed by at least k members of one epoch
 * of a quorum's configuration, as individual Ed25519 signatures plus a signer bitmap.
 *
 * Why not one aggregate (BLS) or threshold (FROST) signature: at the sizes a quorum vat has
 * (n ≤ 7 in practice), k Ed25519 verifications with node:crypto cost ~60 µs each, where one BLS
 * pairing check costs ~8 ms (../shared/notes/anchors.md; bench/quorum-certs.bench.ts measures
 * ours); the bitmap shows exactly who signed (evidence, metrics, which member lags); and a
 * member's key is its own vat key, so adding or removing a member needs no distributed key
 * generation or resharing (FROST in @noble/curves has no resharing: every membership change
 * would need a new group key). The cost is 64 bytes per signer on the wire.
 *
 * Wire form (plain data, canonical JSON friendly):
 *   { epoch, signers: hex bitmap, signatures: base64url of the concatenated signatures }
 * Bit i of the bitmap (byte i >> 3, mask 1 << (i & 7)) stands for member i of the epoch's
 * sorted member list; the bitmap is exactly ceil(n / 8) bytes with no bit at or above n; the
 * signatures follow in member order. So one certificate has exactly one encoding.
 */

import type { VatId } from '../protocol/identity.ts';
import { memberIndex, type QuorumConfig } from './config.ts';
import { SIGNATURE_BYTES, verifyMemberSignature } from './signatures.ts';

export interface Certificate {
  /** The configuration epoch whose member list the bitmap indexes. */
  readonly epoch: number;
  /** Signer bitmap, lower-case hex. */
  readonly signers: string;
  /** The signers' signatures in member order, concatenated, base64url. */
  readonly signatures: string;
}

export type CertificateReason =
  | 'malformed'
  | 'wrong-epoch'
  | 'too-few-signers'
  | 'bad-signature'
  | 'not-a-member';

export class CertificateError extends Error {
  override name = 'CertificateError';
  readonly reason: CertificateReason;
  constructor(reason: CertificateReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export type CertificateCheck =
  | { readonly ok: true; readonly signers: readonly VatId[] }
  | { readonly ok: false; readonly reason: CertificateReason; readonly message: string };

const HEX = /^(?:[0-9a-f]{2})+$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

function bitmapBytes(n: number): number {
  return Math.ceil(n / 8);
}

/** The bitmap (hex) with the given member indices set. */
export function bitmapOf(n: number, indices: Iterable<number>): string {
  const bytes = new Uint8Array(bitmapBytes(n));
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= n) throw new RangeError(`member index ${i}`);
    bytes[i >> 3]! |= 1 << (i & 7);
  }
  return Buffer.from(bytes).toString('hex');
}

/** The member indices a bitmap sets, ascending; undefined if it is not canonical for n. */
export function indicesOf(n: number, bitmap: string): number[] | undefined {
  if (bitmap.length !== 2 * bitmapBytes(n) || (bitmap.length > 0 && !HEX.test(bitmap))) {
    return undefined;
  }
  const bytes = Buffer.from(bitmap, 'hex');
  const out: number[] = [];
  for (let i = 0; i < 8 * bytes.length; i++) {
    if ((bytes[i >> 3]! & (1 << (i & 7))) === 0) continue;
    if (i >= n) return undefined;
    out.push(i);
  }
  return out;
}

/**
 * Packs member signatures into a certificate for `config`'s epoch. Throws CertificateError
 * ('not-a-member') for a signer outside the configuration: callers pass only signatures they
 * collected from members (SignatureCollector does).
 */
export function assembleCertificate(
  config: QuorumConfig,
  signatures: Iterable<readonly [VatId, Uint8Array]>,
): Certificate {
  const byIndex = new Map<number, Uint8Array>();
  for (const [signer, signature] of signatures) {
    const i = memberIndex(config, signer);
    if (i < 0)
      throw new CertificateError(
        'not-a-member',
        `${signer} is not a member in epoch ${config.epoch}`,
      );
    if (signature.length !== SIGNATURE_BYTES)
      throw new CertificateError('malformed', 'signature length');
    byIndex.set(i, signature);
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  const sigs = Buffer.concat(indices.map((i) => byIndex.get(i)!));
  return {
    epoch: config.epoch,
    signers: bitmapOf(config.members.length, indices),
    signatures: sigs.toString('base64url'),
  };
}

/** Validates the shape of untrusted certificate data (keys, types); not the signatures. */
export function checkCertificateShape(v: unknown): Certificate {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CertificateError('malformed', 'certificate: not an object');
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  if (keys.join(',') !== 'epoch,signatures,signers') {
    throw new CertificateError(
      'malformed',
      'certificate: keys must be exactly epoch,signatures,signers',
    );
  }
  if (
    typeof o.epoch !== 'number' ||
    !Number.isSafeInteger(o.epoch) ||
    o.epoch < 0 ||
    Object.is(o.epoch, -0)
  ) {
    throw new CertificateError('malformed', 'certificate.epoch: not an integer >= 0');
  }
  if (typeof o.signers !== 'string' || o.signers.length > 64 || !HEX.test(o.signers)) {
    throw new CertificateError('malformed', 'certificate.signers: not a hex bitmap');
  }
  if (
    typeof o.signatures !== 'string' ||
    o.signatures.length > 8192 ||
    !B64URL.test(o.signatures)
  ) {
    throw new CertificateError('malformed', 'certificate.signatures: not base64url');
  }
  return { epoch: o.epoch, signers: o.signers, signatures: o.signatures };
}

/**
 * Checks that at least k distinct members of `config` (same epoch as the certificate) signed
 * `statement`. Every listed signature must verify: a certificate carrying one bad signature is
 * refused even if k others are good (whoever assembled it did not check). Never throws.
 */
export function verifyCertificate(
  config: QuorumConfig,
  statement: Uint8Array,
  cert: Certificate,
): CertificateCheck {
  return check(config, statement, cert, config.threshold);
}

/**
 * Checks every signature of `cert` against the member list of its own epoch (`config`), with
 * no threshold: for callers that count the signers against another (newer) configuration.
 */
export function certificateSigners(
  config: QuorumConfig,
  statement: Uint8Array,
  cert: Certificate,
): CertificateCheck {
  return check(config, statement, cert, 0);
}

function check(
  config: QuorumConfig,
  statement: Uint8Array,
  cert: Certificate,
  threshold: number,
): CertificateCheck {
  const no = (reason: CertificateReason, message: string): CertificateCheck => ({
    ok: false,
    reason,
    message,
  });
  let shaped: Certificate;
  try {
    shaped = checkCertificateShape(cert);
  } catch (err) {
    return no('malformed', (err as Error).message);
  }
  if (shaped.epoch !== config.epoch) {
    return no(
      'wrong-epoch',
      `certificate of epoch ${shaped.epoch}, configuration epoch ${config.epoch}`,
    );
  }
  const entries = certificateEntries(config, shaped);
  if (typeof entries === 'string') return no('malformed', entries);
  if (entries.length < threshold) {
    return no('too-few-signers', `${entries.length} member signatures, threshold ${threshold}`);
  }
  const signers: VatId[] = [];
  for (const { index, signer, signature } of entries) {
    if (!verifyMemberSignature(signer, statement, signature)) {
      return no('bad-signature', `the signature of member ${index} (${signer}) does not verify`);
    }
    signers.push(signer);
  }
  return { ok: true, signers };
}

/** One signer of a certificate, as its bitmap and signatures name it (not yet verified). */
export interface CertificateEntry {
  readonly index: number;
  readonly signer: VatId;
  readonly signature: Uint8Array;
}

/**
 * The signers and their signatures, in member order, read off a certificate's bitmap and
 * signatures for `config`'s member list (the certificate's own epoch); a reason if the bitmap
 * is not canonical for the member count or the signature bytes do not match it. Verifies
 * nothing: for callers that verify with their own signature check (the ordering core).
 */
export function certificateEntries(
  config: QuorumConfig,
  cert: Pick<Certificate, 'signers' | 'signatures'>,
): readonly CertificateEntry[] | string {
  const n = config.members.length;
  const indices = indicesOf(n, cert.signers);
  if (indices === undefined) return `signer bitmap is not canonical for ${n} members`;
  const sigs = Buffer.from(cert.signatures, 'base64url');
  if (
    sigs.length !== indices.length * SIGNATURE_BYTES ||
    sigs.toString('base64url') !== cert.signatures
  ) {
    return `${indices.length} signers but ${sigs.length} signature bytes`;
  }
  return indices.map((index, j) => ({
    index,
    signer: config.members[index]!,
    signature: new Uint8Array(sigs.subarray(j * SIGNATURE_BYTES, (j + 1) * SIGNATURE_BYTES)),
  }));
}

/** verifyCertificate that throws CertificateError; returns the signers. */
export function requireCertificate(
  config: QuorumConfig,
  statement: Uint8Array,
  cert: Certificate,
): readonly VatId[] {
  const check = verifyCertificate(config, statement, cert);
  if (!check.ok) throw new CertificateError(check.reason, check.message);
  return check.signers;
}

export type CollectResult = 'added' | 'duplicate' | 'not-a-member' | 'bad-signature';

/**
 * Collects member signatures on one statement until k members signed. Verifies each signature
 * as it arrives (so an assembled certificate never carries a bad one) and ignores repeats.
 */
export class SignatureCollector {
  readonly #config: QuorumConfig;
  readonly #statement: Uint8Array;
  readonly #signatures = new Map<VatId, Uint8Array>();

  constructor(config: QuorumConfig, statement: Uint8Array) {
    this.#config = config;
    this.#statement = statement;
  }

  add(signer: VatId, signature: Uint8Array): CollectResult {
    if (memberIndex(this.#config, signer) < 0) return 'not-a-member';
    if (this.#signatures.has(signer)) return 'duplicate';
    if (!verifyMemberSignature(signer, this.#statement, signature)) return 'bad-signature';
    this.#signatures.set(signer, signature);
    return 'added';
  }

  get count(): number {
    return this.#signatures.size;
  }

  get complete(): boolean {
    return this.#signatures.size >= this.#config.threshold;
  }

  /** The certificate of everything collected (check `complete` first). */
  certificate(): Certificate {
    return assembleCertificate(this.#config, this.#signatures);
  }
}
