// A quorum member restarted while its contract keeps state in the vat's heap (issue 11,
// "determinism is checked"): real member processes on 127.0.0.1 (n = 3, k = 2) run a bank that
// keeps balances, a call count and pending promises in its heap (test/kernel/contracts/
// heap-bank.js). One member is SIGKILLed and restarted from its data directory: its kernel
// rebuilds the heap by replaying the transcript since the last checkpoint (restoreHeapByReplay),
// so it agrees with the others (same height, same transcript hash, compared by the members'
// checkpoints every 8 heights as well). Then ANOTHER member is killed, so every answer after
// that needs the restarted member's vote: the promises its heap held settle, the balances and
// the call count are the ones the heap had (a fresh heap would answer differently and k = 2
// identical answers would never come).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VRef } from '../../vat-node/src/liveslots/protocol.ts';
import {
  agreed,
  errorLines,
  type MemberProcess,
  makeQuorum,
  type SoloVat,
  startMember,
  startSolo,
} from './members.ts';

const HEAP_BANK = new URL('../kernel/contracts/heap-bank.js', import.meta.url).pathname;

const errors = errorLines;

async function value(solo: SoloVat, root: VRef, method: string, args: unknown[]) {
  const r = await solo.kernel.call(root, method, args);
  assert.equal(r.rejected, false, `${method}: ${JSON.stringify(r.value)}`);
  return r.value;
}

test('n = 3, k = 2: a member SIGKILLed and restarted rebuilds its heap by replay; it agrees, and answers with another member down', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: 8 });
  t.after(() => q.cleanup());
  const start = (i: number) => startMember(q, i, { contract: HEAP_BANK });
  const members = await Promise.all(q.members.map((_, i) => start(i)));
  const gone: MemberProcess[] = [];
  t.after(() => Promise.all([...members, ...gone].map((m) => m.stop('SIGKILL'))));
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const root = await solo.redeem(q.sturdyRef);

  let balance = 0;
  let calls = 0;
  /** `n` deposits in flight at once; each answer is the running balance, in order. */
  const deposits = async (n: number) => {
    const amounts = Array.from({ length: n }, (_, i) => i + 1);
    const got = await Promise.all(amounts.map((x) => value(solo, root, 'deposit', ['a', x])));
    const want = amounts.map((x) => {
      balance += x;
      return balance;
    });
    calls += n;
    assert.deepEqual(got, want, 'every deposit answered once, in order');
  };

  await deposits(20);
  // Two promises the bank's heap holds pending (settled by `release`).
  const pending = [value(solo, root, 'later', []), value(solo, root, 'later', [])];
  await deposits(5);
  await agreed(members, 120_000);

  const victim = 1;
  await members[victim]!.stop('SIGKILL');
  gone.push(members[victim]!);
  await deposits(20); // the two others serve meanwhile
  members[victim] = await start(victim);
  await deposits(10);
  const state = await agreed(members, 120_000);
  assert.ok(state.height > 0);

  // Now another member goes: every answer needs the restarted member's identical vote.
  const other = 2;
  await members[other]!.stop('SIGKILL');
  gone.push(members[other]!);
  await deposits(10);
  assert.equal(await value(solo, root, 'release', ['go']), 2);
  assert.deepEqual(await Promise.all(pending), [
    { v: 'go', calls },
    { v: 'go', calls },
  ]);
  assert.deepEqual(await value(solo, root, 'report', []), { calls, balances: [['a', balance]] });

  const live = [members[0]!, members[victim]!];
  await agreed(live, 120_000);
  for (const m of [...live, ...gone]) {
    assert.deepEqual(errors(m), [], 'no error line');
    assert.deepEqual(
      m.logs.filter((l) => /diverged|halted|faulty/.test(String(l['msg']))),
      [],
      'no member diverged or halted',
    );
  }
});
