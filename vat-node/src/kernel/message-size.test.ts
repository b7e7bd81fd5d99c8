import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_OUTBOUND_MESSAGE_BYTES, type VatMessage } from '../protocol/messages.ts';
import { encodeSequenced } from '../vattp/codec.ts';
import { MAX_WIRE_REF_CHARS, oversizeOf, tooLargeReason } from './message-size.ts';

const LONGEST = `o+${'9'.repeat(15)}`;
const wire = (msg: VatMessage) =>
  Buffer.byteLength(encodeSequenced({ seq: Number.MAX_SAFE_INTEGER, msg }));

// Bodies with what JSON escapes (quotes, backslashes, controls, U+2028) and multi-byte text.
const bodies = [
  '',
  '#[]',
  '#"plain"',
  '#["\\"q\\"", "\\\\"]',
  '\u0000\u001f\n\t',
  'é€😀\u2028',
  'x'.repeat(5000),
];

test('oversizeOf with limit 0 gives the exact wire size when every ref is at its longest', () => {
  for (const body of bodies) {
    for (const slots of [[], [LONGEST], [LONGEST, LONGEST, LONGEST]]) {
      for (const method of [null, 'm', 'déposé"\n']) {
        const deliver = {
          op: 'deliver',
          target: LONGEST,
          method,
          args: { body, slots },
          result: LONGEST,
        } as const;
        const slotChars = slots.map(() => MAX_WIRE_REF_CHARS);
        const size = oversizeOf({ op: 'deliver', method, body, slotChars }, 0)!;
        // The slot list's last comma is counted though it is not written: one byte over at most.
        assert.ok(size - wire(deliver) === (slots.length > 0 ? 1 : 0), `${method} ${slots.length}`);
        const resolve = {
          op: 'resolve',
          resolutions: [
            {
              promise: LONGEST,
              rejected: false,
              value: { body, slots },
              received: Number.MAX_SAFE_INTEGER,
            },
          ],
        } as const;
        const rsize = oversizeOf({ op: 'resolve', body, slotChars }, 0)!;
        assert.ok(rsize - wire(resolve) === (slots.length > 0 ? 1 : 0));
        // Shorter refs (the usual case) only make the real message smaller.
        const short = {
          ...deliver,
          target: 'o-1',
          result: null,
          args: { body, slots: slots.map(() => 'o+1') },
        };
        assert.ok(wire(short) <= size);
      }
    }
  }
});

test('undefined up to the limit, the size above it', () => {
  const shape = { op: 'deliver' as const, method: 'take', body: '', slotChars: [] };
  const empty = oversizeOf(shape, 0)!;
  const fits = 'x'.repeat(MAX_OUTBOUND_MESSAGE_BYTES - empty);
  assert.equal(oversizeOf({ ...shape, body: fits }), undefined);
  assert.equal(oversizeOf({ ...shape, body: `${fits}x` }), MAX_OUTBOUND_MESSAGE_BYTES + 1);
  // Three bytes per '€': the UTF-8 size counts, not the characters.
  assert.equal(oversizeOf({ ...shape, body: '€'.repeat(fits.length / 3) }), undefined);
  assert.ok(
    oversizeOf({ ...shape, body: '€'.repeat(fits.length / 3 + 1) })! > MAX_OUTBOUND_MESSAGE_BYTES,
  );
  assert.equal(
    tooLargeReason('message', 'B', 300_000),
    `message to B is 300000 bytes, over the ${MAX_OUTBOUND_MESSAGE_BYTES}-byte limit`,
  );
});
