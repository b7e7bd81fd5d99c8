/**
 * A vat worker killed from outside: whenever the kernel's next send lands (before, during or
 * after the worker's exit is seen), the crank fails with the exit's own reason, never with the
 * pipe error of a send to a dead process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestWorker } from './worker-harness.ts';

const COUNTER = `
export function buildRootObject() {
  let n = 0;
  return harden({ next: () => (n += 1) });
}
`;

const waits: Record<string, () => Promise<void>> = {
  'at once': async () => {},
  'after a microtask': () => Promise.resolve(),
  'after setImmediate': () => new Promise((r) => setImmediate(r)),
  'after 1 ms': () => new Promise((r) => setTimeout(r, 1)),
  'after 20 ms': () => new Promise((r) => setTimeout(r, 20)),
  // The worker is gone but this event loop has not yet seen its exit: the send hits a closed
  // pipe (EPIPE), as on a busy machine.
  'after it died, before its exit is seen': async () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  },
};

for (const [when, wait] of Object.entries(waits))
  test(`a worker killed (SIGKILL), the next crank sent ${when}: it fails as "vat worker exited (SIGKILL)"`, async (t) => {
    for (let round = 0; round < 4; round++) {
      const w = await TestWorker.start(COUNTER, 1_000_000);
      t.after(() => w.close());
      assert.equal((await w.call('next')).value, 1);
      process.kill(w.worker.pid!, 'SIGKILL');
      await wait();
      const { outcome } = await w.call('next');
      assert.equal(outcome.ok, false);
      assert.equal(outcome.ok ? '' : outcome.error, 'vat worker exited (SIGKILL)');
      assert.equal(w.worker.dead, true);
      // And every crank after it says the same.
      const again = await w.call('next');
      assert.equal(again.outcome.ok ? '' : again.outcome.error, 'vat worker exited (SIGKILL)');
    }
  });
