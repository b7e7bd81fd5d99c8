import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostError, HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { ProtocolError } from '../../vat-node/src/protocol/errors.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

test('errors propagate as rejections, locally and across vats', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const bRoot = new HostRef(introduce(a!, b!));
  assert.deepEqual(await a!.call('o+0', 'fail', ['local boom']), {
    rejected: true,
    value: new HostError('Error', 'local boom'),
  });
  assert.deepEqual(await a!.call('o+0', 'callPeer', [bRoot, 'fail', 'remote boom']), {
    rejected: true,
    value: new HostError('Error', 'remote boom'),
  });
  const missing = await a!.call('o+0', 'callPeer', [bRoot, 'noSuchMethod']);
  assert.equal(missing.rejected, true);
  assert.match((missing.value as HostError).message, /noSuchMethod/);
  // The vats keep serving.
  assert.deepEqual(await a!.call('o+0', 'callPeer', [bRoot, 'incr', 1]), {
    rejected: false,
    value: 1,
  });
});

test('unpassable arguments are refused at the sender with a clear error', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const bRoot = new HostRef(introduce(a!, b!));
  for (const kind of ['function', 'map', 'symbol']) {
    const r = await a!.call('o+0', 'sendUnpassable', [bRoot, kind]);
    assert.equal(r.rejected, true, kind);
    assert.match((r.value as HostError).message, /pass|Remotable|Symbol|symbol|Map/, kind);
  }
  assert.equal(
    net.batches.filter((x) => x.from === 'A' && x.ops.length > 0).length,
    0,
    'nothing sent',
  );
});

test('a peer cannot name an object it was not given', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const args = { body: '#[]', slots: [] };
  // M (a peer with no kernel on this network) was never granted anything by B.
  assert.throws(
    () => b!.receive('M', 1, { op: 'deliver', target: 'o-1', method: 'incr', args, result: null }),
    (e: unknown) => e instanceof ProtocolError && /unknown c-list index o-1/.test(e.message),
  );
  assert.throws(
    () => b!.receive('M', 2, { op: 'deliver', target: 'p-7', method: 'x', args, result: null }),
    ProtocolError,
  );
  assert.throws(() => b!.receive('M', 9, { op: 'echoed', token: 1 }), /seq gap/);
  assert.equal(b!.receive('M', 1, { op: 'echoed', token: 1 }), 'duplicate');
  // Still serving: a proper introduction works.
  const bRoot = new HostRef(introduce(a!, b!));
  assert.deepEqual(await a!.call('o+0', 'callPeer', [bRoot, 'incr', 2]), {
    rejected: false,
    value: 2,
  });
  const messages = b!.transcript.entries.filter((e) => e.delivery.type === 'message');
  assert.equal(messages.length, 1, 'only the real message reached the vat');
});
