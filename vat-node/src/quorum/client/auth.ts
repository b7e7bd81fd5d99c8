/**
 * A sender's own signature over each message it sends to a quorum vat (`auth`):
 *
 *   input {quorum, from, seq, digest}   digest = sha256 (hex) of the message's canonical JSON
 *
 * a statement of kind 'input' (signatures.ts: domain-separated from frames and from every member
 * statement). The sender signs once per message and the same signature goes to every member in
 * the VatTP frame (vattp/codec.ts, `auth`). A member can then vote for an input the leader
 * proposes before the input reached it (ordering/batch.ts, "Unseen inputs"), and a sender that
 * gives different members different contents under one seq gets at most one of them ordered.
 * The statement names the quorum, so an auth for one quorum is useless at another, and `from`,
 * so nobody can pass its input off as another sender's.
 *
 * A quorum vat Q1 sending to a quorum vat Q2 has no key to sign with. Its members each sign the
 * same statement (from = Q1) beside their frames (member-auth.ts); a member of Q2 combines k
 * identical frames from Q1's current members and gives the input, as its `auth`, the k-of-n
 * certificate of those members' signatures. Every member of Q2 checks that certificate against
 * Q1's configuration chain (the one its client layer verified from Q1's VatID, fetched over
 * `/quorumvat/quorum-chain/1.0.0`): k current members of Q1 signed this input. So a member of
 * Q2 can vote for an input from Q1 it has not combined itself, and one Byzantine member of Q1
 * (or Q2's leader) can never get an input of Q1 ordered that k members of Q1 did not send.
 * A member of Q2 that does not know Q1's chain yet cannot check the certificate and refuses
 * that proposal (ordering/batch.ts): it loses its vote for one round, never safety.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { Sign } from '../../vattp/signing.ts';
import { type Certificate, checkCertificateShape } from '../certificate.ts';
import type { ConfigChain } from '../chain.ts';
import { isQuorumVatId } from '../config.ts';
import type { Input } from '../ordering/types.ts';
import { digestHex, messageDigest, statementBytes, verifyMemberSignature } from '../signatures.ts';

/** The verified configuration chain of a quorum VatID, if this host knows it. */
export type ChainOf = (quorum: VatId) => ConfigChain | undefined;

/** The bytes a sender signs for its message `seq` to `quorum`. */
export function inputStatement(
  quorum: VatId,
  from: VatId,
  seq: number,
  digest: string,
): Uint8Array {
  return statementBytes('input', { quorum, from, seq, digest });
}

/** The sender's side: its signature over one message to `quorum`. */
export function signInput(
  sign: Sign,
  quorum: VatId,
  from: VatId,
  seq: number,
  msg: VatMessage,
): Uint8Array {
  return sign(inputStatement(quorum, from, seq, messageDigest(msg)));
}

/**
 * A member's side: true only if `input.auth` is `input.from`'s signature over this input to
 * `quorum` (a solo sender), or a certificate of k current members of `input.from`'s
 * configuration (a quorum sender: `chainOf` must know its chain). `input.body` is the canonical
 * JSON bytes of the message (what ordering carries), so its sha256 is the digest the sender
 * signed. Never throws (a non-Ed25519 `from`, a missing or malformed auth are false).
 */
export function verifyInputAuth(
  quorum: VatId,
  input: Pick<Input, 'from' | 'seq' | 'body' | 'auth'>,
  chainOf?: ChainOf,
): boolean {
  if (input.auth === undefined || !Number.isSafeInteger(input.seq) || input.seq < 1) return false;
  let statement: Uint8Array;
  try {
    statement = inputStatement(quorum, input.from, input.seq, digestHex(input.body));
  } catch {
    return false;
  }
  if (!isQuorumVatId(input.from)) return verifyMemberSignature(input.from, statement, input.auth);
  const chain = chainOf?.(input.from);
  const cert = decodeInputCertificate(input.auth);
  if (chain === undefined || chain.quorum !== input.from || cert === undefined) return false;
  return chain.verifyCurrent(statement, cert).ok;
}

/**
 * The ordering core's AuthenticateInput hook for the members of `quorum`; `chainOf` gives the
 * chains of quorum senders (the member's client layer: QuorumClientPort.chainOf).
 */
export function authenticateInputFor(quorum: VatId, chainOf?: ChainOf): (input: Input) => boolean {
  return (input) => input.kind === 'message' && verifyInputAuth(quorum, input, chainOf);
}

/**
 * An input certificate as the `auth` bytes of an ordering input (ordering/codec.ts carries at
 * most 1,024 bytes: up to 11 signers, far above the quorum sizes in use).
 */
export function encodeInputCertificate(cert: Certificate): Uint8Array {
  return Buffer.from(canonicalJson(cert), 'utf8');
}

/** The certificate in an input's `auth`; undefined if it is not one (never throws). */
export function decodeInputCertificate(auth: Uint8Array): Certificate | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(auth);
    const cert = checkCertificateShape(JSON.parse(text));
    return canonicalJson(cert) === text ? cert : undefined;
  } catch {
    return undefined;
  }
}
