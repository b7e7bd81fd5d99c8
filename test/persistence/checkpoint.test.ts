/**
 * Checkpoints of a long-lived worker (kernel.ts, refreshWorker 'quiescent'): when the store's
 * policy asks for a checkpoint, the kernel replaces the worker at the first moment nothing
 * outside the vat store can be lost, so the transcript since the last checkpoint stays bounded
 * whatever the history, and a vat that holds a pending promise or exports a heap object keeps
 * its worker (and its heap) until it no longer does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { verifyVatDataDir } from '../../vat-node/src/node/verify-vat.ts';
import { KernelDB } from '../../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract } from '../kernel/harness.ts';

const source = contract('promises.js');
const MAX_ROWS = 20;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-checkpoint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function value(k: Kernel, target: string, method: string, args: unknown[] = []) {
  const r = await k.call(target, method, args);
  assert.equal(r.rejected, false, JSON.stringify(r.value));
  return r.value;
}

function transcriptRows(dir: string): number {
  const db = KernelDB.open(dir, { readOnly: true });
  try {
    return db.stats().transcriptRows;
  } finally {
    db.close();
  }
}

test('a busy vat checkpoints when quiescent; a pending promise or an exported heap object holds its worker', async (t) => {
  const dir = join(tempDir(t), 'a');
  const net = new LocalNetwork();
  const waits: string[] = [];
  const a = await Kernel.create(
    {
      vatId: 'A',
      vatName: 'A',
      contractSource: source,
      gasLimit: 1_000_000,
      dataDir: dir,
      synchronous: 'OFF',
      checkpoint: { maxRows: MAX_ROWS },
      events: (e) => {
        if (e.type === 'checkpoint-waiting') waits.push(e.reason);
      },
    },
    net.transport(),
  );
  const b = await Kernel.create(
    { vatId: 'B', vatName: 'B', contractSource: source, gasLimit: 1_000_000 },
    net.transport(),
  );
  t.after(() => Promise.all([a.close(), b.close()]));
  const bRoot = new HostRef(a.importGranted('B', b.grantRoot('A')));

  // Calls that leave nothing pending: the worker is replaced every ~MAX_ROWS cranks (at the
  // first quiescent moment after the policy asks: here, between two calls).
  for (let i = 0; i < 300; i++) await value(a, 'o+0', 'many', [bRoot, 2]);
  const cranks = a.stats.cranks;
  const checkpoints = a.stats.checkpoints;
  assert.ok(checkpoints >= cranks / MAX_ROWS / 2, `${checkpoints} checkpoints, ${cranks} cranks`);

  // A's vat now awaits a promise B holds pending: its heap must stay. (A refresh already due
  // may still happen before the call is delivered: count from when it was.)
  const reported = waits.length;
  const pending = a.call('o+0', 'pending', [bRoot]);
  await Promise.all([a.idle(), b.idle()]);
  const busy = a.stats.checkpoints;
  for (let i = 0; i < 100; i++) await value(a, 'o+0', 'many', [bRoot, 2]);
  assert.equal(a.stats.checkpoints, busy, 'no checkpoint while a promise is pending in the heap');
  assert.equal(waits.length, reported + 1, 'one line for the whole wait');
  assert.match(waits.at(-1)!, /promise p\S+ is pending in the heap/);
  await value(b, 'o+0', 'release', ['late']);
  assert.deepEqual(await pending, { rejected: false, value: 'late' });

  for (let i = 0; i < 100; i++) await value(a, 'o+0', 'many', [bRoot, 2]);
  assert.ok(a.stats.checkpoints > busy, 'checkpoints again once nothing is pending');

  // B holds an object of A's heap: A's worker stays (the object must keep working).
  const aRoot = b.importGranted('A', a.grantRoot('B'));
  const reportedBefore = waits.length;
  const heapThing = (await value(b, aRoot, 'thing')) as HostRef;
  const afterPending = a.stats.checkpoints;
  for (let i = 0; i < 100; i++) await value(a, 'o+0', 'many', [bRoot, 2]);
  assert.equal(a.stats.checkpoints, afterPending, 'no checkpoint while a heap object is exported');
  assert.equal(waits.length, reportedBefore + 1, 'one line for the whole wait');
  assert.match(waits.at(-1)!, /heap object o\+\d+ was handed out/);
  assert.equal(await value(b, heapThing.vref, 'hi'), 'hi');

  await a.close();
  const report = await verifyVatDataDir(dir);
  assert.equal(report.ok, true);
  assert.ok(transcriptRows(dir) > MAX_ROWS, 'the transcript grew while the heap had to stay');
});
