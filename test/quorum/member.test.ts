// Quorum members as real vat node processes on 127.0.0.1: three members (k = 2) run one
// contract; a solo vat (VatTP over libp2p, the client layer) redeems the quorum's genesis
// sturdyref and calls it. Every call is answered once, in the order sent, and every member
// executes the same agreed order: the same transcript hash at the same height.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreed, errorLines, makeQuorum, startMember, startSolo } from './members.ts';

const errors = errorLines;

test('3 members, k = 2: calls from a solo vat are answered in order; all members agree', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: 4 });
  t.after(() => q.cleanup());
  const members = await Promise.all(q.members.map((_, i) => startMember(q, i)));
  t.after(() => Promise.all(members.map((m) => m.stop('SIGKILL'))));
  const solo = await startSolo(q);
  t.after(() => solo.close());

  const root = await solo.redeem(q.sturdyRef);
  for (let i = 1; i <= 10; i++) {
    assert.deepEqual(await solo.kernel.call(root, 'count', []), { rejected: false, value: i });
  }
  // Many at once: E-order from one sender is kept through the agreed order.
  const burst = await Promise.all(
    Array.from({ length: 40 }, () => solo.kernel.call(root, 'count', [])),
  );
  assert.deepEqual(
    burst.map((r) => r.value),
    Array.from({ length: 40 }, (_, i) => 11 + i),
  );
  assert.deepEqual(await solo.kernel.call(root, 'counted', []), { rejected: false, value: 50 });
  const state = await agreed(members);
  assert.ok(state.height > 0);
  for (const m of members) assert.deepEqual(errors(m), [], 'no member logged an error');
  const started = members.map((m) =>
    m.logs.find((l) => l['msg'] === 'serving as a member of a quorum vat'),
  );
  for (const s of started) {
    assert.equal(s?.['quorum'], q.quorum);
    assert.equal(s?.['crashes'], 1);
    assert.equal(s?.['byzantine'], 0);
  }
});
