// A delivery slow on ONE member only (issue 11, "backstops must not split the quorum"): real
// member processes on 127.0.0.1 (n = 3, k = 2, every member's crank time limit 2 s). One member's
// vat worker process is stopped (SIGSTOP) for longer than that limit, so the next delivery times
// out there and nowhere else (and, the same way, one member's vat worker killed). That member commits nothing of the batch (kernel haltOnBackstop),
// says so in ONE error line and executes nothing more; the two others keep answering, in order,
// and agree. Restarted from its data directory, it rebuilds its heap by replay, executes the
// batch again (the machine is fine now) and catches up: all three agree on height and hash.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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
  until,
} from './members.ts';

const HEAP_BANK = new URL('../kernel/contracts/heap-bank.js', import.meta.url).pathname;
const CRANK_TIMEOUT_MS = 2000;

const errors = errorLines;

/** The child processes of `pid` (a member's vat worker), from /proc. */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      // pid (comm) state ppid …: comm may hold spaces, so split after its closing paren.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return kids;
}

const cases = [
  {
    name: 'a delivery slow on one member only (its vat worker stopped beyond the crank limit)',
    signal: 'SIGSTOP',
    reason: /time limit \(2000 ms/,
  },
  {
    name: 'the vat worker of one member killed',
    signal: 'SIGKILL',
    reason: /vat worker exited \(SIGKILL\)/,
  },
] as const;

for (const c of cases)
  test(`n = 3, k = 2: ${c.name}: it halts with one line, the others answer in order and agree; restarted, it catches up`, async (t) => {
    const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: 8 });
    t.after(() => q.cleanup());
    const start = (i: number) =>
      startMember(q, i, { contract: HEAP_BANK, crankTimeoutMs: CRANK_TIMEOUT_MS, http: true });
    const members = await Promise.all(q.members.map((_, i) => start(i)));
    const gone: MemberProcess[] = [];
    t.after(() => Promise.all([...members, ...gone].map((m) => m.stop('SIGKILL'))));
    const solo: SoloVat = await startSolo(q);
    t.after(() => solo.close());
    const root: VRef = await solo.redeem(q.sturdyRef);

    let balance = 0;
    /** `n` deposits, `gapMs` apart, all in flight; each answer the running balance, in order. */
    const deposits = async (n: number, gapMs = 0) => {
      const calls = [];
      for (let i = 1; i <= n; i++) {
        calls.push(solo.kernel.call(root, 'deposit', ['a', i]));
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      const got = await Promise.all(calls);
      const want = Array.from({ length: n }, (_, i) => {
        balance += i + 1;
        return balance;
      });
      assert.deepEqual(
        got.map((r) => r.value),
        want,
        'every deposit answered once, in order',
      );
    };

    await deposits(10);
    await agreed(members, 120_000);

    // The slow member: its vat worker (the member process's child) stops for 3 crank limits,
    // or dies.
    const slow = members[0]!;
    const workers = childrenOf(slow.child.pid!);
    assert.equal(workers.length, 1, `one vat worker under member process ${slow.child.pid}`);
    process.kill(workers[0]!, c.signal);
    const resume = () => {
      try {
        process.kill(workers[0]!, 'SIGCONT');
      } catch {
        // the member killed it at its time limit: nothing to continue
      }
    };
    t.after(resume);
    const stoppedAt = Date.now();
    await deposits(20, 50); // answered by the other two meanwhile
    const halted = await until('the slow member halts', 30_000, async () =>
      slow.logs.find((l) => String(l['msg']).startsWith('quorum member halted')),
    );
    t.diagnostic(`the slow member's one line: ${halted['msg']}: ${halted['reason']}`);
    if (c.signal === 'SIGSTOP') {
      assert.ok(Date.now() - stoppedAt >= CRANK_TIMEOUT_MS, 'not before its time limit');
    }
    assert.match(String(halted['reason']), /backstop/);
    assert.match(String(halted['reason']), c.reason);
    // Only a restart recovers it: its liveness fails (the platform restarts it), with the reason.
    const live = await fetch(`http://127.0.0.1:${q.members[0]!.httpPort}/healthz`);
    assert.equal(live.status, 503);
    assert.equal(((await live.json()) as { reason: string }).reason, halted['reason']);
    const ready = await fetch(`http://127.0.0.1:${q.members[0]!.httpPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(
      ((await ready.json()) as { reason: string }).reason,
      `quorum member halted: ${halted['reason']}`,
    );
    await new Promise((r) =>
      setTimeout(r, Math.max(0, 3 * CRANK_TIMEOUT_MS - (Date.now() - stoppedAt))),
    );
    resume();

    await deposits(20, 10); // still answered, in order
    const others = members.slice(1);
    const state = await agreed(others, 120_000);
    for (const m of others) assert.deepEqual(errors(m), [], 'no error line on the others');
    // The slow member: one error line, and it executes nothing more.
    assert.deepEqual(
      errors(slow).map((l) => l['msg']),
      ['quorum member halted: executes nothing more until rebuilt'],
    );
    const stuck = await slow.status();
    assert.ok(
      stuck.height < state.height,
      `halted at ${stuck.height}, the others at ${state.height}`,
    );
    await deposits(5);
    assert.equal((await slow.status()).height, stuck.height, 'it executes nothing more');

    // Restarted (SIGKILL: it is stuck), it rebuilds its heap, runs the batch again, catches up.
    await slow.stop('SIGKILL');
    gone.push(slow);
    members[0] = await start(0);
    await deposits(5);
    await agreed(members, 120_000);
    assert.deepEqual(errors(members[0]!), [], 'no error line after the restart');
    // And its vote counts again: with another member down, answers still come.
    await members[2]!.stop('SIGKILL');
    gone.push(members[2]!);
    await deposits(5);
    assert.deepEqual(await (await solo.kernel.call(root, 'report', [])).value, {
      calls: 65,
      balances: [['a', balance]],
    });
  });
