import 'ses';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moduleToScript } from './module-to-script.ts';

lockdown({ errorTaming: 'safe' });

const far = harden({ E: 'E', Far: 'Far', passStyleOf: 'passStyleOf' });
const run = (source: string) =>
  new Compartment({
    __options__: true,
    globals: { $qv_import: harden((s: string) => (s === '@endo/far' ? far : undefined)) },
  }).evaluate(moduleToScript(source)) as Record<string, unknown>;

test('imports from @endo/far become constants; every export form is collected', () => {
  const ns = run(`
    import { E, Far as F } from '@endo/far';
    import * as all from '@endo/far';
    export function buildRootObject() { return [E, F, all.passStyleOf]; }
    export const a = 1, b = 2;
    const c = 3;
    export { c, c as d };
    export default 42;
  `);
  assert.deepEqual(Object.keys(ns).sort(), ['a', 'b', 'buildRootObject', 'c', 'd', 'default']);
  assert.deepEqual((ns['buildRootObject'] as () => unknown)(), ['E', 'Far', 'passStyleOf']);
  assert.deepEqual([ns['a'], ns['b'], ns['c'], ns['d'], ns['default']], [1, 2, 3, 3, 42]);
  assert.ok(Object.isFrozen(ns));
});

test('default exports of functions and classes, named or not', () => {
  assert.equal((run('export default function f() { return 1; }')['default'] as () => number)(), 1);
  assert.equal((run('export default function () { return 2; }')['default'] as () => number)(), 2);
  assert.equal(typeof run('export default class {}')['default'], 'function');
});

test('line numbers are kept', () => {
  const script = moduleToScript("import { E } from '@endo/far';\nexport const x = 1;\nfoo();");
  assert.equal(script.split('\n')[2], 'foo();');
});

for (const [what, source, pattern] of [
  ['another module', "import fs from 'node:fs';", /module node:fs is not available inside a vat/],
  ['a default import', "import far from '@endo/far';", /default import/],
  ['a re-export', "export { E } from '@endo/far';", /re-exporting/],
  ['export *', "export * from '@endo/far';", /re-exporting/],
  ['top-level await', 'await 1; export const x = 1;', /top-level await/],
  ['top-level for await', 'for await (const x of []) {}', /top-level await/],
  ['a destructuring export', 'export const { a } = { a: 1 };', /destructuring/],
  ['a syntax error', 'export const = 1;', /1:\d+: Unexpected token/],
] as const) {
  test(`refuses ${what} with its position`, () => {
    assert.throws(() => moduleToScript(source), pattern);
  });
}

test('await inside functions is fine', () => {
  assert.equal(typeof run('export const f = async () => { await 1; };')['f'], 'function');
});
