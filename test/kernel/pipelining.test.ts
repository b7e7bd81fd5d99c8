import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

const LATENCY_MS = 150;

for (const method of ['chain', 'bangChain']) {
  test(`${method}: E(E(E(a).b()).c()).d() costs one round trip`, async (t) => {
    const net = new LocalNetwork({ latencyMs: LATENCY_MS });
    const [a, b] = await startVats(net, ['A', 'B'], contract('counter.js'));
    t.after(() => Promise.all([a!.close(), b!.close()]));
    const bRoot = introduce(a!, b!);
    net.batches.length = 0;
    const t0 = performance.now();
    const r = await a!.call('o+0', method, [new HostRef(bRoot)]);
    const elapsed = performance.now() - t0;
    assert.deepEqual(r, { rejected: false, value: 2 });

    // Every message of the chain leaves A before anything comes back from B.
    const sends = net.batches.filter((x) => x.ops.length > 0);
    const firstReply = sends.findIndex((x) => x.from === 'B');
    const aBeforeReply = sends.slice(0, firstReply).flatMap((x) => x.ops);
    assert.deepEqual(aBeforeReply, ['deliver', 'deliver', 'deliver']);
    assert.ok(
      sends.slice(firstReply).every((x) => x.from === 'B' || !x.ops.includes('deliver')),
      'A never had to send again after hearing back',
    );
    // The order of the batches above is the proof of one round trip, on any machine. Time can
    // only show that the link's latency was real: at least one round trip (three sequential
    // calls would take at least 6 ×, but a loaded machine can make one round trip that slow).
    assert.ok(elapsed >= 2 * LATENCY_MS, `took ${elapsed.toFixed(0)} ms`);
    t.diagnostic(`${elapsed.toFixed(0)} ms for one round trip of ${2 * LATENCY_MS} ms latency`);
  });
}
