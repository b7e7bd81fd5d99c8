// The kernel hooks a quorum member uses (quorum/member/): host calls refused, bootstrap keys
// registered at the first start, host records committed with the cranks and kept across a
// restart, every crank reported to onCrank, and settle() waiting until queued work is committed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Delivery } from '../liveslots/protocol.ts';
import { entryJson } from '../store/chain.ts';
import { LocalNetwork } from '../transport/local-link.ts';
import { fakeWorkers } from './fake-worker.ts';
import { Kernel } from './kernel.ts';
import { HostRefused } from './options.ts';
import { newSecret, redeemProof, sturdyKey } from './sturdyref.ts';

test('member hooks: refused host calls, bootstrap keys, host records, onCrank, settle', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'member-hooks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = newSecret();
  const cranks: Delivery[] = [];
  const entries = { missing: 0 };
  const open = (net: LocalNetwork) =>
    Kernel.create(
      {
        vatId: 'Q',
        vatName: 'q',
        contractSource: '',
        gasLimit: 1,
        dataDir: dir,
        worker: fakeWorkers((d) =>
          d.type === 'message' && d.result
            ? [{ type: 'resolve', resolutions: [[d.result, false, { body: '#1', slots: [] }]] }]
            : [],
        ).factory,
        refuseHost: 'a member never acts alone',
        bootstrapKeys: [sturdyKey(secret)],
        onCrank: (d, o, entry) => {
          cranks.push(d);
          // The transcript entry comes along where the kernel appended one: the same string.
          if (entry !== undefined) assert.equal(entry, entryJson(d, o));
          else entries.missing++;
        },
      },
      net.transport(),
    );
  const net = new LocalNetwork();
  const q = await open(net);
  for (const attempt of [
    () => q.grantRoot('S'),
    () => q.mintSturdyRef('o+0'),
    () => q.importGranted('S', 'o+1'),
  ]) {
    assert.throws(attempt, HostRefused);
  }
  await assert.rejects(q.call('o+0', 'x', []), HostRefused);
  await assert.rejects(
    q.redeem(`quorumvat://S/s/${Buffer.from(secret).toString('base64url')}`),
    HostRefused,
  );

  // A peer redeems the bootstrap key and calls the root object through what it got.
  const proof = redeemProof(secret, 'Q', 'S');
  assert.equal(
    q.receive('S', 1, { op: 'redeem', key: sturdyKey(secret), proof, result: 'p+1' }),
    'accepted',
  );
  q.setHostRecord('tip', '1');
  await q.settle();
  const resolved = q.unacked('S', 0).map((s) => s.msg);
  assert.equal(resolved[0]?.op, 'resolve');
  assert.deepEqual(
    resolved[0]?.op === 'resolve' ? resolved[0].resolutions[0]?.value.slots : [],
    ['o+1'], // the root, as S's first import from Q
  );
  q.receive('S', 2, {
    op: 'deliver',
    target: 'o-1',
    method: 'count',
    args: { body: '#[]', slots: [] },
    result: 'p+2',
  });
  q.setHostRecord('tip', '2');
  await q.settle();
  assert.deepEqual(
    cranks.map((d) => d.type),
    ['startVat', 'message'],
  );
  assert.equal(q.committedInbound('S'), 2);
  assert.deepEqual([...q.committedInboundMarks()], [['S', 2]]);
  const hash = q.transcript.hash;
  await q.close();

  // After a restart: the record, the marks and the transcript are where the commit left them.
  const again = await open(new LocalNetwork());
  t.after(() => again.close());
  assert.equal(again.hostRecord('tip'), '2');
  assert.deepEqual([...again.committedInboundMarks()], [['S', 2]]);
  assert.notEqual(again.transcript.hash, hash, 'a restart adds its startVat crank');
  assert.equal(cranks.at(-1)?.type, 'startVat');
  // Only the worker start (lifecycle.ts) comes without one.
  assert.equal(entries.missing, cranks.filter((d) => d.type === 'startVat').length);
});
