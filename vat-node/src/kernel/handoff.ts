/**
 * Three-party handoff certificates. When vat A sends vat B a reference to an object X that A
 * imports from vat C, A does not proxy X: it signs a certificate
 *
 *   "I, A (giver), give B (recipient) the object that C (exporter) knows me by as `ref`;
 *    handoff number `nonce`"
 *
 * and puts it in the message to B. B presents the certificate to C (op 'take'); C checks A's
 * signature, that the recipient is the vat presenting it, and that `ref` is in A's c-list,
 * then adds X to B's c-list. A takes no part after signing: B talks to C directly even if A
 * is gone. A certificate names its recipient and is bound to the giver's nonce, so a copy is
 * useless to anyone else, and presenting it twice yields the same entry (replay-safe).
 *
 * A certificate may carry address hints for the exporter (multiaddrs the giver knows it by,
 * signed with the rest): the recipient can dial C at once instead of looking it up in the DHT.
 * A certificate without hints is written exactly as before they existed.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { VatId, VatIdentity } from '../protocol/identity.ts';
import { HANDOFF_PREFIX, isExportRef, isWireRef, type WireRef } from '../protocol/refs.ts';

export interface HandoffCert {
  readonly exporter: VatId;
  /** The object as the exporter writes it to the giver (`o+K`). */
  readonly ref: WireRef;
  readonly giver: VatId;
  readonly recipient: VatId;
  readonly nonce: number;
  readonly signature: string;
  /** Addresses where the exporter may be reached (multiaddrs), best first; maybe none. */
  readonly hints: readonly string[];
}

/** What a giver says in a certificate (`makeHandoffSlot` adds the giver and the signature). */
export type HandoffTerms = Omit<HandoffCert, 'giver' | 'signature' | 'hints'> & {
  readonly hints?: readonly string[];
};

const MAX_CERT = 2048;
/** At most this many hints per certificate, each at most MAX_HINT_CHARS. */
export const MAX_HINTS = 4;
const MAX_HINT_CHARS = 256;

/** A plausible address hint: a multiaddr-shaped string, no white space or controls. */
export function isHint(h: unknown): h is string {
  return (
    typeof h === 'string' &&
    h.length > 1 &&
    h.length <= MAX_HINT_CHARS &&
    h[0] === '/' &&
    /^[\x21-\x7e]+$/.test(h)
  );
}

export class HandoffError extends Error {
  override name = 'HandoffError';
}

function signedBytes(c: Omit<HandoffCert, 'signature'>): Uint8Array {
  const hints = c.hints.map((h) => `\n${h}`).join('');
  return Buffer.from(
    `quorumvat-handoff-v1\n${c.exporter}\n${c.ref}\n${c.giver}\n${c.recipient}\n${c.nonce}${hints}`,
  );
}

function encodeSlot(c: Omit<HandoffCert, 'signature'>, signature: string): string {
  const wire: unknown[] = [c.exporter, c.ref, c.giver, c.recipient, c.nonce, signature];
  if (c.hints.length > 0) wire.push(c.hints);
  return HANDOFF_PREFIX + Buffer.from(JSON.stringify(wire)).toString('base64url');
}

/** An Ed25519 signature (64 bytes) in base64url. */
const SIGNATURE_CHARS = 86;

/**
 * The hints a certificate for these vats carries: the valid ones, at most MAX_HINTS, and only
 * as many as keep it within MAX_CERT at its longest (any ref, nonce and signature).
 */
function hintsThatFit(c: Omit<HandoffCert, 'signature' | 'hints'>, hints: readonly string[]) {
  const chosen = [...new Set(hints.filter(isHint))].slice(0, MAX_HINTS);
  const longest = { ...c, ref: `o+${'9'.repeat(15)}`, nonce: Number.MAX_SAFE_INTEGER };
  while (
    chosen.length > 0 &&
    encodeSlot({ ...longest, hints: chosen }, 'x'.repeat(SIGNATURE_CHARS)).length > MAX_CERT
  ) {
    chosen.pop();
  }
  return chosen;
}

export function makeHandoffSlot(identity: VatIdentity, c: HandoffTerms): string {
  const giver = identity.vatId;
  const body = { ...c, giver, hints: hintsThatFit({ ...c, giver }, c.hints ?? []) };
  const signature = Buffer.from(identity.sign(signedBytes(body))).toString('base64url');
  return encodeSlot(body, signature);
}

/**
 * The longest slot `makeHandoffSlot` can write for these vats and hints (any ref, nonce and
 * Ed25519 signature): what a message carrying it may grow by (message-size.ts).
 */
export function handoffSlotMaxChars(
  exporter: VatId,
  giver: VatId,
  recipient: VatId,
  hints: readonly string[] = [],
): number {
  const c = {
    exporter,
    ref: `o+${'9'.repeat(15)}`,
    giver,
    recipient,
    nonce: Number.MAX_SAFE_INTEGER,
  };
  return encodeSlot({ ...c, hints: hintsThatFit(c, hints) }, 'x'.repeat(SIGNATURE_CHARS)).length;
}

/** Parse and check a certificate's form and signature (not yet whether `ref` is valid). */
export function readHandoffSlot(identity: VatIdentity, slot: string): HandoffCert {
  if (slot.length > MAX_CERT) throw new HandoffError('handoff certificate too large');
  let parts: unknown;
  try {
    parts = JSON.parse(
      Buffer.from(slot.slice(HANDOFF_PREFIX.length), 'base64url').toString('utf8'),
    );
  } catch {
    throw new HandoffError('malformed handoff certificate');
  }
  if (!Array.isArray(parts) || parts.length < 6 || parts.length > 7)
    throw new HandoffError('malformed handoff certificate');
  const [exporter, ref, giver, recipient, nonce, signature, hints = []] = parts as unknown[];
  if (
    !Array.isArray(hints) ||
    (parts.length === 7 && hints.length === 0) || // one way to write "no hints": leave them out
    hints.length > MAX_HINTS ||
    !hints.every(isHint)
  ) {
    throw new HandoffError('bad address hints in handoff certificate');
  }
  const ids = [exporter, giver, recipient];
  if (!ids.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 128)) {
    throw new HandoffError('malformed vat id in handoff certificate');
  }
  if (!isWireRef(ref) || !isExportRef(ref))
    throw new HandoffError('bad ref in handoff certificate');
  if (!Number.isSafeInteger(nonce) || (nonce as number) < 1)
    throw new HandoffError('bad handoff nonce');
  if (typeof signature !== 'string') throw new HandoffError('bad handoff signature');
  const cert: HandoffCert = {
    exporter: exporter as VatId,
    ref,
    giver: giver as VatId,
    recipient: recipient as VatId,
    nonce: nonce as number,
    signature,
    hints: hints as string[],
  };
  const ok = identity.verify(cert.giver, signedBytes(cert), Buffer.from(signature, 'base64url'));
  if (!ok) throw new HandoffError(`handoff certificate not signed by ${cert.giver}`);
  return cert;
}

/**
 * How a kernel writes and reads handoff certificates. A solo vat: its own key
 * (`identityCerts`). A vat node adds certificates given by quorum vats (k member signatures,
 * checked against the quorum's configuration chain) and, on a member of a quorum vat, writes
 * the quorum's unsigned certificates that its receivers complete (quorum/client/handoffs.ts).
 */
export interface HandoffCerts {
  /**
   * The certificate this vat gives (the giver is this vat); undefined: none for this
   * recipient, the reference is proxied through this vat instead.
   */
  make(terms: HandoffTerms): string | undefined;
  /** Parse and check a certificate (not yet whether `ref` is valid); throws HandoffError. */
  read(slot: string): HandoffCert;
  /** The longest certificate `make` can write for these vats and hints (undefined: none). */
  maxChars(exporter: VatId, recipient: VatId, hints?: readonly string[]): number | undefined;
}

/** A solo vat's certificates, signed with its own key. */
export function identityCerts(identity: VatIdentity): HandoffCerts {
  return {
    make: (terms) => makeHandoffSlot(identity, terms),
    read: (slot) => readHandoffSlot(identity, slot),
    maxChars: (exporter, recipient, hints) =>
      handoffSlotMaxChars(exporter, identity.vatId, recipient, hints),
  };
}

/**
 * Ed25519 identities for vats in one process (tests, the local demo): each VatId is the
 * name, and its public key is looked up in a shared directory. Vat nodes use the libp2p key
 * behind their PeerId instead.
 */
export class LocalIdentities {
  readonly #keys = new Map<VatId, { priv: KeyObject; pub: KeyObject }>();

  identity(vatId: VatId, seed?: Uint8Array): VatIdentity {
    const raw = seed ?? crypto.getRandomValues(new Uint8Array(32));
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), raw]);
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    this.#keys.set(vatId, { priv, pub: createPublicKey(priv) });
    return {
      vatId,
      sign: (data) => sign(null, data, priv),
      verify: (signer, data, signature) => {
        const k = this.#keys.get(signer);
        return k !== undefined && signature.length === 64 && verify(null, data, k.pub, signature);
      },
    };
  }
}
