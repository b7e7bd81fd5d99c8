/**
 * A sender's signature on one message to a quorum vat (the `auth` of an ordering Input): the
 * statement {quorum, from, seq, digest} of kind `input` (../signatures.ts), where digest is the
 * SHA-256 of the message's canonical JSON — the bytes members order as the input's body. The
 * sender signs with its own vat key, so any member checks it with the public key read off
 * `from` (a solo VatID) and may vote for a message it has not received itself (ordering/batch.ts,
 * "Unseen inputs"); a sender that gives members different messages under one seq gets at most
 * one of them ordered. A quorum sender (another quorum vat) has no single key: its inputs carry
 * no auth, and members wait until the message reached them through their client layer.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { Sign } from '../../vattp/signing.ts';
import { isQuorumVatId } from '../config.ts';
import type { Input } from '../ordering/types.ts';
import { digestHex, statementBytes, verifyMemberSignature } from '../signatures.ts';

/** The bytes a message is ordered as (Input.body): its canonical JSON in UTF-8. */
export function messageBody(msg: VatMessage): Uint8Array {
  return new Uint8Array(Buffer.from(canonicalJson(msg), 'utf8'));
}

/** What the sender signs for message `seq` (with body digest `digest`, hex) to `quorum`. */
export function inputStatement(
  quorum: VatId,
  from: VatId,
  seq: number,
  digest: string,
): Uint8Array {
  return statementBytes('input', { quorum, from, seq, digest });
}

/** The sender's auth for one message to `quorum` (the client layer attaches it to the frame). */
export function signInput(
  sign: Sign,
  quorum: VatId,
  from: VatId,
  seq: number,
  msg: VatMessage,
): Uint8Array {
  return sign(inputStatement(quorum, from, seq, digestHex(messageBody(msg))));
}

/**
 * The member's check of an input's auth (ReplicaOptions.authenticateInput): true only if the
 * input's sender signed exactly this (quorum, seq, body). Never throws.
 */
export function authenticateInput(quorum: VatId): (input: Input) => boolean {
  return (input) => {
    if (input.kind !== 'message' || input.auth === undefined) return false;
    if (isQuorumVatId(input.from)) return false;
    const statement = inputStatement(quorum, input.from, input.seq, digestHex(input.body));
    return verifyMemberSignature(input.from, statement, input.auth);
  };
}
