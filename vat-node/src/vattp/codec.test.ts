import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../protocol/errors.ts';
import {
  MAX_FRAME_BYTES,
  MAX_OUTBOUND_MESSAGE_BYTES,
  type Sequenced,
  type VatMessage,
} from '../protocol/messages.ts';
import {
  canonicalJson,
  decodeHello,
  decodeWire,
  encodeFrame,
  encodeHello,
  encodeSequenced,
  type Frame,
  MAX_AUTH_SIGNATURES,
  MAX_WIRE_BYTES,
  packFrames,
  signFrame,
  verifyFrame,
} from './codec.ts';
import { VATTP_DEFAULTS } from './defaults.ts';
import { ephemeralIdentity } from './identity.ts';

const alice = await ephemeralIdentity();
const bob = await ephemeralIdentity();
const SESSION = '00112233445566778899aabbccddeeff';

const sampleMessages: VatMessage[] = [
  {
    op: 'deliver',
    target: 'o-1',
    method: 'deposit',
    args: { body: '#[10,"é\\u2028😀"]', slots: ['o+3', 'p-7'] },
    result: 'p+4',
  },
  { op: 'deliver', target: 'p-2', method: null, args: { body: '#[]', slots: [] }, result: null },
  {
    op: 'resolve',
    resolutions: [
      { promise: 'p+4', rejected: false, value: { body: '#"ok"', slots: [] }, received: 2 },
      { promise: 'p-9', rejected: true, value: { body: '#{"x":1}', slots: ['o-1'] }, received: 0 },
    ],
  },
  { op: 'echo', target: 'o-1', token: 17 },
  { op: 'echoed', token: 0 },
  { op: 'drop', refs: ['o-1', 'p+12345678901'] },
];

function sequenced(first: number, msgs: readonly VatMessage[]): Sequenced[] {
  return msgs.map((msg, i) => ({ seq: first + i, msg }));
}

function sampleFrame(overrides: Partial<Frame> = {}): Frame {
  return {
    from: alice.vatId,
    to: bob.vatId,
    session: SESSION,
    ack: 41,
    messages: sequenced(5, sampleMessages),
    ...overrides,
  };
}

function wire(f: Frame, sign = alice.sign): Uint8Array {
  return signFrame(encodeFrame(f), sign);
}

/** Signs arbitrary body text as if it were a frame: to test the decoder's canonical checks. */
function rawWire(body: string): Uint8Array {
  const b = Buffer.from(body, 'utf8');
  return signFrame(Uint8Array.from([0x51, 0x56, 0x54, 0x50, 0x46, 1, ...b]), alice.sign);
}

function bodyOf(f: Frame): string {
  return Buffer.from(encodeFrame(f).subarray(6)).toString('utf8');
}

test('round trip: decode(encode(frame)) is the frame, re-encoding is byte-identical, it verifies', () => {
  const f = sampleFrame();
  const w = wire(f);
  const d = decodeWire(w);
  assert.deepEqual(d.frame, f);
  assert.deepEqual(encodeFrame(d.frame), d.signed);
  assert.ok(verifyFrame(d));
  assert.equal(bodyOf(f), canonicalJson(f));
});

test('the body is canonical JSON with sorted keys and no whitespace', () => {
  const body = bodyOf(sampleFrame({ messages: sequenced(1, [{ op: 'echoed', token: 3 }]) }));
  assert.equal(
    body,
    `{"ack":41,"from":"${alice.vatId}","messages":[{"msg":{"op":"echoed","token":3},"seq":1}],"session":"${SESSION}","to":"${bob.vatId}"}`,
  );
});

/** canonicalJson as the header defines it, piece by piece (the reference for its fast path). */
function referenceJson(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0 || Object.is(v, -0)) throw new TypeError('number');
    return String(v);
  }
  if (v === null) return 'null';
  if (typeof v !== 'object') throw new TypeError('not plain data');
  if (Array.isArray(v)) return `[${v.map(referenceJson).join(',')}]`;
  const r = v as Record<string, unknown>;
  return `{${Object.keys(r)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${referenceJson(r[k])}`)
    .join(',')}}`;
}

test('canonicalJson: the same text whether keys come sorted or not, and the same refusals', () => {
  const same: unknown[] = [
    { b: 1, a: 2 },
    { a: 2, b: 1 },
    { 10: 1, 9: 2, a: [] },
    { z: { y: [{ d: 1, c: 'x' }], a: null }, a: true },
    JSON.parse('{"a":{"b":[1,{"c":"\\u0000\\ud800é"}]},"b":""}'),
    Object.assign(Object.create(null), { b: 1, a: 2 }),
    { toJSON: 'a string, not a method', a: 1 },
    { a: new Date(0), b: [new String('ab')] }, // not plain: own keys only, as before
    ['x', [], {}, 0, Number.MAX_SAFE_INTEGER],
    '\ud800',
  ];
  for (const v of same) assert.equal(canonicalJson(v), referenceJson(v), JSON.stringify(v));
  const sortedCopy = JSON.parse(referenceJson(same[3]));
  assert.equal(canonicalJson(sortedCopy), referenceJson(same[3]));
  for (const bad of [
    -0,
    -1,
    1.5,
    2 ** 53,
    undefined,
    () => 1,
    1n,
    [undefined],
    { a: undefined },
    { b: 1, a: -1 },
    [[{ a: 0.5 }]],
  ]) {
    assert.throws(() => canonicalJson(bad), TypeError, String(bad));
  }
  // A toJSON method is never called (JSON.stringify would): a function is not plain data.
  assert.throws(() => canonicalJson({ a: { toJSON: () => 'x' } }), TypeError);
  assert.equal(canonicalJson(Object.assign([1], { toJSON: () => 'x' })), '[1]'); // elements only
});

test('non-canonical encodings of a valid frame are rejected', () => {
  const f = sampleFrame({ messages: sequenced(1, [{ op: 'echoed', token: 3 }]) });
  const body = bodyOf(f);
  const variants = [
    ` ${body}`,
    `${body}\n`,
    body.replace('"ack":41', '"ack":41.0'),
    body.replace('"ack":41', '"ack":4.1e1'),
    body.replace('"token":3', '"token":3,"token":3'),
    body.replace('{"ack":41,"from"', '{"from"').replace(',"messages"', ',"ack":41,"messages"'),
    body.replace('"op":"echoed"', '"op":"\\u0065choed"'),
    `\ufeff${body}`,
    body.replace('"token":3', '"token":3,"extra":1'),
  ];
  for (const v of variants) {
    assert.notEqual(v, body);
    assert.throws(() => decodeWire(rawWire(v)), ProtocolError, v);
  }
  assert.deepEqual(decodeWire(rawWire(body)).frame, f);
});

test('strict field validation: each bad field is a ProtocolError with a reason', () => {
  const cases: Array<[string, Partial<Frame> | string]> = [
    ['bad ref', { messages: sequenced(1, [{ op: 'echo', target: 'o+0', token: 1 }]) }],
    ['bad ref sign', { messages: sequenced(1, [{ op: 'echo', target: 'o*1', token: 1 }]) }],
    ['leading zero', { messages: sequenced(1, [{ op: 'drop', refs: ['o-01'] }]) }],
    ['huge ref', { messages: sequenced(1, [{ op: 'drop', refs: ['o-99999999999999999'] }]) }],
    [
      'result not a promise',
      {
        messages: sequenced(1, [
          {
            op: 'deliver',
            target: 'o-1',
            method: 'm',
            args: { body: '', slots: [] },
            result: 'o+1',
          },
        ]),
      },
    ],
    ['empty drop', { messages: sequenced(1, [{ op: 'drop', refs: [] }]) }],
    ['unknown op', { messages: sequenced(1, [{ op: 'launch' } as unknown as VatMessage]) }],
    ['seq 0', { messages: sequenced(0, [{ op: 'echoed', token: 1 }]) }],
    [
      'seq gap',
      {
        messages: [
          { seq: 1, msg: { op: 'echoed', token: 1 } },
          { seq: 3, msg: { op: 'echoed', token: 1 } },
        ],
      },
    ],
    ['session', { session: 'abc' }],
    ['vatid', { to: 'not/a/vat' }],
  ];
  for (const [name, c] of cases) {
    const body = typeof c === 'string' ? c : canonicalJson(sampleFrame(c));
    assert.throws(() => decodeWire(rawWire(body)), ProtocolError, name);
  }
  const negAck = bodyOf(sampleFrame()).replace('"ack":41', '"ack":-1');
  assert.throws(() => decodeWire(rawWire(negAck)), /frame\.ack/);
  const bigAck = bodyOf(sampleFrame()).replace('"ack":41', '"ack":9007199254740993');
  assert.throws(() => decodeWire(rawWire(bigAck)), /frame\.ack/);
});

test('signature: wrong key, other recipient, tampered bytes', () => {
  const good = wire(sampleFrame());
  assert.equal(verifyFrame(decodeWire(wire(sampleFrame(), bob.sign))), false);
  // Re-addressing a frame to another vat breaks the signature: `to` is covered.
  const readdressed = encodeFrame(sampleFrame({ to: alice.vatId }));
  const spliced = new Uint8Array([...readdressed, ...good.subarray(good.length - 64)]);
  assert.equal(verifyFrame(decodeWire(spliced)), false);
  // A frame claiming a non-Ed25519 or nonsense sender cannot verify.
  assert.throws(() => verifyFrame(decodeWire(wire(sampleFrame({ from: 'abc' })))), ProtocolError);
});

test('size limit: a wire message over 1 MiB is rejected before parsing', () => {
  assert.throws(() => decodeWire(new Uint8Array(MAX_WIRE_BYTES + 1)), /larger than/);
});

test('packFrames splits by size, keeps order, and every frame verifies', () => {
  const many = sequenced(
    1,
    Array.from({ length: 500 }, (_, i) => ({
      op: 'deliver' as const,
      target: 'o-1',
      method: 'put',
      args: { body: `#[${i},"${'x'.repeat(100)}"]`, slots: [] },
      result: null,
    })),
  );
  const { frames: packed, oversized } = packFrames(
    { from: alice.vatId, to: bob.vatId, session: SESSION, ack: 7 },
    many,
    alice.sign,
    8192,
  );
  assert.ok(packed.length > 5);
  const seen: number[] = [];
  for (const p of packed) {
    assert.ok(p.wire.length <= 8192);
    const d = decodeWire(p.wire);
    assert.ok(verifyFrame(d));
    assert.equal(d.frame.ack, 7);
    assert.equal(p.lastSeq, d.frame.messages.at(-1)?.seq);
    seen.push(...d.frame.messages.map((m) => m.seq));
  }
  assert.deepEqual(
    seen,
    many.map((m) => m.seq),
  );
  assert.equal(oversized, undefined);
  const { frames: ackOnly } = packFrames(
    { from: alice.vatId, to: bob.vatId, session: SESSION, ack: 9 },
    [],
    alice.sign,
  );
  assert.equal(ackOnly.length, 1);
  assert.equal(ackOnly[0]?.lastSeq, undefined);
  assert.deepEqual(decodeWire(ackOnly[0]!.wire).frame.messages, []);
  const stuck = packFrames(
    { from: alice.vatId, to: bob.vatId, session: SESSION, ack: 0 },
    many,
    alice.sign,
    300,
  );
  assert.equal(stuck.frames.length, 1, 'the ack still goes out');
  assert.equal(stuck.frames[0]?.lastSeq, undefined);
  assert.equal(stuck.oversized?.seq, 1);
});

test('a message as large as the kernel queues fits one frame, whatever the frame fields', () => {
  // The kernel refuses messages over MAX_OUTBOUND_MESSAGE_BYTES (kernel/message-size.ts);
  // here the frame around one such message, at its largest: VatIDs of the longest length
  // accepted, the largest ack and seq.
  const longestId = 'V'.repeat(128);
  const fields = { from: longestId, to: longestId, session: SESSION, ack: Number.MAX_SAFE_INTEGER };
  const shell: Sequenced = {
    seq: Number.MAX_SAFE_INTEGER,
    msg: {
      op: 'deliver',
      target: 'o-1',
      method: null,
      args: { body: '', slots: [] },
      result: null,
    },
  };
  const room = MAX_OUTBOUND_MESSAGE_BYTES - Buffer.byteLength(encodeSequenced(shell));
  const largest: Sequenced = {
    ...shell,
    msg: { ...shell.msg, args: { body: 'x'.repeat(room), slots: [] } } as VatMessage,
  };
  assert.equal(Buffer.byteLength(encodeSequenced(largest)), MAX_OUTBOUND_MESSAGE_BYTES);
  const { frames, oversized } = packFrames(fields, [largest], alice.sign, MAX_FRAME_BYTES);
  assert.equal(oversized, undefined);
  assert.equal(frames.length, 1);
  assert.ok(frames[0]!.wire.length <= MAX_FRAME_BYTES);
  assert.equal(VATTP_DEFAULTS.maxFrameBytes, MAX_FRAME_BYTES, 'one limit, shared with the kernel');
});

test('hello round trip and rejection', () => {
  const nonce = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
  assert.equal(decodeHello(encodeHello(nonce)), SESSION);
  assert.throws(() => decodeHello(encodeHello(nonce).subarray(1)), ProtocolError);
  assert.throws(() => decodeHello(wire(sampleFrame())), ProtocolError);
});

/** Deterministic PRNG so a fuzz failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function neverVerifies(bytes: Uint8Array, label: string): void {
  let decoded: ReturnType<typeof decodeWire>;
  try {
    decoded = decodeWire(bytes);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `${label}: threw ${String(err)}`);
    return;
  }
  let ok: boolean;
  try {
    ok = verifyFrame(decoded);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `${label}: verify threw ${String(err)}`);
    return;
  }
  assert.equal(ok, false, `${label}: a mutated frame verified`);
}

test('fuzz: random bytes, truncations and byte flips only ever give ProtocolError or a failed verify', () => {
  const rand = prng(20261124);
  const small = wire(sampleFrame());
  const valid = [
    small,
    wire(sampleFrame({ messages: [], ack: 0 })),
    wire(sampleFrame({ messages: sequenced(1, [{ op: 'echoed', token: 1 }]) })),
  ];
  for (const w of valid) assert.ok(verifyFrame(decodeWire(w)));
  let cases = 0;
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rand() * 600);
    const bytes = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
    if (i % 3 === 0 && len >= 6) bytes.set([0x51, 0x56, 0x54, 0x50, 0x46, 1]); // get past the header
    neverVerifies(bytes, `random #${i}`);
    cases++;
  }
  for (const w of valid) {
    for (let cut = 0; cut < w.length; cut++) {
      neverVerifies(w.subarray(0, cut), `truncated at ${cut}`);
      cases++;
    }
    for (let pos = 0; pos < w.length; pos++) {
      const flipped = w.slice();
      flipped[pos] = (flipped[pos] ?? 0) ^ (1 << Math.floor(rand() * 8));
      neverVerifies(flipped, `bit flip at ${pos}`);
      const replaced = w.slice();
      replaced[pos] = Math.floor(rand() * 256);
      if (replaced[pos] !== w[pos]) neverVerifies(replaced, `byte replaced at ${pos}`);
      cases += 2;
    }
  }
  assert.ok(cases > 5000);
});

test('auth: a message may carry its sender signature; it round-trips and is covered by the frame signature', () => {
  const auth = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 3) & 0xff);
  const text = Buffer.from(auth).toString('base64url');
  const f = sampleFrame({
    messages: [
      { seq: 1, msg: { op: 'echoed', token: 3 }, auth },
      { seq: 2, msg: { op: 'echoed', token: 4 } },
    ],
  });
  const body = bodyOf(f);
  assert.equal(
    body,
    `{"ack":41,"from":"${alice.vatId}","messages":[{"auth":"${text}","msg":{"op":"echoed","token":3},"seq":1},{"msg":{"op":"echoed","token":4},"seq":2}],"session":"${SESSION}","to":"${bob.vatId}"}`,
  );
  const d = decodeWire(wire(f));
  assert.deepEqual(d.frame, f);
  assert.ok(verifyFrame(d));
  const packed = packFrames(
    { from: alice.vatId, to: bob.vatId, session: SESSION, ack: 0 },
    f.messages,
    alice.sign,
  );
  assert.deepEqual(decodeWire(packed.frames[0]!.wire).frame.messages, f.messages);
  assert.throws(
    () => encodeFrame(sampleFrame({ messages: [{ ...f.messages[0]!, auth: auth.subarray(1) }] })),
    TypeError,
  );
});

test('auth: every non-canonical or malformed auth is refused', () => {
  const auth = new Uint8Array(64).fill(0xfb);
  const text = Buffer.from(auth).toString('base64url');
  const good = bodyOf(
    sampleFrame({ messages: [{ seq: 1, msg: { op: 'echoed', token: 3 }, auth }] }),
  );
  assert.deepEqual(decodeWire(rawWire(good)).frame.messages[0]?.auth, auth);
  // The last base64url character of 64 bytes carries 2 spare bits: a non-zero one is another text for the same bytes.
  const alias = `${text.slice(0, 85)}${text[85] === '-' ? '_' : '-'}`;
  const variants = [
    good.replace(`"${text}"`, 'null'),
    good.replace(`"${text}"`, '""'),
    good.replace(`"${text}"`, `"${text}="`),
    good.replace(`"${text}"`, `"${text.slice(1)}"`),
    good.replace(`"${text}"`, `"${text}AA"`),
    good.replace(`"${text}"`, `"${Buffer.from(auth).toString('base64')}"`),
    good.replace(`"${text}"`, `"${alias}"`),
    good.replace(`"${text}"`, '7'),
    good.replace(`"auth":"${text}",`, `"auth":"${text}","extra":1,`),
  ];
  for (const v of variants) {
    assert.notEqual(v, good);
    assert.throws(() => decodeWire(rawWire(v)), ProtocolError, v);
  }
});

test("auth: a member host's several signatures (1 to MAX_AUTH_SIGNATURES of 64 bytes) round-trip; other lengths are refused", () => {
  for (const count of [1, 2, 5, MAX_AUTH_SIGNATURES]) {
    const auth = Uint8Array.from({ length: 64 * count }, (_, i) => (i * 13 + count) & 0xff);
    const f = sampleFrame({ messages: [{ seq: 1, msg: { op: 'echoed', token: 3 }, auth }] });
    assert.deepEqual(decodeWire(wire(f)).frame.messages[0]?.auth, auth, `${count} signatures`);
  }
  for (const bytes of [63, 65, 127, 64 * (MAX_AUTH_SIGNATURES + 1)]) {
    const auth = new Uint8Array(bytes).fill(7);
    assert.throws(
      () =>
        encodeFrame(sampleFrame({ messages: [{ seq: 1, msg: { op: 'echoed', token: 3 }, auth }] })),
      TypeError,
    );
    const text = Buffer.from(auth).toString('base64url');
    const good = bodyOf(
      sampleFrame({
        messages: [{ seq: 1, msg: { op: 'echoed', token: 3 }, auth: new Uint8Array(64) }],
      }),
    );
    const bad = good.replace(
      `"${Buffer.from(new Uint8Array(64)).toString('base64url')}"`,
      `"${text}"`,
    );
    assert.throws(() => decodeWire(rawWire(bad)), ProtocolError, `${bytes} bytes`);
  }
});
