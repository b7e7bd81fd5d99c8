/**
 * Sturdyrefs of quorum vats, made so that no member ever holds a secret.
 *
 * A sturdyref is `quorumvat://<vatId>/s/<secret>` (kernel/sturdyref.ts): the secret is an Ed25519
 * seed, and redeeming it means signing "redeem <minter> for <redeemer>" with it. A solo vat
 * mints its own (it generates the secret and keeps the public key). A quorum vat must not: every
 * member would see the secret, and any one of them could then redeem it from a solo vat of its
 * own, or hand it on, acting alone for the quorum's object (the webkey problem of the 2018
 * prototype). So:
 *
 *   1. The key pair is generated OUTSIDE the quorum, by whoever will hold the sturdyref (the
 *      operator, a client): newSturdyKey. The secret stays with them.
 *   2. Only the public key reaches the quorum: in the genesis configuration (keys that redeem to
 *      the bootstrap object: how the first reference to a new quorum vat is made), or later in a
 *      registration (SturdyRegistration) carried by an ordinary message to the quorum vat, so it
 *      is ordered and every member applies it at the same point. Binding a key to an object is
 *      then done by vat code that holds that object: authority comes from the reference, as for
 *      any other message.
 *   3. A registration carries a proof of possession: the registrant signs the registration
 *      statement {quorum, key, target} with the sturdyref key. Nobody can register (squat) a
 *      public key they do not hold, and a registration for one quorum or target cannot be
 *      replayed for another.
 *   4. Redemption is unchanged: the redeemer proves possession for itself (kernel/sturdyref.ts
 *      redeemProof with the quorum VatID as minter); every member checks the same proof in the
 *      agreed order. A member learns nothing that lets it redeem.
 */

import { createPrivateKey, sign as edSign } from 'node:crypto';
import { checkRedeemProof, newSecret, sturdyKey } from '../kernel/sturdyref.ts';
import type { VatId } from '../protocol/identity.ts';
import { verifySignature } from '../vattp/signing.ts';
import { type Genesis, isQuorumVatId } from './config.ts';
import { signatureFromText, statementBytes } from './signatures.ts';

/** What a registered key redeems to: the quorum vat's bootstrap object or one of its exports. */
export type SturdyTarget = string;
const TARGET = /^(?:bootstrap|o\+[1-9][0-9]{0,15})$/;
const KEY = /^[0-9a-f]{64}$/;
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SturdyRegistration {
  readonly quorum: VatId;
  /** The sturdyref's public key, 64 hex digits. */
  readonly key: string;
  readonly target: SturdyTarget;
  /** The sturdyref key's signature on registrationStatement (proof of possession), base64url. */
  readonly proof: string;
}

export type SturdyReason =
  | 'malformed'
  | 'wrong-quorum'
  | 'bad-proof'
  | 'key-taken'
  | 'unknown-key'
  | 'bad-redeem-proof';

export class SturdyRegistrationError extends Error {
  override name = 'SturdyRegistrationError';
  readonly reason: SturdyReason;
  constructor(reason: SturdyReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

function refuse(reason: SturdyReason, message: string): never {
  throw new SturdyRegistrationError(reason, message);
}

export function registrationStatement(
  quorum: VatId,
  key: string,
  target: SturdyTarget,
): Uint8Array {
  return statementBytes('sturdy-registration', { quorum, key, target });
}

/**
 * OUTSIDE the quorum (operator, client): a fresh sturdyref secret, its public key, and the
 * registration to send to the quorum. The secret is returned to the caller only.
 */
export function newSturdyKey(
  quorum: VatId,
  target: SturdyTarget,
): { secret: Uint8Array; registration: SturdyRegistration } {
  const secret = newSecret();
  return { secret, registration: registrationFor(secret, quorum, target) };
}

/** The registration (public key + proof of possession) of an existing secret. */
export function registrationFor(
  secret: Uint8Array,
  quorum: VatId,
  target: SturdyTarget,
): SturdyRegistration {
  const key = sturdyKey(secret);
  const priv = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secret]),
    format: 'der',
    type: 'pkcs8',
  });
  const proof = edSign(null, registrationStatement(quorum, key, target), priv).toString(
    'base64url',
  );
  return { quorum, key, target, proof };
}

/** Checks a registration's form, quorum and proof of possession; returns it rebuilt. */
export function verifySturdyRegistration(quorum: VatId, v: unknown): SturdyRegistration {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    refuse('malformed', 'registration: not an object');
  const o = v as Record<string, unknown>;
  // Exactly these keys: a registration never carries (and a member never stores) a secret.
  if (Object.keys(o).sort().join(',') !== 'key,proof,quorum,target') {
    refuse('malformed', 'registration: keys must be exactly key, proof, quorum, target');
  }
  if (typeof o.quorum !== 'string' || !isQuorumVatId(o.quorum))
    refuse('malformed', 'registration.quorum: not a quorum VatID');
  if (o.quorum !== quorum) refuse('wrong-quorum', `registration for ${o.quorum}, not ${quorum}`);
  if (typeof o.key !== 'string' || !KEY.test(o.key))
    refuse('malformed', 'registration.key: 64 lower-case hex digits');
  if (typeof o.target !== 'string' || !TARGET.test(o.target)) {
    refuse('malformed', "registration.target: 'bootstrap' or an export o+N");
  }
  const proof = typeof o.proof === 'string' ? signatureFromText(o.proof) : undefined;
  if (proof === undefined) refuse('malformed', 'registration.proof: not a base64url signature');
  if (
    !verifySignature(
      Buffer.from(o.key, 'hex'),
      registrationStatement(quorum, o.key, o.target),
      proof,
    )
  ) {
    refuse('bad-proof', 'registration not signed by the sturdyref key it registers');
  }
  return { quorum, key: o.key, target: o.target, proof: o.proof as string };
}

/**
 * The sturdyref table of a quorum vat: public key → target, nothing else. Every member holds the
 * same table because it changes only through the genesis and ordered registrations. Plain data
 * (toJSON) for checkpoints.
 */
export class QuorumSturdyTable {
  readonly #quorum: VatId;
  readonly #targets = new Map<string, SturdyTarget>();

  constructor(quorum: VatId, genesis: Pick<Genesis, 'sturdyKeys'>) {
    this.#quorum = quorum;
    for (const key of genesis.sturdyKeys) this.#targets.set(key, 'bootstrap');
  }

  /** Applies an ordered registration. The same key bound again to the same target is a no-op. */
  register(registration: unknown): 'registered' | 'duplicate' {
    const r = verifySturdyRegistration(this.#quorum, registration);
    const known = this.#targets.get(r.key);
    if (known === r.target) return 'duplicate';
    if (known !== undefined)
      refuse('key-taken', 'this sturdyref key is already registered for another object');
    this.#targets.set(r.key, r.target);
    return 'registered';
  }

  revoke(key: string): boolean {
    return this.#targets.delete(key);
  }

  /**
   * A redeem message (op 'redeem': key, proof) from `redeemer`: the target it opens. The proof
   * is bound to this quorum and to the redeemer (kernel/sturdyref.ts), so a copy is useless.
   */
  redeem(key: string, proof: string, redeemer: VatId): SturdyTarget {
    const target = this.#targets.get(key);
    if (target === undefined)
      refuse('unknown-key', 'no such sturdyref (never registered, or revoked)');
    if (!checkRedeemProof(key, proof, this.#quorum, redeemer)) {
      refuse(
        'bad-redeem-proof',
        `redeem proof not made for ${redeemer} with this sturdyref's secret`,
      );
    }
    return target;
  }

  get size(): number {
    return this.#targets.size;
  }

  toJSON(): { quorum: VatId; keys: [string, SturdyTarget][] } {
    return { quorum: this.#quorum, keys: [...this.#targets].sort(([a], [b]) => (a < b ? -1 : 1)) };
  }
}
