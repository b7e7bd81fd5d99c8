/**
 * How large an outbound message will be on the wire, known before the kernel translates it.
 * Translation allocates c-list entries, fresh promises and handoff certificates, which a
 * refused message must not leave behind, so the size is taken from the vat's own form: exact
 * for what the vat controls (body, method), at their longest for the refs (each slot's bound
 * comes from the translator, `CListTranslator.refBytesTo`). The kernel refuses to queue a
 * message over MAX_OUTBOUND_MESSAGE_BYTES (routing.ts): no VatTP frame could carry it, and
 * the transport, which keeps a peer's messages in order, would stall every one behind it.
 */
import { MAX_OUTBOUND_MESSAGE_BYTES, type VatMessage } from '../protocol/messages.ts';
import { encodeSequenced } from '../vattp/codec.ts';

/** The longest c-list index on the wire: `o+` and 15 digits (protocol/refs.ts). */
export const MAX_WIRE_REF_CHARS = 17;
const LONGEST_REF = `p+${'9'.repeat(15)}`;
const LONGEST_SEQ = Number.MAX_SAFE_INTEGER;

/** A message's parts whose size the vat decides. */
export interface OutboundShape {
  readonly op: 'deliver' | 'resolve';
  readonly method?: string | null;
  readonly body: string;
  /** Each slot's longest wire form, in characters (ASCII). */
  readonly slotChars: readonly number[];
}

/** The encoding of each op with an empty body and no slots, refs and numbers at their longest. */
const EMPTY_BYTES = {
  deliver: wireBytes({
    op: 'deliver',
    target: LONGEST_REF,
    method: null,
    args: { body: '', slots: [] },
    result: LONGEST_REF,
  }),
  resolve: wireBytes({
    op: 'resolve',
    resolutions: [
      {
        promise: LONGEST_REF,
        rejected: false,
        value: { body: '', slots: [] },
        received: LONGEST_SEQ,
      },
    ],
  }),
};

function wireBytes(msg: VatMessage): number {
  return Buffer.byteLength(encodeSequenced({ seq: LONGEST_SEQ, msg }), 'utf8');
}

/** UTF-8 bytes of `s` as a JSON string literal, minus its two quotes. */
function stringBytes(s: string): number {
  return Buffer.byteLength(JSON.stringify(s), 'utf8') - 2;
}

/**
 * The most bytes the message takes on the wire, if that is over MAX_OUTBOUND_MESSAGE_BYTES;
 * undefined when it fits (the common case costs no encoding: a JSON-escaped UTF-16 unit is at
 * most 6 bytes).
 */
export function oversizeOf(
  m: OutboundShape,
  limit = MAX_OUTBOUND_MESSAGE_BYTES,
): number | undefined {
  let refs = 0;
  for (const chars of m.slotChars) refs += chars + 3; // quotes and a comma
  const method = m.method ?? 'null';
  const quick = EMPTY_BYTES[m.op] + refs + 6 * (m.body.length + method.length);
  if (quick <= limit) return undefined;
  const methodBytes = m.method == null ? 0 : stringBytes(m.method) + 2 - 4; // replaces `null`
  const bytes = EMPTY_BYTES[m.op] + refs + stringBytes(m.body) + methodBytes;
  return bytes > limit ? bytes : undefined;
}

/** The reason a refused message gives (the rejection of its result, the warning event). */
export function tooLargeReason(what: string, peer: string, bytes: number): string {
  return `${what} to ${peer} is ${bytes} bytes, over the ${MAX_OUTBOUND_MESSAGE_BYTES}-byte limit`;
}
