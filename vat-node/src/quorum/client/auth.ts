/**
 * A sender's own signature over the messages it sends to a quorum vat (`auth`), one per run of
 * consecutive messages (at most MAX_SIGNED_RUN):
 *
 *   inputs {quorum, from, first, digests}   digests[i] = sha256 (hex) of the canonical JSON of
 *                                            message first + i
 *
 * a statement of kind 'inputs' (signatures.ts: domain-separated from frames and from every
 * member statement). The sender signs each run once (the messages it hands its links at once:
 * client/port.ts) and every message of the run carries the same signature to every member in
 * the VatTP frame (vattp/codec.ts, `auth`): one Ed25519 signature per batch, not per message.
 * A member can then vote for an input the leader proposes before the input reached it
 * (ordering/batch.ts, "Unseen inputs") when it can assemble the run (the inputs with the same
 * auth, from the proposal and its pool: a leader proposes a sender's consecutive inputs
 * together); else it waits for the input from the sender. A sender that gives different
 * members different contents under one seq gets at most one of them ordered. The statement
 * names the quorum, so an auth for one quorum is useless at another, `from`, so nobody can pass
 * its input off as another sender's, and each seq's digest, so a run cannot be shifted.
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
import type { AuthenticateInput, Input } from '../ordering/types.ts';
import {
  digestHex,
  messageDigest,
  SIGNATURE_BYTES,
  statementBytes,
  verifyMemberSignature,
} from '../signatures.ts';

/** The verified configuration chain of a quorum VatID, if this host knows it. */
export type ChainOf = (quorum: VatId) => ConfigChain | undefined;

/**
 * The bytes a member of a quorum sender signs for the quorum's message `seq` to `quorum`
 * (member-auth.ts: k of them make the input's certificate).
 */
export function inputStatement(
  quorum: VatId,
  from: VatId,
  seq: number,
  digest: string,
): Uint8Array {
  return statementBytes('input', { quorum, from, seq, digest });
}

/** Most messages one solo sender's signature covers (its statement lists each one's digest). */
export const MAX_SIGNED_RUN = 256;

/** The bytes a solo sender signs for its messages first, first + 1, … to `quorum`. */
export function inputsStatement(
  quorum: VatId,
  from: VatId,
  first: number,
  digests: readonly string[],
): Uint8Array {
  return statementBytes('inputs', { quorum, from, first, digests });
}

/**
 * The sender's side: one signature over a run of its messages to `quorum` (seqs first,
 * first + 1, …, at most MAX_SIGNED_RUN), given as the `auth` of each of them.
 */
export function signInputs(
  sign: Sign,
  quorum: VatId,
  from: VatId,
  first: number,
  msgs: readonly VatMessage[],
): Uint8Array {
  if (msgs.length < 1 || msgs.length > MAX_SIGNED_RUN) {
    throw new RangeError(`a signed run has 1 to ${MAX_SIGNED_RUN} messages, not ${msgs.length}`);
  }
  return sign(inputsStatement(quorum, from, first, msgs.map(messageDigest)));
}

/** One message signed alone (a run of one). */
export function signInput(
  sign: Sign,
  quorum: VatId,
  from: VatId,
  seq: number,
  msg: VatMessage,
): Uint8Array {
  return signInputs(sign, quorum, from, seq, [msg]);
}

/** The same sender's input `seq` as the checker holds it (the block, else its pool). */
export type RelatedInput = (seq: number) => Pick<Input, 'seq' | 'body' | 'auth'> | undefined;

type SignedInput = Pick<Input, 'from' | 'seq' | 'body' | 'auth'>;

/**
 * A member's side: true only if `input.auth` is `input.from`'s signature over this input to
 * `quorum`: for a solo sender, its signature over the run of its inputs that carry the same
 * auth (this one and, through `related`, its neighbours by seq: the run must be complete); for
 * a quorum sender, a certificate of k current members of `input.from`'s configuration
 * (`chainOf` must know its chain). `input.body` is the canonical JSON bytes of the message
 * (what ordering carries), so its sha256 is the digest the sender signed. Never throws (a
 * non-Ed25519 `from`, a missing or malformed auth are false).
 */
export function verifyInputAuth(
  quorum: VatId,
  input: SignedInput,
  chainOf?: ChainOf,
  related?: RelatedInput,
): boolean {
  if (input.auth === undefined || !Number.isSafeInteger(input.seq) || input.seq < 1) return false;
  if (!isQuorumVatId(input.from)) return signedRun(quorum, input, related) !== undefined;
  let statement: Uint8Array;
  try {
    statement = inputStatement(quorum, input.from, input.seq, digestHex(input.body));
  } catch {
    return false;
  }
  const chain = chainOf?.(input.from);
  const cert = decodeInputCertificate(input.auth);
  if (chain === undefined || chain.quorum !== input.from || cert === undefined) return false;
  return chain.verifyCurrent(statement, cert).ok;
}

/** The run of a solo sender's inputs that `input.auth` signs, if it checks out. */
function signedRun(
  quorum: VatId,
  input: SignedInput,
  related: RelatedInput | undefined,
): { first: number; digests: string[] } | undefined {
  const auth = input.auth!;
  const same = (x: Pick<Input, 'auth'> | undefined): x is Pick<Input, 'body' | 'auth'> =>
    x?.auth !== undefined && Buffer.compare(x.auth, auth) === 0;
  const before: Pick<Input, 'body'>[] = [];
  const after: Pick<Input, 'body'>[] = [];
  let first = input.seq;
  for (let x = related?.(first - 1); first > 1 && same(x); x = related?.(first - 1)) {
    if (before.length + after.length + 1 >= MAX_SIGNED_RUN) break;
    before.push(x);
    first--;
  }
  let last = input.seq;
  for (let x = related?.(last + 1); same(x); x = related?.(last + 1)) {
    if (before.length + after.length + 1 >= MAX_SIGNED_RUN) break;
    after.push(x);
    last++;
  }
  const digests = [...before.reverse(), input, ...after].map((x) => digestHex(x.body));
  let statement: Uint8Array;
  try {
    statement = inputsStatement(quorum, input.from, first, digests);
  } catch {
    return undefined;
  }
  return verifyMemberSignature(input.from, statement, auth) ? { first, digests } : undefined;
}

/** Verified runs a member remembers (one signature check per run, not per input). */
const REMEMBERED_RUNS = 4096;

/**
 * The ordering core's AuthenticateInput hook for the members of `quorum`; `chainOf` gives the
 * chains of quorum senders (the member's client layer: QuorumClientPort.chainOf). A solo
 * sender's auth that does not check out with the run this member can assemble is 'unknown'
 * (it may lack part of the run): the member waits for the input itself, never votes blind.
 */
export function authenticateInputFor(quorum: VatId, chainOf?: ChainOf): AuthenticateInput {
  const runs = new Map<string, { first: number; digests: readonly string[] }>();
  return (input, related) => {
    if (input.kind !== 'message') return false;
    if (isQuorumVatId(input.from)) return verifyInputAuth(quorum, input, chainOf);
    const auth = input.auth;
    if (auth?.length !== SIGNATURE_BYTES || !Number.isSafeInteger(input.seq) || input.seq < 1) {
      return false;
    }
    const id = `${input.from}|${Buffer.from(auth).toString('base64')}`;
    const known = runs.get(id);
    const at = known === undefined ? -1 : input.seq - known.first;
    if (known !== undefined && at >= 0 && at < known.digests.length) {
      // The signature covers this seq with one digest: any other content is not the sender's.
      return known.digests[at] === digestHex(input.body);
    }
    const run = signedRun(quorum, input, related);
    if (run === undefined) return 'unknown';
    if (runs.size >= REMEMBERED_RUNS) runs.clear();
    runs.set(id, run);
    return true;
  };
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
