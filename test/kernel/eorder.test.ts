import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

// A pipelines messages on a promise that B resolves to A's own object; later messages go
// directly. Without the embargo, the direct ones overtake those still coming back from B.
for (const latencyMs of [0, 5]) {
  for (const [pipelined, total] of [
    [1, 2],
    [5, 20],
    [50, 100],
  ] as const) {
    test(`E-order holds across a resolution race (${pipelined}/${total}, latency ${latencyMs} ms)`, async (t) => {
      const net = new LocalNetwork({ latencyMs });
      const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
      t.after(() => Promise.all([a!.close(), b!.close()]));
      const bRoot = introduce(a!, b!);
      const r = await a!.call('o+0', 'orderRace', [new HostRef(bRoot), pipelined, total]);
      assert.equal(r.rejected, false, String((r.value as Error)?.message));
      assert.deepEqual(
        r.value,
        Array.from({ length: total }, (_, i) => i + 1),
      );
    });
  }
}
