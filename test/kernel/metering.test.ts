import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostError } from '../../vat-node/src/kernel/hostcaps.ts';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, startVats } from './harness.ts';

async function oneVat(
  t: { after: (f: () => unknown) => void },
  failures: string[],
): Promise<Kernel> {
  const [a] = await startVats(new LocalNetwork(), ['A'], contract('counter.js'), {
    gasLimit: 100_000,
    limits: { heapMb: 64, crankTimeoutMs: 3_000 },
    events: (e) => {
      if (e.type === 'crank-aborted') failures.push(e.reason);
    },
  });
  t.after(() => a!.close());
  return a!;
}

function assertAborted(r: { rejected: boolean; value: unknown }, pattern: RegExp): void {
  assert.equal(r.rejected, true);
  assert.ok(r.value instanceof HostError);
  assert.match(r.value.message, /^delivery aborted: /);
  assert.match(r.value.message, pattern);
}

test('an infinite loop runs out of gas; the vat keeps serving', async (t) => {
  const failures: string[] = [];
  const a = await oneVat(t, failures);
  assert.deepEqual(await a.call('o+0', 'incr', [1]), { rejected: false, value: 1 });
  assertAborted(await a.call('o+0', 'loop', []), /gas limit 100000 exceeded/);
  assert.deepEqual(await a.call('o+0', 'incr', [1]), { rejected: false, value: 2 });
  assert.equal(failures.length, 1);
});

test('an aborted delivery rolls back the durable state it changed', async (t) => {
  const a = await oneVat(t, []);
  assert.deepEqual(await a.call('o+0', 'incr', [10]), { rejected: false, value: 10 });
  // incrThenLoop adds 5 to the durable counter, then loops forever.
  assertAborted(await a.call('o+0', 'incrThenLoop', [5]), /gas/);
  assert.deepEqual(await a.call('o+0', 'incr', [0]), { rejected: false, value: 10 });
  assert.equal(a.stats.workerRestarts, 1);
});

test('deep recursion is stopped deterministically, even when the contract catches it', async (t) => {
  const a = await oneVat(t, []);
  assertAborted(await a.call('o+0', 'recurse', []), /gas|stack/);
  assertAborted(await a.call('o+0', 'recurseCaught', []), /gas|stack/);
  assert.deepEqual(await a.call('o+0', 'incr', [3]), { rejected: false, value: 3 });
});

/**
 * A builtin bomb is stopped by whichever backstop it reaches first: the heap limit, the cap on
 * resident memory, or the wall clock (on a loaded machine the clock can come first). The test
 * asserts what must hold whichever fired: the delivery is aborted, the host survives, the vat
 * serves the next delivery.
 */
const BACKSTOP = /vat exceeded its (memory|time) limit/;

test('memory and time bombs in builtins kill only the vat worker; the host survives', async (t) => {
  const failures: string[] = [];
  const a = await oneVat(t, failures);
  const heapBefore = process.memoryUsage().heapUsed;
  assertAborted(await a.call('o+0', 'heapBomb', []), BACKSTOP);
  assertAborted(await a.call('o+0', 'bigFill', []), BACKSTOP);
  // A quarter-GiB flat string: the cap on resident memory stops it, unless it is quick enough
  // to finish between two samples (then it returns -1 and is gone).
  const big = await a.call('o+0', 'bigString', []);
  if (big.rejected) assertAborted(big, BACKSTOP);
  else assert.equal(big.value, -1);
  // Backtracking runs until the wall clock stops it, or until its stack eats the heap.
  assertAborted(await a.call('o+0', 'slowRegex', []), BACKSTOP);
  // V8 refuses this one itself, with an ordinary (catchable, deterministic) error, unless a
  // backstop stops the join first.
  const r = await a.call('o+0', 'bigArray', []);
  assert.equal(r.rejected, true);
  assert.match(
    (r.value as HostError).message,
    /Invalid string length|exceeded its (memory|time) limit/,
  );
  assert.deepEqual(await a.call('o+0', 'incr', [2]), { rejected: false, value: 2 });
  assert.ok(
    process.memoryUsage().heapUsed - heapBefore < 64 * 2 ** 20,
    'host heap did not absorb the bombs',
  );
  assert.ok(a.stats.workerRestarts >= 3);
  // heapBomb, bigFill and slowRegex at least (bigString may finish, bigArray may throw).
  assert.ok(failures.length >= 3, failures.join('\n'));
});
