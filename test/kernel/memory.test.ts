/**
 * A vat's real memory is bounded, whatever shape the allocation takes: strings that live
 * outside the heap limit, ArrayBuffers outside the heap altogether, heap growth in a metered
 * loop. What must hold for each (not which backstop fired first): the crank is stopped, its
 * durable writes are not committed, the host survives and the vat serves the next delivery,
 * and the worker's resident size never went far past the cap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostError } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, startVats } from './harness.ts';
import { watchChildRss } from './worker-harness.ts';

// Gas and time are generous so that memory is what these bombs run into (on a slow machine the
// time limit may still come first: both are fine, neither commits).
const LIMITS = { heapMb: 64, rssMb: 256, crankTimeoutMs: 60_000 } as const;
const GAS = 2_000_000_000;
/**
 * How far past the cap the resident size may be seen: the kernel samples every 10 ms and a
 * fill runs at a few GiB/s, but on a loaded machine the kernel's timer can be late (this
 * process, which also watches, may be late as well). Without the cap the bombs reach 2 GiB.
 */
const SLACK_MB = 512;
const SHAPES = [
  'padStart',
  'repeat',
  'joinHoley',
  'joinDense',
  'concatInLoop',
  'typedArray',
  'arrayBuffer',
  'arrayFill',
  'mapGrowth',
];

for (const shape of SHAPES) {
  test(`memory bomb '${shape}': the crank is stopped, nothing is committed, the vat serves on`, async (t) => {
    const failures: string[] = [];
    const [v] = await startVats(new LocalNetwork(), ['V'], contract('bombs.js'), {
      gasLimit: GAS,
      limits: LIMITS,
      events: (e) => {
        if (e.type === 'crank-aborted') failures.push(e.reason);
      },
    });
    t.after(() => v!.close());
    assert.deepEqual((await v!.call('o+0', 'shapes', [])).value, SHAPES);
    assert.deepEqual(await v!.call('o+0', 'incr', [10]), { rejected: false, value: 10 });
    const hostHeap = process.memoryUsage().heapUsed;
    const rss = watchChildRss();
    const r = await v!.call('o+0', 'bomb', [shape]);
    const peakMb = rss.stop();
    assert.equal(r.rejected, true);
    assert.ok(r.value instanceof HostError, String(r.value));
    assert.match(
      r.value.message,
      /^delivery aborted: (vat exceeded its (memory|time) limit|gas limit \d+ exceeded)/,
    );
    assert.equal(failures.length, 1);
    t.diagnostic(`${shape}: ${r.value.message}; worker peak ${peakMb} MiB resident`);
    assert.ok(
      peakMb <= LIMITS.rssMb + SLACK_MB,
      `worker reached ${peakMb} MiB resident (cap ${LIMITS.rssMb} MiB)`,
    );
    // The bomb's durable write was rolled back; the next delivery runs on a fresh worker.
    assert.deepEqual(await v!.call('o+0', 'count', []), { rejected: false, value: 10 });
    assert.deepEqual(await v!.call('o+0', 'incr', [1]), { rejected: false, value: 11 });
    assert.ok(v!.stats.workerRestarts >= 1);
    assert.ok(
      process.memoryUsage().heapUsed - hostHeap < 64 * 2 ** 20,
      'the host heap did not absorb the bomb',
    );
  });
}

test('a contract that allocates past the cap while it loads is refused; the host survives', async () => {
  const source = `
    const keep = [];
    for (let i = 0; i < 32; i++) keep.push(new Uint8Array(64 * 2 ** 20).fill(1));
    export const buildRootObject = () => keep.length;`;
  const rss = watchChildRss();
  await assert.rejects(
    Kernel.create(
      { vatId: 'X', vatName: 'x', contractSource: source, gasLimit: GAS, limits: LIMITS },
      new LocalNetwork().transport(),
    ),
    /vat exceeded its (memory|time) limit/,
  );
  const peakMb = rss.stop();
  assert.ok(peakMb <= LIMITS.rssMb + SLACK_MB, `worker reached ${peakMb} MiB resident`);
});
