import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { threeNodesAndDriver } from './nodes.ts';

test('three vat node processes: A introduces B to C, A is killed, B keeps talking to C', async (t) => {
  const {
    nodes: [a, b, c],
    k,
    roots: [aRoot, bRoot, cRoot],
  } = await threeNodesAndDriver(t, 'introducer.js');
  const service = (await k.call(cRoot!, 'service', [])).value as HostRef;
  assert.ok(service instanceof HostRef);

  // The driver hands A references to B and to C's service (two handoffs), and A hands B the
  // service (a third): B's first incr goes straight to C.
  const r = await k.call(aRoot!, 'introduce', [new HostRef(bRoot!), service]);
  assert.deepEqual(r, { rejected: false, value: 1 });

  await a.kill('SIGKILL');
  assert.deepEqual(await k.call(bRoot!, 'use', [10]), { rejected: false, value: 11 });
  // C recognizes its own object when B sends it home: the handoff kept its identity.
  assert.deepEqual(await k.call(bRoot!, 'sendHome', []), { rejected: false, value: true });
  // Nothing went wrong on B or C (quiet logs), even though A vanished.
  for (const n of [b, c]) {
    const bad = n.logs.filter((l) => (l['level'] as number) >= 50);
    assert.deepEqual(bad, [], `errors in ${n.vatId}'s log`);
  }
});

test('three vat node processes: pipelining A→B→C keeps E-order as the promise resolves', async (t) => {
  const {
    k,
    roots: [aRoot, bRoot, cRoot],
  } = await threeNodesAndDriver(t, 'relay.js');
  // 20 pipelined on B's answer, then 20 direct once it resolves to C's log.
  const race = await k.call(aRoot!, 'race', [new HostRef(bRoot!), new HostRef(cRoot!), 20, 40]);
  assert.deepEqual(race, { rejected: false, value: Array.from({ length: 40 }, (_, i) => i + 1) });
  // One at a time, some in flight while the promise resolves (C's log keeps the first 40).
  const trickle = await k.call(aRoot!, 'trickle', [new HostRef(bRoot!), new HostRef(cRoot!), 60]);
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  assert.deepEqual(trickle, { rejected: false, value: [...upTo(40), ...upTo(60)] });
});
