import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import {
  assertScriptLog,
  FAMILY,
  randomScript,
  type Step,
  type Where,
  within,
} from '../kernel/eorder-scripts.ts';
import { threeNodesAndDriver } from './nodes.ts';

// The E-order family of test/kernel/eorder-home.test.ts across three real vat node processes
// (VatTP over libp2p, durable stores): a promise resolving to the sender's object, the
// receiver's or a third vat's, with sends before, during and after the resolution.
test('three vat node processes: E-order and exactly-once when a promise resolves home, to the receiver or to a third vat', async (t) => {
  const {
    nodes,
    k,
    roots: [aRoot, bRoot, cRoot],
  } = await threeNodesAndDriver(t, 'eorder.js');
  const b = new HostRef(bRoot!);
  const c = new HostRef(cRoot!);

  // The case.
  const home = await within(k.call(aRoot!, 'homeAfterPing', [b]), 60_000, 'homeAfterPing');
  assert.deepEqual(home, { rejected: false, value: [1, 2] });

  const run = async (where: Where, steps: readonly Step[], label: string) => {
    const what = `${label}, ${where}: ${JSON.stringify(steps)}`;
    const r = await within(k.call(aRoot!, 'run', [b, c, where, steps]), 120_000, what);
    assert.equal(r.rejected, false, `${what}: ${JSON.stringify(r.value)}`);
    assertScriptLog(r.value, steps, what);
  };
  for (const [label, steps] of Object.entries(FAMILY)) {
    for (const where of ['home', 'receiver', 'third'] as const) await run(where, steps, label);
  }
  for (let seed = 1; seed <= 3; seed++) {
    const steps = randomScript(seed, 30);
    for (const where of ['home', 'receiver', 'third'] as const) {
      await run(where, steps, `seed ${seed}`);
    }
  }
  // Nothing went wrong quietly or loudly: no warning or error in any node's log.
  for (const n of nodes) {
    const bad = n.logs.filter((l) => (l['level'] as number) >= 40);
    assert.deepEqual(bad, [], `warnings or errors in ${n.vatId}'s log`);
  }
});
