import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from './errors.ts';
import type { VatMessage } from './messages.ts';
import { vatMessage } from './validate.ts';

const cap = (slots: string[] = []) => ({ body: '#[]', slots });
const CERT = `h:${'A'.repeat(40)}`;

/** One valid message of every op (and every slot form). */
const valid: VatMessage[] = [
  { op: 'deliver', target: 'o-1', method: 'incr', args: cap(['o+3', 'p-7', CERT]), result: 'p+4' },
  { op: 'deliver', target: 'p-2', method: null, args: cap(), result: null },
  { op: 'deliver', target: CERT, method: 'm', args: cap(), result: null },
  {
    op: 'resolve',
    resolutions: [
      { promise: 'p+4', rejected: false, value: cap(['o-1']), received: 2 },
      { promise: 'p-9', rejected: true, value: cap(), received: 0 },
    ],
  },
  { op: 'echo', target: 'p-1', token: 17 },
  { op: 'echoed', token: 0 },
  { op: 'take', cert: CERT, result: 'p+1' },
  { op: 'redeem', key: 'ab'.repeat(32), proof: 'x'.repeat(86), result: 'p+2' },
  { op: 'drop', refs: ['o-1', 'p+12345678901'] },
];

const malformed = (e: unknown) => e instanceof ProtocolError && e.code === 'malformed';

/** Values that are wrong for every field of every message. */
const junk: unknown[] = [
  undefined,
  null,
  true,
  -1,
  1.5,
  Number.NaN,
  2 ** 53,
  '',
  'o+0',
  'x+1',
  'h:',
  {},
  [],
  [null],
  { body: 1, slots: [] },
];

function setPath(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

/** Every leaf and inner field of `v`, as a path from the root. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
  for (const k of keys)
    out.push(...paths((v as Record<string | number, unknown>)[k], [...prefix, k]));
  return out;
}

test('every valid message of every op comes back equal, as a fresh object', () => {
  for (const m of valid) {
    const out = vatMessage(structuredClone(m));
    assert.deepEqual(out, m, m.op);
  }
});

test('a message with an extra, missing or unknown key is malformed', () => {
  for (const m of valid) {
    assert.throws(() => vatMessage({ ...m, extra: 1 }), malformed, `${m.op} + extra`);
    for (const k of Object.keys(m)) {
      assert.throws(() => vatMessage(setPath(m, [k], undefined)), malformed, `${m.op} - ${k}`);
    }
  }
  for (const v of [null, undefined, 7, 'deliver', [], {}, { op: 'nope' }, { op: 'DELIVER' }]) {
    assert.throws(() => vatMessage(v), malformed, String(v));
  }
});

test('fuzz: any field of any message replaced by junk is refused as malformed, or kept if valid there', () => {
  let refused = 0;
  for (const m of valid) {
    for (const path of paths(m)) {
      if (path[0] === 'op') continue;
      for (const bad of junk) {
        const candidate = setPath(m, path, bad);
        let accepted: VatMessage | undefined;
        try {
          accepted = vatMessage(candidate);
        } catch (e) {
          assert.ok(malformed(e), `${m.op} ${path.join('.')}: threw ${String(e)}`);
          refused++;
          continue;
        }
        // A few replacements are valid in that place (null method/result, an empty array
        // where one may be empty, another non-negative integer): then they must survive as is.
        assert.deepEqual(accepted, candidate, `${m.op} ${path.join('.')} = ${String(bad)}`);
      }
    }
  }
  assert.ok(refused > 500, `refused ${refused}`);
});

test('the error names the bad field (prefixed by where)', () => {
  const m = setPath(valid[0], ['args', 'slots', 1], 'p+0');
  assert.throws(() => vatMessage(m, 'messages[3].msg'), /messages\[3\]\.msg\.args\.slots\[1\]/);
});

test('limits: empty lists, long methods and huge bodies are refused', () => {
  assert.throws(() => vatMessage({ op: 'drop', refs: [] }), malformed);
  assert.throws(() => vatMessage({ op: 'resolve', resolutions: [] }), malformed);
  const deliver = valid[1]!;
  assert.throws(() => vatMessage({ ...deliver, method: 'm'.repeat(1025) }), malformed);
  assert.ok(vatMessage({ ...deliver, method: 'm'.repeat(1024) }));
  const huge = { ...deliver, args: { body: 'x'.repeat(1024 * 1024 + 1), slots: [] } };
  assert.throws(() => vatMessage(huge), malformed);
  assert.throws(() => vatMessage({ ...valid[7]!, key: 'AB'.repeat(32) }), malformed);
  assert.throws(() => vatMessage({ ...valid[7]!, proof: 'x'.repeat(85) }), malformed);
  assert.throws(() => vatMessage({ ...valid[4]!, target: CERT }), malformed, 'echo to a cert');
  assert.throws(() => vatMessage({ ...valid[6]!, result: 'o+1' }), malformed, 'take result');
});
