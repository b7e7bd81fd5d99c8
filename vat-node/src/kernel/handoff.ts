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
}

const MAX_CERT = 2048;

export class HandoffError extends Error {
  override name = 'HandoffError';
}

function signedBytes(c: Omit<HandoffCert, 'signature'>): Uint8Array {
  return Buffer.from(
    `quorumvat-handoff-v1\n${c.exporter}\n${c.ref}\n${c.giver}\n${c.recipient}\n${c.nonce}`,
  );
}

export function makeHandoffSlot(
  identity: VatIdentity,
  c: Omit<HandoffCert, 'giver' | 'signature'>,
): string {
  const body = { ...c, giver: identity.vatId };
  const signature = Buffer.from(identity.sign(signedBytes(body))).toString('base64url');
  const wire = [body.exporter, body.ref, body.giver, body.recipient, body.nonce, signature];
  return HANDOFF_PREFIX + Buffer.from(JSON.stringify(wire)).toString('base64url');
}

/**
 * The longest slot `makeHandoffSlot` can write for these vats (any ref, nonce and Ed25519
 * signature): what a message carrying it may grow by (message-size.ts).
 */
export function handoffSlotMaxChars(exporter: VatId, giver: VatId, recipient: VatId): number {
  const longest = [exporter, `o+${'9'.repeat(15)}`, giver, recipient, Number.MAX_SAFE_INTEGER];
  const json = Buffer.byteLength(JSON.stringify([...longest, 'x'.repeat(SIGNATURE_CHARS)]));
  return HANDOFF_PREFIX.length + Math.ceil((json * 4) / 3);
}

/** An Ed25519 signature (64 bytes) in base64url. */
const SIGNATURE_CHARS = 86;

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
  if (!Array.isArray(parts) || parts.length !== 6)
    throw new HandoffError('malformed handoff certificate');
  const [exporter, ref, giver, recipient, nonce, signature] = parts as unknown[];
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
  };
  const ok = identity.verify(cert.giver, signedBytes(cert), Buffer.from(signature, 'base64url'));
  if (!ok) throw new HandoffError(`handoff certificate not signed by ${cert.giver}`);
  return cert;
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
