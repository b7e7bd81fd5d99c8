// What the kernel does for a replica of a vat (a quorum member), with in-process fake workers:
// a backstop that is not deterministic halts it with nothing of the batch committed (gas does
// not), a crank a backstop aborted earlier is not run again by the replay that rebuilds the heap
// at a restart, and a replay that does not come out as the history went refuses to start.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Delivery } from '../liveslots/protocol.ts';
import type { VatMessage } from '../protocol/messages.ts';
import { LocalNetwork } from '../transport/local-link.ts';
import { type FakeVat, fakeWorkers } from './fake-worker.ts';
import { Kernel, type KernelOptions, KernelStopping, KernelUnavailable } from './kernel.ts';
import { ReplayMismatch } from './replay.ts';
import { newSecret, redeemProof, sturdyKey } from './sturdyref.ts';
import { isBackstopAbort } from './vat-worker.ts';

const secret = newSecret();
const TIME = 'vat exceeded its time limit (5000 ms for one delivery)';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'replica-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The fake vat: answers every call with its method name, or fails as `fails` says. */
function vat(fails: (method: string) => string | undefined): FakeVat {
  return (d: Delivery) => {
    if (d.type !== 'message' || d.result === null) return [];
    const error = fails(d.method ?? '');
    if (error !== undefined) return { fail: error };
    return [
      {
        type: 'resolve',
        resolutions: [[d.result, false, { body: `#"${d.method}"`, slots: [] }]],
      },
    ];
  };
}

function open(dataDir: string, behaviour: FakeVat, extra: Partial<KernelOptions> = {}) {
  return Kernel.create(
    {
      vatId: 'Q',
      vatName: 'q',
      contractSource: '',
      gasLimit: 1,
      dataDir,
      synchronous: 'OFF',
      worker: fakeWorkers(behaviour).factory,
      holdCommits: true,
      restoreHeapByReplay: true,
      bootstrapKeys: [sturdyKey(secret)],
      ...extra,
    },
    new LocalNetwork().transport(),
  );
}

const redeem: VatMessage = {
  op: 'redeem',
  key: sturdyKey(secret),
  proof: redeemProof(secret, 'Q', 'S'),
  result: 'p+1',
};
const call = (n: number, method: string): VatMessage => ({
  op: 'deliver',
  target: 'o-1',
  method,
  args: { body: '#[]', slots: [] },
  result: `p+${n}`,
});

test('backstop reasons are the worker handle’s own, not gas', () => {
  for (const r of [
    TIME,
    'vat exceeded its memory limit (512 MiB resident)',
    'vat exceeded its memory limit (256 MiB heap)',
    'vat worker exited (SIGKILL)',
    'vat worker failed: spawn ENOMEM',
    'terminated',
  ]) {
    assert.equal(isBackstopAbort(r), true, r);
  }
  for (const r of ['gas limit 10000000 exceeded', 'delivery failed in liveslots: boom']) {
    assert.equal(isBackstopAbort(r), false, r);
  }
});

test('haltOnBackstop: a wall-clock abort halts the replica with nothing of the batch committed; gas does not', async (t) => {
  const d = dir(t);
  const fails = (m: string) =>
    m === 'slow' ? TIME : m === 'spin' ? 'gas limit 1 exceeded' : undefined;
  const q = await open(d, vat(fails), { haltOnBackstop: true });
  q.receive('S', 1, redeem);
  q.receive('S', 2, call(2, 'spin')); // deterministic: an ordinary failed crank
  q.receive('S', 3, call(3, 'fast')); // on the next worker
  await q.settle();
  const before = q.unacked('S', 0);
  assert.equal(before.length, 3, 'the root, spin rejected, fast answered');
  assert.match(JSON.stringify(before), /gas limit 1 exceeded/);
  assert.equal(q.committedInbound('S'), 3);

  q.receive('S', 4, call(4, 'fast'));
  q.receive('S', 5, call(5, 'slow'));
  q.receive('S', 6, call(6, 'fast'));
  const err = await q.settle().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof KernelUnavailable, String(err));
  assert.match(err.message, /a backstop stopped a delivery \(message slow\)/);
  assert.match(err.message, /time limit/);
  assert.match(err.message, /runs nothing more until it restarts/);
  assert.equal(q.storeFailure, err.message);
  assert.deepEqual(q.unacked('S', 0), before, 'nothing of the batch leaves');
  assert.equal(q.committedInbound('S'), 3, 'nor is acknowledged');
  assert.throws(() => q.receive('S', 7, call(7, 'fast')), KernelUnavailable);
  await q.close();

  // Restarted (the machine is fine now): it resumes from the last commit and runs the batch.
  const again = await open(
    d,
    vat((m) => (m === 'spin' ? 'gas limit 1 exceeded' : undefined)),
    {
      haltOnBackstop: true,
    },
  );
  t.after(() => again.close());
  assert.equal(again.committedInbound('S'), 3);
  for (const n of [4, 5, 6]) assert.equal(again.receive('S', n, call(n, 'x')), 'accepted');
  await again.settle();
  assert.equal(again.unacked('S', 0).length, 6);
});

test('the replay skips a crank a backstop aborted (its heap was discarded then too), and refuses a history it cannot repeat', async (t) => {
  const d = dir(t);
  let slow = true;
  const first = await open(
    d,
    vat((m) => (m === 'slow' && slow ? TIME : undefined)),
  );
  first.receive('S', 1, redeem);
  first.receive('S', 2, call(2, 'slow')); // aborted by the wall clock: rejected, worker replaced
  first.receive('S', 3, call(3, 'after'));
  await first.settle();
  const out = first.unacked('S', 0);
  const hash = first.transcript.hash;
  assert.match(JSON.stringify(out), /delivery aborted: vat exceeded its time limit/);
  await first.close();

  // The machine is fast now: running `slow` again would succeed and diverge. It is not run.
  slow = false;
  const again = await open(
    d,
    vat((m) => (m === 'slow' && slow ? TIME : undefined)),
  );
  // (A redeem is the kernel's own business: no crank.)
  assert.equal(again.stats.replayedCranks, 4, 'startVat, slow (skipped), startVat, after');
  assert.equal(again.transcript.hash, hash);
  assert.deepEqual(again.unacked('S', 0), out);
  await again.close();

  // A vat that answers differently now: the heap cannot be rebuilt; the kernel says where.
  await assert.rejects(
    open(
      d,
      vat((m) => (m === 'after' ? 'gas limit 1 exceeded' : undefined)),
    ),
    (e: unknown) => e instanceof ReplayMismatch && /crank \d+ \(message\) diverged/.test(e.message),
  );
});

test('a graceful stop in the middle of held work commits none of it; the restart runs it whole', async (t) => {
  const d = dir(t);
  const q = await open(
    d,
    vat(() => undefined),
  );
  q.receive('S', 1, redeem);
  for (let n = 2; n <= 20; n++) q.receive('S', n, call(n, 'fast'));
  const stopped = q.stopWork(); // before the pump got through the batch
  const err = await q.settle().then(
    () => undefined,
    (e: unknown) => e,
  );
  await stopped;
  assert.ok(err instanceof KernelStopping, String(err));
  assert.equal(q.committedInbound('S'), 0, 'nothing of the batch committed');
  assert.deepEqual(q.unacked('S', 0), [], 'nothing of it leaves');
  await q.close();
  const again = await open(
    d,
    vat(() => undefined),
  );
  t.after(() => again.close());
  await again.settle();
  assert.equal(again.committedInbound('S'), 0);
  // The senders retransmit what was not acknowledged: the batch runs again, whole.
  again.receive('S', 1, redeem);
  for (let n = 2; n <= 20; n++) again.receive('S', n, call(n, 'fast'));
  await again.settle();
  assert.equal(again.committedInbound('S'), 20);
  assert.equal(again.unacked('S', 0).length, 20, 'the root and 19 answers, once each');
});
