/**
 * A quorum vat calling another quorum vat, with real member processes on 127.0.0.1: Q1 (3
 * members, k = 2) runs the forwarder contract, Q2 (4 members, k = 3) counts. A solo vat (the
 * client layer over a real NetworkTransport) hands Q1 a reference to Q2 (a three-party handoff
 * into a quorum vat naming a quorum vat as the exporter), then calls Q1, whose contract calls
 * Q2: each member of Q1 sends the same sequenced message to every member of Q2, each member of
 * Q2 combines k identical frames of Q1's current members and orders the input with the k-of-n
 * certificate of their input signatures as its auth (quorum/client/member-auth.ts), and Q2's
 * answers reach Q1 (and the solo vat) the same way back.
 *
 * Shown: answers true, once, in order (calls in turn and many in flight, pipelined through
 * Q1's promise for Q2's answer); the solo vat calling Q2 directly sees Q1's calls counted; Q2
 * calling Q1 at the same time (both sizes serve another quorum); every member of each quorum at
 * one height and hash. And with one Byzantine member of Q1 that forges every call it sends to Q2
 * (its own valid signatures over the forged content): Q2 never executes a forged call.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
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

const PATCH = new URL('./qclient-forge-patch.ts', import.meta.url).pathname;

const errors = errorLines;

/** Member i of q, started with the forging patch (it forges what it sends to `target`). */
async function startForger(q: QuorumFixture, i: number, target: string) {
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = `${saved ?? ''} --import ${PATCH}`.trim();
  process.env['QUORUMVAT_FORGE_TO'] = target;
  const started = startMember(q, i);
  if (saved === undefined) delete process.env['NODE_OPTIONS'];
  else process.env['NODE_OPTIONS'] = saved;
  delete process.env['QUORUMVAT_FORGE_TO'];
  return started;
}

async function twoQuorums(t: { after: (f: () => unknown) => void }) {
  const params = { viewTimeoutMs: 1000, checkpointInterval: 4 };
  const q1 = await makeQuorum(3, 2, params);
  const q2 = await makeQuorum(4, 3, params);
  t.after(() => {
    q1.cleanup();
    q2.cleanup();
  });
  return { q1, q2 };
}

test('Q1 (n = 3, k = 2) calls Q2 (n = 4, k = 3) and Q2 calls Q1: answers once, in order, pipelined; both quorums agree', async (t) => {
  const { q1, q2 } = await twoQuorums(t);
  const members1: MemberProcess[] = [];
  const members2: MemberProcess[] = [];
  t.after(() => Promise.all([...members1, ...members2].map((m) => m.stop('SIGKILL'))));
  for (let i = 0; i < 4; i++) members2.push(await startMember(q2, i));
  for (let i = 0; i < 3; i++) members1.push(await startMember(q1, i));
  const solo = await startSolo(q1);
  t.after(() => solo.close());
  const r1 = await solo.redeem(q1.sturdyRef);
  const r2 = await solo.redeem(q2.sturdyRef);

  // The solo vat hands Q1 its reference to Q2 (a certificate naming quorum Q2 as the exporter).
  assert.deepEqual(await solo.kernel.call(r1, 'remember', [new HostRef(r2)]), {
    rejected: false,
    value: undefined,
  });
  const started = Date.now();
  const answers: unknown[] = [];
  for (let i = 0; i < 5; i++) answers.push((await solo.kernel.call(r1, 'call', ['count'])).value);
  // Many in flight: Q1 answers each with its promise for Q2's answer (pipelined through Q1).
  const burst = await Promise.all(
    Array.from({ length: 20 }, () => solo.kernel.call(r1, 'call', ['count'])),
  );
  answers.push(...burst.map((r) => (r.rejected ? r : r.value)));
  t.diagnostic(`25 calls solo → Q1 → Q2 answered in ${Date.now() - started} ms`);
  assert.deepEqual(
    answers,
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  // Q2 counted exactly Q1's calls (the solo vat asks Q2 itself).
  assert.deepEqual(await solo.kernel.call(r2, 'count', []), { rejected: false, value: 26 });
  // A rejection from Q2 comes back through Q1 as a rejection.
  const failed = await solo.kernel.call(r1, 'call', ['fail']);
  assert.equal(failed.rejected, true);
  assert.match(JSON.stringify(failed.value), /asked to fail/);

  // And the other way round: Q2 (n = 4, k = 3) calls Q1 (n = 3, k = 2), while Q1 calls Q2.
  assert.deepEqual(await solo.kernel.call(r2, 'remember', [new HostRef(r1)]), {
    rejected: false,
    value: undefined,
  });
  const both = await Promise.all(
    Array.from({ length: 10 }, (_, i) => solo.kernel.call(i % 2 ? r1 : r2, 'call', ['count'])),
  );
  assert.deepEqual(
    both.map((r) => r.value),
    Array.from({ length: 10 }, (_, i) => (i % 2 ? 27 + (i - 1) / 2 : 1 + i / 2)),
    'Q2 → Q1 counts 1…5 at Q1, Q1 → Q2 counts 27…31 at Q2, each in order',
  );

  const [s1, s2] = await Promise.all([agreed(members1), agreed(members2)]);
  assert.ok(s1.height > 0 && s2.height > 0);
  for (const m of [...members1, ...members2]) assert.deepEqual(errors(m), [], 'no member errors');
  // Every message is acknowledged in the end (acks combined from k members, both ways).
  await until('the solo vat has nothing unacknowledged', 60_000, async () =>
    solo.kernel.unackedCounts().size === 0 ? true : undefined,
  );
});

test('a Byzantine member of Q1 forging its calls to Q2 (validly signed by itself) never gets one executed', async (t) => {
  const { q1, q2 } = await twoQuorums(t);
  const members1: MemberProcess[] = [];
  const members2: MemberProcess[] = [];
  t.after(() => Promise.all([...members1, ...members2].map((m) => m.stop('SIGKILL'))));
  for (let i = 0; i < 4; i++) members2.push(await startMember(q2, i));
  const bad = 0;
  for (let i = 0; i < 3; i++) {
    members1.push(await (i === bad ? startForger(q1, i, q2.quorum) : startMember(q1, i)));
  }
  const solo = await startSolo(q1);
  t.after(() => solo.close());
  const r1 = await solo.redeem(q1.sturdyRef);
  const r2 = await solo.redeem(q2.sturdyRef);
  await solo.kernel.call(r1, 'remember', [new HostRef(r2)]);
  const answers: unknown[] = [];
  for (let i = 0; i < 6; i++) answers.push(await solo.kernel.call(r1, 'call', ['count']));
  const burst = await Promise.all(
    Array.from({ length: 10 }, () => solo.kernel.call(r1, 'call', ['count'])),
  );
  answers.push(...burst);
  assert.deepEqual(
    answers,
    Array.from({ length: 16 }, (_, i) => ({ rejected: false, value: i + 1 })),
    'every call executed as the agreed order made it (never the forged `fail`)',
  );
  assert.deepEqual(await solo.kernel.call(r2, 'counted', []), { rejected: false, value: 16 });
  assert.ok(
    members1[bad]!.logs.some((l) => l['msg'] === 'byzantine' && l['act'] === 'forged'),
    'the forger did forge',
  );
  await agreed(members2);
  await agreed(members1);
});
