/**
 * The per-crank time limit is a backstop against a vat that runs away, not a judge of the
 * host's own pauses. A kernel process that did not run for longer than the limit (SIGSTOP, a
 * paused VM, a long synchronous stall) must still take the answer its worker gave meanwhile:
 * on a quorum member a false "time limit" makes the member treat itself as faulty and halt
 * (seen in CI: a member stopped with SIGSTOP for a partition test never came back).
 * A vat that does run away still fails with the time limit, paused kernel or not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestWorker } from './worker-harness.ts';

const CONTRACT = `
export function buildRootObject() {
  let n = 0;
  return harden({
    next: () => (n += 1),
    busy: (rounds) => {
      let x = 0;
      for (let i = 0; i < rounds; i++) x = (x * 31 + i) % 1000003;
      return (n += 1) + x * 0;
    },
    forever: () => {
      for (;;) {}
    },
  });
}
`;

const LIMIT_MS = 300;
const GAS = 4_000_000_000;

/** Blocks this process's event loop (timers cannot fire), as a SIGSTOP of the kernel would. */
const stall = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const cases: [string, (w: TestWorker) => ReturnType<TestWorker['call']>, number][] = [
  ['a quick crank', (w) => w.call('next'), 2],
  ['a crank that does some work', (w) => w.call('busy', 200_000), 2],
];

for (const [what, call, expected] of cases)
  for (const pauseMs of [LIMIT_MS * 2, LIMIT_MS * 5])
    test(`${what}, the kernel paused ${pauseMs} ms (past the ${LIMIT_MS} ms limit) meanwhile: its answer counts`, async (t) => {
      const w = await TestWorker.start(CONTRACT, GAS, { crankTimeoutMs: LIMIT_MS });
      t.after(() => w.close());
      assert.equal((await w.call('next')).value, 1);
      const pending = call(w);
      stall(pauseMs);
      const { outcome, value } = await pending;
      assert.equal(outcome.ok ? 'ok' : outcome.error, 'ok');
      assert.equal(value, expected);
      assert.equal(w.worker.dead, false);
      assert.equal((await w.call('next')).value, expected + 1);
    });

for (const pauseMs of [0, LIMIT_MS * 3])
  test(`a vat that runs away still fails with the time limit (kernel paused ${pauseMs} ms meanwhile)`, async (t) => {
    const w = await TestWorker.start(CONTRACT, GAS, { crankTimeoutMs: LIMIT_MS });
    t.after(() => w.close());
    const started = performance.now();
    const pending = w.call('forever');
    if (pauseMs > 0) stall(pauseMs);
    const { outcome } = await pending;
    assert.equal(
      outcome.ok ? 'ok' : outcome.error,
      `vat exceeded its time limit (${LIMIT_MS} ms for one delivery)`,
    );
    assert.equal(w.worker.dead, true);
    // Not much later than the limit (or the pause): a runaway is not given unbounded time.
    assert.ok(performance.now() - started < Math.max(LIMIT_MS, pauseMs) + 5_000);
  });
