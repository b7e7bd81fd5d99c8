/**
 * Three-party handoff certificates involving quorum vats (today's single-signer certificates:
 * kernel/handoff.ts).
 *
 * Given BY a quorum vat Q (Q passes B a reference to an object that C exports): no single
 * member may speak for Q, so the certificate carries a k-of-n certificate (certificate.ts) of
 * Q's members over the statement
 *
 *   handoff {quorum: Q, exporter: C, ref, recipient: B, nonce}
 *
 * Members make the body deterministically (same c-lists, same nonce counter), sign it beside
 * their outbound statement, and whoever assembles the message for B (B's combiner, once k
 * members agree) puts the k signatures in the slot. The slot keeps today's form
 * `h:` + base64url(JSON [exporter, ref, giver, recipient, nonce, proof]) with `proof` a
 * certificate object instead of a signature string, so today's reader (kernel/handoff.ts)
 * refuses it rather than misreading it, and a single-signer certificate naming a quorum giver
 * is refused too (a quorum VatID has no key of its own: no member can sign for it alone).
 *
 * The exporter C checks the certificate against Q's configuration chain: signatures of members
 * of the CURRENT configuration only, at least its threshold (ConfigChain.verifyCurrent), so a
 * certificate given just before a membership change still works while its signers remain
 * members, and removed members never count.
 *
 * Determinism: when the RECIPIENT is itself a quorum vat, its members must order identical
 * bytes, but which k signatures a member's combiner gathered first may differ. So the wiring
 * must put the certificate outside the ordered content (order the message with the unsigned
 * body, keep the member signatures beside it, and assemble a certificate when a member presents
 * the take), not seal it into the message before ordering.
 *
 * Naming a quorum vat as the exporter (the target B must take from): B sends its `take` to every
 * member of that quorum, so it needs the quorum's configuration, verified from its VatID
 * (handoffTarget); a quorum VatID whose chain B cannot verify is refused, never guessed.
 */

import { isHint, MAX_HINTS } from '../kernel/handoff.ts';
import type { VatId } from '../protocol/identity.ts';
import type { WireRef } from '../protocol/refs.ts';
import type { Sign } from '../vattp/signing.ts';
import { type Certificate, checkCertificateShape } from './certificate.ts';
import type { ConfigChain } from './chain.ts';
import { isQuorumVatId } from './config.ts';
import { statementBytes } from './signatures.ts';

const PREFIX = 'h:';
/** The VatTP codec's limit on a handoff slot (vattp/codec.ts HANDOFF). */
export const MAX_SLOT_CHARS = 2048;
const WIRE_REF_EXPORT = /^o\+[1-9][0-9]{0,15}$/;

export interface QuorumHandoffBody {
  readonly exporter: VatId;
  /** The object as the exporter writes it to the giver (`o+K`). */
  readonly ref: WireRef;
  /** The quorum VatID giving the reference. */
  readonly giver: VatId;
  readonly recipient: VatId;
  readonly nonce: number;
  /**
   * Where the exporter may be reached (multiaddrs), maybe none. Not signed: the members agree
   * on them with the rest of the message (they come from the vat's c-list state), and a hint
   * only says where to dial; the peer found there is authenticated by VatTP.
   */
  readonly hints?: readonly string[];
}

export interface QuorumHandoffCert extends QuorumHandoffBody {
  readonly certificate: Certificate;
  readonly hints: readonly string[];
}

export class QuorumHandoffError extends Error {
  override name = 'QuorumHandoffError';
}

function refuse(message: string): never {
  throw new QuorumHandoffError(message);
}

/** The statement k members of the giver quorum sign. */
export function handoffStatement(body: QuorumHandoffBody): Uint8Array {
  return statementBytes('handoff', {
    quorum: body.giver,
    exporter: body.exporter,
    ref: body.ref,
    recipient: body.recipient,
    nonce: body.nonce,
  });
}

/** One member's signature on a handoff its quorum gives. */
export function signHandoff(sign: Sign, body: QuorumHandoffBody): Uint8Array {
  return sign(handoffStatement(body));
}

export function formatQuorumHandoffSlot(body: QuorumHandoffBody, certificate: Certificate): string {
  return encodeSlot(body, certificate);
}

/**
 * The slot as the members' kernels write it (quorum/client/handoffs.ts): the body with `null`
 * where the certificate goes. Deterministic (the same bytes on every member), so the members'
 * messages carrying it agree; each member signs the body beside the message (the `auth` of
 * its frame) and the receiver's combiner puts k of those signatures in (withCertificate).
 * Nobody accepts it as it is (parseQuorumHandoffSlot wants a certificate).
 */
export function formatUnsignedQuorumHandoffSlot(body: QuorumHandoffBody): string {
  return encodeSlot(body, null);
}

/** The body of a slot the members wrote (formatUnsignedQuorumHandoffSlot); else undefined. */
export function unsignedQuorumHandoffBody(slot: string): QuorumHandoffBody | undefined {
  const parts = decodeParts(slot);
  if (parts === undefined || (parts.length !== 6 && parts.length !== 7) || parts[5] !== null) {
    return undefined;
  }
  try {
    const { certificate: _, ...body } = parseParts([
      ...parts.slice(0, 5),
      EMPTY_CERT,
      ...parts.slice(6),
    ]);
    return body;
  } catch {
    return undefined;
  }
}

/** An unsigned slot with k member signatures put in: the certificate as the recipient gets it. */
export function withCertificate(slot: string, certificate: Certificate): string {
  const body = unsignedQuorumHandoffBody(slot);
  if (body === undefined) refuse('not an unsigned quorum handoff certificate');
  return encodeSlot(body, certificate);
}

/** Stands in for the certificate while an unsigned slot's body is checked. */
const EMPTY_CERT: Certificate = { epoch: 0, signers: '00', signatures: '' };

function encodeSlot(body: QuorumHandoffBody, proof: Certificate | null): string {
  const wire: unknown[] = [body.exporter, body.ref, body.giver, body.recipient, body.nonce, proof];
  const hints = [...new Set(body.hints ?? [])];
  if (hints.length > 0) wire.push(hints);
  const slot = PREFIX + Buffer.from(JSON.stringify(wire)).toString('base64url');
  if (slot.length > MAX_SLOT_CHARS) refuse(`handoff certificate of ${slot.length} characters`);
  return slot;
}

/** The giver a handoff slot names (without checking anything else); undefined if malformed. */
export function handoffGiver(slot: string): VatId | undefined {
  const parts = decodeParts(slot);
  return typeof parts?.[2] === 'string' ? parts[2] : undefined;
}

function decodeParts(slot: string): unknown[] | undefined {
  if (typeof slot !== 'string' || !slot.startsWith(PREFIX) || slot.length > MAX_SLOT_CHARS) {
    return undefined;
  }
  try {
    const parts = JSON.parse(Buffer.from(slot.slice(PREFIX.length), 'base64url').toString('utf8'));
    return Array.isArray(parts) ? parts : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a quorum handoff slot's form (not its signatures). */
export function parseQuorumHandoffSlot(slot: string): QuorumHandoffCert {
  const parts = decodeParts(slot);
  if (parts === undefined) refuse('malformed handoff certificate');
  return parseParts(parts);
}

function parseParts(parts: unknown[]): QuorumHandoffCert {
  if (parts.length !== 6 && parts.length !== 7) refuse('malformed handoff certificate');
  const [exporter, ref, giver, recipient, nonce, proof, hints = []] = parts;
  if (
    !Array.isArray(hints) ||
    (parts.length === 7 && hints.length === 0) || // one way to write "no hints": leave them out
    hints.length > MAX_HINTS ||
    !hints.every(isHint)
  ) {
    refuse('bad address hints in handoff certificate');
  }
  for (const id of [exporter, giver, recipient]) {
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
      refuse('malformed vat id in handoff certificate');
    }
  }
  if (!isQuorumVatId(giver as string)) refuse('a quorum handoff certificate names a quorum giver');
  if (typeof ref !== 'string' || !WIRE_REF_EXPORT.test(ref))
    refuse('bad ref in handoff certificate');
  if (typeof nonce !== 'number' || !Number.isSafeInteger(nonce) || nonce < 1) {
    refuse('bad handoff nonce');
  }
  let certificate: Certificate;
  try {
    certificate = checkCertificateShape(proof);
  } catch (err) {
    refuse(`handoff certificate: ${(err as Error).message}`);
  }
  return {
    exporter: exporter as VatId,
    ref,
    giver: giver as VatId,
    recipient: recipient as VatId,
    nonce,
    certificate,
    hints: hints as string[],
  };
}

/** Looks up the verified configuration chain of a quorum VatID (undefined: not known). */
export type ChainOf = (quorum: VatId) => ConfigChain | undefined;

/**
 * Reads and checks a handoff certificate given by a quorum vat: the form, then k signatures of
 * current members of the giver's verified configuration chain. Returns the certificate and who
 * signed it. Throws QuorumHandoffError with the reason.
 */
export function readQuorumHandoffSlot(
  slot: string,
  chainOf: ChainOf,
): QuorumHandoffCert & { readonly signers: readonly VatId[] } {
  const cert = parseQuorumHandoffSlot(slot);
  const chain = chainOf(cert.giver);
  if (chain === undefined || chain.quorum !== cert.giver) {
    refuse(`handoff from quorum ${cert.giver}, whose configuration is not known here`);
  }
  const check = chain.verifyCurrent(handoffStatement(cert), cert.certificate);
  if (!check.ok) {
    refuse(`handoff certificate not given by quorum ${cert.giver}: ${check.message}`);
  }
  return { ...cert, signers: check.signers };
}

/**
 * Where a recipient sends its `take` for a certificate naming `exporter`: the exporter itself if
 * it is a solo vat, every member of its current configuration if it is a quorum vat (never one
 * member alone: that one could refuse or lie). Refuses a quorum exporter whose chain is unknown.
 */
export function handoffTarget(exporter: VatId, chainOf: ChainOf): readonly VatId[] {
  if (!isQuorumVatId(exporter)) return [exporter];
  const chain = chainOf(exporter);
  if (chain === undefined || chain.quorum !== exporter) {
    refuse(`handoff to quorum ${exporter}, whose configuration is not known here`);
  }
  return chain.current.members;
}
