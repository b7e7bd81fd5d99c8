import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel, type KernelOptions } from '../../vat-node/src/kernel/kernel.ts';
import { verifyVatDataDir } from '../../vat-node/src/node/verify-vat.ts';
import { DB_FILE, KernelDB, StoreCorrupt } from '../../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';

const counter = readFileSync(new URL('../kernel/contracts/counter.js', import.meta.url), 'utf8');

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function start(
  net: LocalNetwork,
  name: string,
  dataDir: string,
  extra: Partial<KernelOptions> = {},
): Promise<Kernel> {
  return Kernel.create(
    {
      vatId: name,
      vatName: name,
      contractSource: counter,
      gasLimit: 1_000_000,
      dataDir,
      synchronous: 'NORMAL',
      ...extra,
    },
    net.transport(),
  );
}

async function value(k: Kernel, target: string, method: string, args: unknown[]) {
  const r = await k.call(target, method, args);
  assert.equal(r.rejected, false, JSON.stringify(r.value));
  return r.value;
}

test('two vats restart from their data directories with c-lists, state, sturdyrefs and unacked messages', async (t) => {
  const dirA = tempDir(t);
  const dirB = tempDir(t);
  let net = new LocalNetwork();
  let b = await start(net, 'B', dirB);
  let a = await start(net, 'A', dirA);
  const bRoot = a.importGranted('B', b.grantRoot('A'));
  assert.equal(await value(a, 'o+0', 'callPeer', [new HostRef(bRoot), 'incr', 5]), 5);
  // A holds B's durable counter object (a kind instance) and B's root.
  const bCounter = (await value(a, bRoot, 'counter', [])) as HostRef;
  assert.match(bCounter.vref, /^o-\d+$/);
  assert.equal(await value(a, bCounter.vref, 'incr', [2]), 7);
  await value(a, 'o+0', 'incr', [100]); // A's own durable counter
  const uri = b.mintSturdyRef('o+0');
  const revoked = b.mintSturdyRef('o+0');
  assert.equal(b.revokeSturdyRef(revoked), true);
  const hashB = b.transcript.hash;
  const lengthB = b.transcript.length;

  // A message that leaves A's crank but never reaches B: it stays in A's outbox, unacked.
  net.partitioned = true;
  const lost = a.call('o+0', 'callPeer', [new HostRef(bRoot), 'incr', 10]);
  void lost.catch(() => {});
  await a.idle();
  await new Promise((r) => setImmediate(r));
  const unackedSends = a.unacked('B', 0).filter((s) => s.msg.op === 'deliver');
  assert.equal(unackedSends.length, 1, 'one committed, unacked message to B');
  await Promise.all([a.close(), b.close()]);

  // Both data directories verify on their own.
  for (const dir of [dirA, dirB]) {
    const report = await verifyVatDataDir(dir);
    assert.equal(report.ok, true);
  }

  // Restart both (B first: A wakes B for its unacked message when it attaches).
  net = new LocalNetwork();
  b = await start(net, 'B', dirB);
  a = await start(net, 'A', dirA);
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.ok(b.transcript.length > lengthB, 'the chain continues');
  assert.notEqual(b.transcript.hash, hashB);
  await Promise.all([a.idle(), b.idle()]);
  await new Promise((r) => setTimeout(r, 20));
  // The unacked incr(10) arrived exactly once; references held before the restart work.
  assert.equal(await value(a, bCounter.vref, 'get', []), 17);
  assert.equal(await value(a, 'o+0', 'callPeer', [new HostRef(bRoot), 'incr', 1]), 18);
  assert.equal(await value(a, 'o+0', 'incr', [0]), 100, "A's durable state survived");
  // Eventually acked: whatever A sent last (the call, a drop) is acked by B's next frame or
  // its idle ack, whichever comes first; the test waits for it instead of racing it.
  for (let i = 0; i < 200 && a.unacked('B', 0).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(a.unacked('B', 0).length, 0, 'acked after the restart');
  // Sturdyrefs: the live one redeems (for a third vat too), the revoked one stays revoked.
  const c = await start(net, 'C', tempDir(t));
  t.after(() => c.close());
  const viaC = await c.redeem(uri);
  assert.equal(await value(c, 'o+0', 'callPeer', [new HostRef(viaC), 'incr', 2]), 20);
  await assert.rejects(c.redeem(revoked), /unknown or revoked/);
});

test('a restart resumes the persisted run queue and outbox', async (t) => {
  const dirA = tempDir(t);
  const dirB = tempDir(t);
  const net = new LocalNetwork();
  const b = await start(net, 'B', dirB);
  const a = await start(net, 'A', dirA);
  const bRoot = new HostRef(a.importGranted('B', b.grantRoot('A')));
  await value(a, 'o+0', 'callPeer', [bRoot, 'incr', 1]);
  // Many calls in flight, partitioned from B; stop A (fixtures/crash-node.ts does it by SIGKILL).
  net.partitioned = true;
  for (let i = 0; i < 50; i++) void a.call('o+0', 'callPeer', [bRoot, 'incr', 1]).catch(() => {});
  await new Promise((r) => setImmediate(r));
  await a.close();
  net.partitioned = false;
  // What A committed is consistent: it opens with every check.
  const db = KernelDB.open(dirA, { check: 'full' });
  const queued = db.entries('runq.').length;
  const out = db.entries('out.').length;
  db.close();
  assert.equal(queued + out > 0, true, 'work was pending');
  const a2 = await start(net, 'A', dirA);
  t.after(() => Promise.all([a2.close(), b.close()]));
  for (let i = 0; i < 100; i++) {
    await Promise.all([a2.idle(), b.idle()]);
    await new Promise((r) => setTimeout(r, 5));
    if ((await value(b, 'o+0', 'incr', [0])) === 51) break;
  }
  assert.equal(await value(b, 'o+0', 'incr', [0]), 51, 'every call delivered exactly once');
});

test('a data directory of another contract is refused', async (t) => {
  const dir = tempDir(t);
  const net = new LocalNetwork();
  const a = await start(net, 'A', dir);
  await a.close();
  await assert.rejects(
    start(new LocalNetwork(), 'A', dir, { contractSource: `${counter}\n// v2\n` }),
    /another contract/,
  );
});

test("a damaged data directory: Kernel.create rejects with the store's reason", async (t) => {
  const dir = tempDir(t);
  const a = await start(new LocalNetwork(), 'A', dir);
  await value(a, 'o+0', 'incr', [1]);
  await a.close();
  const path = join(dir, DB_FILE);
  truncateSync(path, Math.floor(statSync(path).size / 2));
  await assert.rejects(
    start(new LocalNetwork(), 'A', dir),
    (e: unknown) => e instanceof StoreCorrupt && e.reason === 'integrity',
  );
});
