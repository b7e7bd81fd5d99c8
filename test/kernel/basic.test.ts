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

test('E.sendOnly sends without a result promise; E.when reacts to an eventual result', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const bRoot = new HostRef(introduce(a!, b!));
  net.batches.length = 0;
  assert.deepEqual(await a!.call('o+0', 'sendOnlyIncr', [bRoot, 4]), {
    rejected: false,
    value: 'sent',
  });
  await Promise.all([a!.idle(), b!.idle()]);
  const sends = a!.transcript.entries.flatMap((e) => (e.outcome.ok ? e.outcome.syscalls : []));
  const incr = sends.find((s) => s.type === 'send' && s.method === 'incr');
  assert.ok(incr && incr.type === 'send' && incr.result === null, 'no result promise was sent');
  assert.deepEqual(await a!.call('o+0', 'callPeer', [bRoot, 'incr', 0]), {
    rejected: false,
    value: 4,
  });
  assert.deepEqual(await a!.call('o+0', 'whenDoubled', [bRoot, 1]), { rejected: false, value: 10 });
});
