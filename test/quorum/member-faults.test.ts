// Quorum members failing, as real processes on 127.0.0.1 (SIGKILL, SIGSTOP): the leader killed
// mid-stream (nothing lost, order kept, progress after the view-change timeout, the member
// restarts and catches up), one of four members (k = 3) killed while the quorum serves, and a
// partition leaving fewer than k members (no answer at all, one stall line, resumes on heal).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  agreed,
  errorLines,
  type MemberProcess,
  makeQuorum,
  type QuorumFixture,
  startMember,
  startSolo,
  until,
} from './members.ts';

const lines = (m: MemberProcess, msg: string) => m.logs.filter((l) => l['msg'] === msg);
const errors = errorLines;

async function quorumOf(t: { after: (f: () => unknown) => void }, q: QuorumFixture) {
  t.after(() => q.cleanup());
  const members = await Promise.all(q.members.map((_, i) => startMember(q, i)));
  t.after(() => Promise.all(members.map((m) => m.stop('SIGKILL'))));
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const root = await solo.redeem(q.sturdyRef);
  let expected = 0;
  /** `count` calls sent `gapMs` apart, all at once in flight; each answer in sending order. */
  const stream = async (n: number, gapMs: number, during?: (i: number) => Promise<void>) => {
    const calls = [];
    for (let i = 0; i < n; i++) {
      calls.push(solo.kernel.call(root, 'count', []));
      await during?.(i);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    const answers = await Promise.all(calls);
    assert.deepEqual(
      answers.map((a) => a.value),
      Array.from({ length: n }, (_, i) => expected + 1 + i),
      'every call answered once, in the order sent',
    );
    expected += n;
  };
  return { members, solo, root, stream };
}

test('n = 3, k = 2: the leader killed mid-stream; nothing lost, order kept; it restarts and catches up', async (t) => {
  const viewTimeoutMs = 1000;
  const q = await makeQuorum(3, 2, { viewTimeoutMs, checkpointInterval: 8 });
  const { members, stream } = await quorumOf(t, q);
  await stream(5, 0);
  let killed: MemberProcess | undefined;
  const started = Date.now();
  await stream(60, 25, async (i) => {
    if (i !== 20) return;
    const { ordering } = await members[0]!.status();
    killed = members.find((m) => m.vatId === ordering.leader)!;
    await killed.stop('SIGKILL');
  });
  const streamMs = Date.now() - started;
  assert.ok(killed !== undefined);
  const live = members.filter((m) => m !== killed);
  // The view change took at least one timeout, and not many.
  assert.ok(streamMs < 60 * 25 + 30 * viewTimeoutMs, `stream took ${streamMs} ms`);
  // The killed member comes back from its data directory and catches up with the others.
  const index = q.members.findIndex((m) => m.vatId === killed!.vatId);
  const again = await startMember(q, index);
  members[members.indexOf(killed!)] = again;
  await stream(10, 0);
  const state = await agreed(members);
  assert.ok(state.height > 0);
  for (const m of [...live, again]) assert.deepEqual(errors(m), [], 'no error line');
  const resumedAt = lines(again, 'serving as a member of a quorum vat')[0]?.['height'];
  assert.ok(typeof resumedAt === 'number' && resumedAt > 0, 'resumed from its store');
});

test('n = 4, k = 3: one member killed, the quorum keeps serving; the other three agree', async (t) => {
  const q = await makeQuorum(4, 3, { viewTimeoutMs: 1000, checkpointInterval: 8 });
  const { members, stream } = await quorumOf(t, q);
  const started = members[0]!.logs.find((l) => l['msg'] === 'serving as a member of a quorum vat');
  assert.equal(started?.['byzantine'], 1);
  assert.equal(started?.['crashes'], 1);
  await stream(20, 0);
  const dead = members[1]!;
  await dead.stop('SIGKILL');
  await stream(30, 10);
  const live = members.filter((m) => m !== dead);
  await agreed(live);
  for (const m of live) assert.deepEqual(errors(m), []);
});

test('n = 3, k = 2: a partition leaving one member: no answer at all, one stall line; resumes on heal', async (t) => {
  const viewTimeoutMs = 500;
  const q = await makeQuorum(3, 2, { viewTimeoutMs, checkpointInterval: 8 });
  const { members, solo, root, stream } = await quorumOf(t, q);
  await stream(5, 0);
  const [alone, ...cut] = members as [MemberProcess, ...MemberProcess[]];
  for (const m of cut) await m.stop('SIGSTOP');
  t.after(() => Promise.all(cut.map((m) => m.child.kill('SIGCONT'))));
  let answered = 0;
  const calls = Array.from({ length: 5 }, () =>
    solo.kernel.call(root, 'count', []).then((r) => {
      answered++;
      return r.value;
    }),
  );
  // Three view timeouts (doubling: 1 + 2 + 4) make the stall; twice that and more to be sure.
  await until('the stall line', 30 * viewTimeoutMs, async () =>
    lines(
      alone,
      'quorum stalled: no agreed progress (fewer than k members reachable?); inputs wait',
    ).length > 0
      ? true
      : undefined,
  );
  await new Promise((r) => setTimeout(r, 6 * viewTimeoutMs));
  assert.equal(answered, 0, 'fewer than k members: no answer at all');
  const stalls = lines(
    alone,
    'quorum stalled: no agreed progress (fewer than k members reachable?); inputs wait',
  );
  assert.equal(stalls.length, 1, 'one stall line, not one per retry');
  for (const m of cut) m.child.kill('SIGCONT');
  assert.deepEqual(await Promise.all(calls), [6, 7, 8, 9, 10]);
  await until('the resume line', 30_000, async () =>
    lines(alone, 'quorum deciding again').length > 0 ? true : undefined,
  );
  assert.equal(lines(alone, 'quorum deciding again').length, 1);
  await agreed(members);
});
