import 'ses';
import '@endo/eventual-send/shim.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';

lockdown({ errorTaming: 'safe' });
const { makeMarshal } = await import('@endo/marshal');
const { Far } = await import('@endo/far');
const { decodeHost, encodeHost, HostError, HostRef } = await import('./hostcaps.ts');

// The reference encoder: @endo/marshal smallcaps, with slots named by our vrefs.
const refs = new Map<string, object>();
const slotOf = new Map<object, string>();
const ref = (vref: string) => {
  if (!refs.has(vref)) {
    const r = vref.startsWith('p') ? Promise.resolve() : Far('ref', {});
    refs.set(vref, r);
    slotOf.set(r, vref);
  }
  return refs.get(vref)!;
};
const m = makeMarshal(
  (v: object) => slotOf.get(v)!,
  (s: string) => ref(s),
  { serializeBodyFormat: 'smallcaps', errorTagging: 'off' },
);

const cases: [string, unknown, unknown][] = [
  [
    'numbers',
    [1, -0, 2.5, Number.NaN, Infinity, -Infinity],
    [1, -0, 2.5, Number.NaN, Infinity, -Infinity],
  ],
  ['strings', ['plain', '!bang', '#hash', '$dollar', '-minus', '', '.'], null],
  ['bigint', [0n, 5n, -7n, 2n ** 70n], null],
  ['records', { b: 1, a: { c: [null, true, undefined] } }, null],
  [
    'refs',
    [new HostRef('o+1', 'Alleged: ref'), new HostRef('o-2', 'Alleged: ref')],
    [ref('o+1'), ref('o-2')],
  ],
  ['promise', [new HostRef('p+3')], [ref('p+3')]],
];

for (const [name, host, endo] of cases) {
  test(`host encoding matches @endo/marshal: ${name}`, () => {
    const ours = encodeHost(host);
    const theirs = m.toCapData(harden(endo ?? host) as never);
    assert.deepEqual(ours, { body: theirs.body, slots: theirs.slots });
  });
}

test('errors encode like marshal and decode as HostError', () => {
  const ours = encodeHost(new HostError('TypeError', 'bad thing'));
  const theirs = m.toCapData(harden(TypeError('bad thing')));
  assert.deepEqual(JSON.parse(ours.body.slice(1)), JSON.parse(theirs.body.slice(1)));
  assert.deepEqual(decodeHost(theirs), new HostError('TypeError', 'bad thing'));
});

test('decoding round-trips and rejects malformed bodies', () => {
  const v = { list: [1, 'two', '!three', 4n, undefined, new HostRef('o-1', 'Alleged: x')] };
  assert.deepEqual(decodeHost(encodeHost(v)), v);
  assert.throws(() => decodeHost({ body: '[1]', slots: [] }), /smallcaps/);
  assert.throws(() => decodeHost({ body: '#"$4.x"', slots: [] }), /slot 4/);
  assert.throws(() => decodeHost({ body: '#"#bogus"', slots: [] }), /unknown constant/);
});
