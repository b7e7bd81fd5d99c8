import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

test('a vat answers the host and another vat', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  assert.deepEqual(await a!.call('o+0', 'incr', [5]), { rejected: false, value: 5 });
  const bRoot = introduce(a!, b!);
  const r = await a!.call('o+0', 'callPeer', [new HostRef(bRoot), 'incr', 7]);
  assert.deepEqual(r, { rejected: false, value: 7 });
  const r2 = await a!.call('o+0', 'bangCall', [new HostRef(bRoot), 3]);
  assert.deepEqual(r2, { rejected: false, value: 10 });
});
