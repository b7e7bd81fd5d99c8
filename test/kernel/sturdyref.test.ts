import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, startVats } from './harness.ts';

test('a sturdyref is redeemed for a live reference, and revoked', async (t) => {
  const net = new LocalNetwork();
  const [a, b, c] = await startVats(net, ['A', 'B', 'C'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close(), c!.close()]));
  const uri = b!.mintSturdyRef('o+0', ['/ip4/127.0.0.1/tcp/4001']);
  const parsed = parseSturdyRef(uri);
  assert.equal(parsed.vatId, 'B');
  assert.deepEqual(parsed.hints, ['/ip4/127.0.0.1/tcp/4001']);

  const bRoot = await a!.redeem(uri);
  assert.match(bRoot, /^o-\d+$/);
  assert.deepEqual(await a!.call('o+0', 'callPeer', [new HostRef(bRoot), 'incr', 5]), {
    rejected: false,
    value: 5,
  });
  // The secret never travelled: no message from A carries it.
  const secret = Buffer.from(parsed.secret).toString('base64url');
  assert.ok(!JSON.stringify(a!.unacked('B', 0)).includes(secret));

  assert.equal(b!.revokeSturdyRef(uri), true);
  await assert.rejects(c!.redeem(uri), /unknown or revoked sturdyref/);
  // A's reference, handed out before the revocation, stays live.
  assert.deepEqual(await a!.call('o+0', 'callPeer', [new HostRef(bRoot), 'incr', 1]), {
    rejected: false,
    value: 6,
  });
});

test('a wrong secret or a forged proof redeems nothing', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const uri = b!.mintSturdyRef('o+0');
  const wrong = uri.replace(/\/s\/(.)/, (_m, ch: string) => `/s/${ch === 'A' ? 'B' : 'A'}`);
  await assert.rejects(a!.redeem(wrong), /unknown or revoked/);
  assert.throws(() => b!.mintSturdyRef('o-1'), /only this vat's objects/);
  await assert.rejects(a!.redeem('https://example/x'), /quorumvat:\/\//);
});
