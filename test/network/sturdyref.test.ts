import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { send, startNode } from './nodes.ts';

test('quorumvat send redeems a sturdyref over libp2p; SIGHUP revokes it', async (t) => {
  const b = await startNode('counter.js');
  t.after(() => b.kill());
  const uri = b.sturdyRef();
  assert.ok(uri.startsWith(`quorumvat://${b.vatId}/s/`));
  assert.deepEqual(await send(uri, 'incr', [5]), { code: 0, value: 5 });
  assert.deepEqual(await send(uri, 'fail', ['boom']), {
    code: 1,
    value: { error: 'boom', name: 'Error' },
  });

  b.child.kill('SIGHUP');
  // The rotation is quick; the bound (60 s) only catches one that never happens.
  for (let i = 0; i < 600 && b.sturdyRef() === uri; i++) await sleep(100);
  const fresh = b.sturdyRef();
  assert.notEqual(fresh, uri);
  const revoked = await send(uri, 'incr', [1]);
  assert.equal(revoked.code, 1);
  assert.match(JSON.stringify(revoked.value), /unknown or revoked sturdyref/);
  assert.deepEqual(await send(fresh, 'incr', [1]), { code: 0, value: 6 });
  // Quiet when healthy: no warnings or errors in the node's log.
  assert.deepEqual(
    b.logs.filter((l) => (l['level'] as number) >= 40),
    [],
  );
});

test('knowing the VatID and one bootstrap peer is enough (Kad-DHT)', async (t) => {
  const hub = await startNode('counter.js');
  t.after(() => hub.kill());
  const c = await startNode('counter.js', { bootstrap: hub.addrs });
  t.after(() => c.kill());
  // Strip the address hints: the client knows C's VatID (in the URI) and the hub only.
  const bare = c.sturdyRef().split('?')[0]!;
  assert.deepEqual(await send(bare, 'incr', [7], { bootstrap: hub.addrs }), { code: 0, value: 7 });
});
