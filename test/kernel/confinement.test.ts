import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, startVats } from './harness.ts';

test('every known escape route from the vat is closed', async (t) => {
  const [v] = await startVats(new LocalNetwork(), ['V'], contract('escapes.js'));
  t.after(() => v!.close());
  const r = await v!.call('o+0', 'probe', []);
  assert.equal(r.rejected, false);
  const report = r.value as Record<string, string>;
  assert.equal(Object.keys(report).length, 25);
  const open = Object.entries(report).filter(([, outcome]) => !outcome.startsWith('closed: '));
  assert.deepEqual(open, [], `open routes: ${JSON.stringify(open)}`);
});

for (const [what, source, pattern] of [
  ['dynamic import', `export const buildRootObject = () => import('node:fs');`, /import/],
  [
    'a host module',
    `import fs from 'node:fs'; export const buildRootObject = () => fs;`,
    /node:fs is not available/,
  ],
  [
    'a reserved name',
    `const $qv_meter = {}; export const buildRootObject = () => $qv_meter;`,
    /\$qv_/,
  ],
  ['direct eval', `export const buildRootObject = () => eval('1');`, /eval/],
  ['a syntax error', `export const buildRootObject = () => {`, /1:39: Unexpected token/],
  ['no buildRootObject', `export const x = 1;`, /buildRootObject/],
  ['top-level infinite loop', `for (;;) {} export const buildRootObject = () => 1;`, /gas/],
] as const) {
  test(`a contract with ${what} is refused with a clear error`, async () => {
    await assert.rejects(
      Kernel.create(
        { vatId: 'X', vatName: 'x', contractSource: source, gasLimit: 10_000 },
        new LocalNetwork().transport(),
      ),
      pattern,
    );
  });
}
