import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

/** owed(peer, after) says whether unacked(peer, after) has anything, for every `after`. */
function assertOwedMatchesUnacked(k: Kernel, peer: string, label: string): void {
  const all = k.unacked(peer, 0);
  const last = all.at(-1)?.seq ?? 0;
  for (let after = 0; after <= last + 2; after++) {
    assert.equal(
      k.owed(peer, after),
      k.unacked(peer, after).length > 0,
      `${label}, after ${after}`,
    );
  }
}

test('KernelPort.owed agrees with unacked: nothing, messages in flight, after the acks', async (t) => {
  const net = new LocalNetwork();
  const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
  t.after(() => Promise.all([a!.close(), b!.close()]));
  const bRoot = new HostRef(introduce(a!, b!));
  assert.equal(a!.owed('B', 0), false, 'nothing sent yet');
  assertOwedMatchesUnacked(a!, 'B', 'fresh');

  // Calls that leave A's cranks but never reach B: committed and unacknowledged.
  net.partitioned = true;
  for (let i = 0; i < 5; i++) {
    void a!.call('o+0', 'callPeer', [bRoot, 'incr', i]).catch(() => {});
  }
  await a!.idle();
  await new Promise((r) => setImmediate(r));
  assert.ok(a!.unacked('B', 0).length >= 5, 'messages are owed');
  assert.equal(a!.owed('B', 0), true);
  assertOwedMatchesUnacked(a!, 'B', 'partitioned');
  assert.equal(a!.owed('nobody', 0), false, 'an unknown peer is owed nothing');

  // Healed: B receives and acks them; A owes nothing more.
  net.partitioned = false;
  assert.deepEqual(await a!.call('o+0', 'callPeer', [bRoot, 'incr', 0]), {
    rejected: false,
    value: 10,
  });
  await Promise.all([a!.idle(), b!.idle()]);
  // The acks come at once; the deadline only catches ones that never come (a loaded machine
  // once took longer than the 500 ms this waited before).
  const deadline = Date.now() + 30_000;
  while (a!.owed('B', 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assertOwedMatchesUnacked(a!, 'B', 'healed');
  assert.equal(a!.owed('B', 0), false);
});
