/**
 * A client that left while owed messages (kernel/departures.ts): what it is owed waits for it
 * for a retention period and reaches it if it comes back in time; after that it is forgotten
 * (outbox dropped, the promises it decides rejected, its promise entries retired), with one
 * event, durably. The transport's part (it parks the client and calls `departed`) is played
 * here by the test: no network.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { collectEvents, type VatEvent } from '../../vat-node/src/events/events.ts';
import { type HostError, HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel, type KernelOptions } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce } from './harness.ts';

const source = contract('waiter.js');

async function vat(
  net: LocalNetwork,
  name: string,
  extra: Partial<KernelOptions> = {},
): Promise<Kernel> {
  return Kernel.create(
    { vatId: name, vatName: name, contractSource: source, gasLimit: 1_000_000, ...extra },
    net.transport(),
  );
}

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Server B and client C, each holding the other's root. C waits for B's answer (B will owe
 * it), B waits for C's (C decides it). Then the link is cut and B answers: one resolution
 * owed to C, unacknowledged.
 */
async function owedToClient(t: TestContext, b: Kernel, c: Kernel, net: LocalNetwork) {
  const cRoot = new HostRef(introduce(b, c));
  const bRoot = new HostRef(introduce(c, b));
  const cWaits = c.call('o+0', 'callPeer', [bRoot, 'later']);
  const bWaits = b.call('o+0', 'callPeer', [cRoot, 'later']);
  await Promise.all([b.idle(), c.idle()]);
  await until('both calls to arrive', () => b.unacked('C', 0).length === 0);
  net.partitioned = true;
  assert.deepEqual(await b.call('o+0', 'release', ['answer']), {
    rejected: false,
    value: 'released',
  });
  await b.idle();
  await until('the answer to be committed', () => b.owed('C', 0));
  t.after(() => {
    net.partitioned = false;
  });
  return { cWaits, bWaits, bRoot };
}

test('a client that does not come back is forgotten: outbox dropped, its promises rejected, one event', async (t) => {
  const net = new LocalNetwork();
  const { sink, events } = collectEvents();
  const b = await vat(net, 'B', { departedRetentionMs: 300, events: sink });
  const c = await vat(net, 'C');
  t.after(() => Promise.all([b.close(), c.close()]));
  const { bWaits } = await owedToClient(t, b, c, net);
  const before = b.tableSizes();
  await c.close(); // the client leaves

  b.departed('C');
  assert.ok(b.departedPeers().has('C'));
  const t0 = Date.now();
  await until('the client to be forgotten', () => events.some((e) => e.type === 'peer-forgotten'));
  assert.ok(Date.now() - t0 >= 250, 'not before the retention period');
  const forgotten = events.filter((e) => e.type === 'peer-forgotten') as Extract<
    VatEvent,
    { type: 'peer-forgotten' }
  >[];
  assert.equal(forgotten.length, 1, 'one event');
  assert.equal(forgotten[0]!.peer, 'C');
  assert.ok(forgotten[0]!.messages >= 1, 'the owed answer was dropped');
  assert.equal(forgotten[0]!.rejected, 1, "the promise C decided (B's call) is rejected");
  const r = await bWaits;
  assert.equal(r.rejected, true);
  assert.match((r.value as HostError).message, /^vat C left and did not come back within 300 ms$/);
  await b.idle();
  assert.deepEqual(b.unacked('C', 0), []);
  assert.equal(b.owed('C', 0), false);
  assert.equal(b.departedPeers().size, 0);
  const after = b.tableSizes();
  assert.ok(after.promises < before.promises, `promises ${before.promises} → ${after.promises}`);
  assert.ok(after.clistEntries < before.clistEntries);
  // B keeps serving.
  assert.deepEqual(await b.call('o+0', 'ping', []), { rejected: false, value: 'pong' });
});

test('a client that comes back within the retention period gets everything', async (t) => {
  const net = new LocalNetwork();
  const { sink, events } = collectEvents();
  const b = await vat(net, 'B', { departedRetentionMs: 2_000, events: sink });
  const c = await vat(net, 'C');
  t.after(() => Promise.all([b.close(), c.close()]));
  const { cWaits, bRoot } = await owedToClient(t, b, c, net);
  b.departed('C');
  b.departed('C'); // a second park changes nothing
  assert.ok(b.departedPeers().has('C'));
  // It comes back: its next message (and the ack on it) says so; the answer reaches it.
  net.partitioned = false;
  assert.deepEqual(await c.call('o+0', 'callPeer', [bRoot, 'ping']), {
    rejected: false,
    value: 'pong',
  });
  assert.deepEqual(await cWaits, { rejected: false, value: 'answer' });
  assert.equal(b.departedPeers().size, 0);
  // Past the period nothing is forgotten.
  await new Promise((r) => setTimeout(r, 2_500));
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-forgotten'),
    [],
  );
});

test('the transport saying it returned keeps it too; a client owed nothing is not recorded', async (t) => {
  const net = new LocalNetwork();
  const { sink, events } = collectEvents();
  const b = await vat(net, 'B', { departedRetentionMs: 300, events: sink });
  const c = await vat(net, 'C');
  t.after(() => Promise.all([b.close(), c.close()]));
  b.departed('C');
  assert.equal(b.departedPeers().size, 0, 'nothing owed: nothing kept, nothing to forget');
  await owedToClient(t, b, c, net);
  b.departed('C');
  b.returned('C');
  assert.equal(b.departedPeers().size, 0);
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(b.owed('C', 0), 'still owed');
  assert.deepEqual(
    events.filter((e) => e.type === 'peer-forgotten'),
    [],
  );
});

test('a departure survives a restart and runs out on its original schedule', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-departures-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const net = new LocalNetwork();
  const retention = { departedRetentionMs: 1_500, dataDir: dir };
  let b = await vat(net, 'B', retention);
  const c = await vat(net, 'C');
  t.after(() => c.close());
  await owedToClient(t, b, c, net);
  await c.close();
  b.departed('C');
  const since = b.departedPeers().get('C')!;
  await b.idle();
  await b.close();

  const { sink, events } = collectEvents();
  b = await vat(net, 'B', { ...retention, events: sink });
  t.after(() => b.close());
  assert.equal(b.departedPeers().get('C'), since, 'recorded durably');
  assert.ok(b.owed('C', 0), 'what it is owed is still there');
  await until('the client to be forgotten', () => events.some((e) => e.type === 'peer-forgotten'));
  assert.ok(Date.now() - since >= 1_450);
  await b.idle();
  await b.close();

  b = await vat(net, 'B', retention);
  assert.equal(b.departedPeers().size, 0);
  assert.deepEqual(b.unacked('C', 0), [], 'the dropped outbox stays dropped');
});
