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
 * Only solo senders sign: a quorum vat's messages to another quorum have no single key (their
 * receivers combine k members' frames instead), and carry no auth.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import type { Sign } from '../../vattp/signing.ts';
import type { Input } from '../ordering/types.ts';
import { contentDigest, digestHex, statementBytes, verifyMemberSignature } from '../signatures.ts';

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
  return sign(inputStatement(quorum, from, seq, contentDigest(msg)));
}

/**
 * A member's side: true only if `input.auth` is `input.from`'s signature over this input to
 * `quorum`. `input.body` is the canonical JSON bytes of the message (what ordering carries), so
 * its sha256 is the digest the sender signed. Never throws (a non-Ed25519 `from`, a missing or
 * malformed auth are false).
 */
export function verifyInputAuth(
  quorum: VatId,
  input: Pick<Input, 'from' | 'seq' | 'body' | 'auth'>,
): boolean {
  if (input.auth === undefined || !Number.isSafeInteger(input.seq) || input.seq < 1) return false;
  let statement: Uint8Array;
  try {
    statement = inputStatement(quorum, input.from, input.seq, digestHex(input.body));
  } catch {
    return false;
  }
  return verifyMemberSignature(input.from, statement, input.auth);
}

/** The ordering core's AuthenticateInput hook for the members of `quorum`. */
export function authenticateInputFor(quorum: VatId): (input: Input) => boolean {
  return (input) => input.kind === 'message' && verifyInputAuth(quorum, input);
}
