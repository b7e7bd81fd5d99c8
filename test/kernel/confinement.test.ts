import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, startVats } from './harness.ts';
import { TestWorker } from './worker-harness.ts';

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

// Gas is deterministic only if every line that runs went through the gas pass. Under the
// issue's 20,000 gas limit, a route that runs code the pass never saw would finish a
// 5,000,000-iteration loop.
const GAS = 20_000;
const escapes = contract('gas-escapes.js');
/** What a refused route says: our thrower, SES's inert constructors, or a missing global. */
const REFUSED = new RegExp(
  [
    'TypeError: \\w+ is not available inside a vat', // our throwers (evaluators, lockdown)
    'TypeError: [\\w.]+ is not a valid constructor', // SES's inert Function constructors
    'ContractLoadError: module \\w+ is not available inside a vat',
    // Globals a vat does not have at all (SES reads an unknown name as undefined):
    'TypeError: (ModuleSource|StaticModuleRecord) is not a constructor',
    "TypeError: Cannot read properties of undefined \\(reading 'compile'\\)", // WebAssembly
    'TypeError: no accessors on the @endo/far namespace',
  ]
    .map((p) => `^closed: ${p}`)
    .join('|'),
);

test('no way to evaluate code the gas pass has not seen: each route is refused with a clear error', async (t) => {
  const w = await TestWorker.start(escapes, GAS);
  t.after(() => w.close());
  const routes = (await w.call('evaluators')).value as string[];
  assert.ok(routes.length >= 40, `${routes.length} routes`);
  const wrong: string[] = [];
  for (const route of routes) {
    const r = await w.call('evaluate', route);
    const said = r.outcome.ok ? String(r.value) : `crank failed: ${r.outcome.error}`;
    if (!REFUSED.test(said)) wrong.push(`${route}: ${said}`);
  }
  assert.deepEqual(wrong, [], `routes not refused:\n${wrong.join('\n')}`);
  // The evaluators themselves say why (the others are SES's inert constructors).
  for (const [route, name] of [
    ['newCompartmentEvaluate', 'Compartment'],
    ['compartmentWithoutNew', 'Compartment'],
    ['functionGlobal', 'Function'],
    ['indirectEval', 'eval'],
    ['optionalCallEval', 'eval'],
  ]) {
    const r = await w.call('evaluate', route);
    assert.equal(
      r.value,
      `closed: TypeError: ${name} is not available inside a vat (code it runs would escape gas metering)`,
    );
  }
});

test("no function reachable from a vat's globals or @endo/far evaluates code", async (t) => {
  const w = await TestWorker.start(escapes, 10_000_000);
  t.after(() => w.close());
  const r = await w.call('crawl');
  assert.equal(r.outcome.ok, true, r.outcome.ok ? '' : r.outcome.error);
  assert.match(
    String(r.value),
    /^closed: TypeError: none of \d+ reachable objects evaluates code$/,
  );
  assert.ok(Number(/none of (\d+)/.exec(String(r.value))![1]) > 500, String(r.value));
});

test('contract code the runtime calls back is metered: every such route stops at the gas limit, with the same gas on a fresh worker', async (t) => {
  const [a, b] = await Promise.all([
    TestWorker.start(escapes, GAS),
    TestWorker.start(escapes, GAS),
  ]);
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const routes = (await a!.call('meteredRoutes')).value as string[];
  assert.ok(routes.length >= 20, `${routes.length} routes`);
  for (const route of routes) {
    const first = (await a!.call('spin', route)).outcome;
    const again = (await b!.call('spin', route)).outcome;
    assert.equal(first.ok, false, `${route} completed`);
    assert.equal(again.ok, false, `${route} completed`);
    assert.match(first.ok ? '' : first.error, /^gas limit 20000 exceeded$|^stack overflow/, route);
    // An overflow (recursion may hit the stack before the gas limit) costs the whole limit
    // too: how deep a stack reaches depends on V8's frame sizes, not on the contract.
    assert.equal(first.gas, GAS + 1, route);
    assert.deepEqual(again, first, `${route}: same outcome and gas on a fresh worker`);
  }
});

test('a gas limit or worker limit that is not a positive integer is refused, naming the option', async () => {
  const source = contract('counter.js');
  for (const gasLimit of [Number.NaN, 0, -1, 1.5, Number.POSITIVE_INFINITY, 'lots', 2 ** 53]) {
    await assert.rejects(
      Kernel.create(
        { vatId: 'X', vatName: 'x', contractSource: source, gasLimit: gasLimit as number },
        new LocalNetwork().transport(),
      ),
      {
        name: 'RangeError',
        message: `gasLimit must be a positive integer (got ${typeof gasLimit === 'string' ? `"${gasLimit}"` : String(gasLimit)})`,
      },
    );
    await assert.rejects(
      TestWorker.start(source, gasLimit as number),
      /gasLimit must be a positive integer/,
    );
  }
  for (const [limits, pattern] of [
    [{ heapMb: 0 }, /limits.heapMb must be a positive integer \(got 0\)/],
    [
      { crankTimeoutMs: Number.NaN },
      /limits.crankTimeoutMs must be a positive integer \(got NaN\)/,
    ],
    [{ rssMb: -1 }, /limits.rssMb must be a positive integer \(got -1\)/],
    [{ heapMb: 512, rssMb: 256 }, /limits.rssMb \(256\) must exceed limits.heapMb \(512\)/],
    [{ heapMB: 64 }, /limits.heapMB is not a limit/],
  ] as const) {
    await assert.rejects(
      Kernel.create(
        {
          vatId: 'X',
          vatName: 'x',
          contractSource: source,
          gasLimit: 1000,
          limits: limits as never,
        },
        new LocalNetwork().transport(),
      ),
      pattern,
    );
  }
});
