/**
 * What a member host of a quorum vat Q signs beside each message its vat sends, and how the
 * receiver turns k members' signatures into what Q itself would have signed if it had a key.
 *
 * Q has no key: no member may speak for it alone. Each member's kernel writes the same message
 * (same agreed inputs, deterministic vat), and each member host adds, in the `auth` of the
 * message in its own signed VatTP frame (vattp/codec.ts), its own Ed25519 signatures over:
 *
 *   1. when the receiver is a quorum vat R: the input statement {quorum: R, from: Q, seq,
 *      digest} (auth.ts), the same statement a solo sender signs alone;
 *   2. when the receiver is a solo vat: each handoff certificate the message gives
 *      (handoff.ts: the members' kernels write it unsigned, `formatUnsignedQuorumHandoffSlot`),
 *      in the order the slots appear.
 *
 * The receiver's combiner (inbound.ts) delivers a seq once k current members sent identical
 * content; with this module it also needs, for each item above, k valid signatures among the
 * members that sent that content (a Byzantine member's bad signature makes it wait for one
 * more honest member, never deliver something unsigned):
 *
 *   1. the k input signatures become a k-of-n certificate (certificate.ts) that goes with the
 *      input into R's ordering as its `auth`: a member of R that did not combine the input
 *      itself votes for it once the certificate verifies against Q's configuration chain
 *      (auth.ts verifyInputAuth). So the ordering of R needs no trust in R's leader or in
 *      any single member of Q: an input from Q is ordered only with k of Q's members behind it.
 *   2. each unsigned handoff slot gets its certificate put in (`withCertificate`), so the solo
 *      receiver's kernel holds what it presents to the exporter, who checks it against Q's chain.
 *
 * Handoffs given by Q to another quorum vat are not signed (the receiver's members would each
 * assemble their own k signatures, and they must order identical bytes): a quorum's kernel
 * refuses a certificate given by a quorum (handoffs.ts), deterministically on every member.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import type { Sign } from '../../vattp/signing.ts';
import { assembleCertificate, type Certificate } from '../certificate.ts';
import { isQuorumVatId, memberIndex, type QuorumConfig } from '../config.ts';
import {
  handoffStatement,
  type QuorumHandoffBody,
  signHandoff,
  unsignedQuorumHandoffBody,
  withCertificate,
} from '../handoff.ts';
import { messageDigest, SIGNATURE_BYTES, verifyMemberSignature } from '../signatures.ts';
import { encodeInputCertificate, inputStatement } from './auth.ts';

/** The slots of a message that can carry handoff certificates, in order. */
function slotsOf(msg: VatMessage): readonly unknown[] {
  if (msg.op === 'deliver') return msg.args.slots;
  if (msg.op === 'resolve') return msg.resolutions.flatMap((r) => r.value.slots);
  return [];
}

/** The unsigned handoffs `quorum` gives in `msg`, in slot order. */
function unsignedHandoffs(quorum: VatId, msg: VatMessage): QuorumHandoffBody[] {
  const out: QuorumHandoffBody[] = [];
  for (const slot of slotsOf(msg)) {
    if (typeof slot !== 'string') continue;
    const body = unsignedQuorumHandoffBody(slot);
    if (body !== undefined && body.giver === quorum) out.push(body);
  }
  return out;
}

/**
 * A member host's `auth` for message `seq` of its quorum vat `quorum` to `receiver`:
 * undefined when there is nothing to sign (a plain message to a solo vat).
 */
export function memberAuth(
  sign: Sign,
  quorum: VatId,
  receiver: VatId,
  seq: number,
  msg: VatMessage,
): Uint8Array | undefined {
  const sigs: Uint8Array[] = [];
  if (isQuorumVatId(receiver)) {
    sigs.push(sign(inputStatement(receiver, quorum, seq, messageDigest(msg))));
  } else {
    for (const body of unsignedHandoffs(quorum, msg)) sigs.push(signHandoff(sign, body));
  }
  return sigs.length === 0 ? undefined : Buffer.concat(sigs);
}

/** One member's claim for a seq: who, and the `auth` its frame carried (if any). */
export interface MemberClaim {
  readonly member: VatId;
  readonly auth?: Uint8Array;
}

/** A message of `quorum` as its receiver gets it: certificates put in, and its input auth. */
export interface Completed {
  readonly msg: VatMessage;
  /** For a quorum receiver: the certificate of k members over the input statement. */
  readonly auth?: Uint8Array;
}

/** The i-th 64-byte signature of an auth, if it has one. */
function signatureAt(auth: Uint8Array | undefined, i: number): Uint8Array | undefined {
  if (auth === undefined || auth.length < (i + 1) * SIGNATURE_BYTES) return undefined;
  return auth.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES);
}

/** k valid signatures of current members over `statement` (signature i of each auth), or undefined. */
function certify(
  config: QuorumConfig,
  claims: readonly MemberClaim[],
  i: number,
  statement: Uint8Array,
): Certificate | undefined {
  const good: [VatId, Uint8Array][] = [];
  for (const { member, auth } of claims) {
    if (memberIndex(config, member) < 0) continue;
    const sig = signatureAt(auth, i);
    if (sig === undefined || !verifyMemberSignature(member, statement, sig)) continue;
    good.push([member, sig]);
    if (good.length === config.threshold) return assembleCertificate(config, good);
  }
  return undefined;
}

/**
 * The receiver's side: `msg`, seq `seq` of `quorum` to `receiver`, sent identically by the
 * members of `claims` (at least k of them). Returns it completed, or undefined while fewer than
 * k of them gave valid signatures for some item (wait for more members).
 */
export function completeFromMembers(
  config: QuorumConfig,
  receiver: VatId,
  seq: number,
  msg: VatMessage,
  claims: readonly MemberClaim[],
): Completed | undefined {
  const quorum = config.quorum;
  if (isQuorumVatId(receiver)) {
    const statement = inputStatement(receiver, quorum, seq, messageDigest(msg));
    const cert = certify(config, claims, 0, statement);
    return cert === undefined ? undefined : { msg, auth: encodeInputCertificate(cert) };
  }
  const bodies = unsignedHandoffs(quorum, msg);
  if (bodies.length === 0) return { msg };
  const certs = new Map<string, string>();
  for (const [i, body] of bodies.entries()) {
    const cert = certify(config, claims, i, handoffStatement(body));
    if (cert === undefined) return undefined;
    const slot = slotsOf(msg).filter(
      (s) => typeof s === 'string' && unsignedQuorumHandoffBody(s) !== undefined,
    )[i] as string;
    certs.set(slot, withCertificate(slot, cert));
  }
  const fill = (slots: readonly unknown[]) =>
    slots.map((s) => (typeof s === 'string' ? (certs.get(s) ?? s) : s));
  if (msg.op === 'deliver') {
    return { msg: { ...msg, args: { ...msg.args, slots: fill(msg.args.slots) as string[] } } };
  }
  if (msg.op === 'resolve') {
    return {
      msg: {
        ...msg,
        resolutions: msg.resolutions.map((r) => ({
          ...r,
          value: { ...r.value, slots: fill(r.value.slots) as string[] },
        })),
      },
    };
  }
  return { msg };
}
