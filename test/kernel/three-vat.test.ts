import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalIdentities } from '../../vat-node/src/kernel/handoff.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce } from './harness.ts';

// A pipelines 20 messages on the answer of B, which B forwards to C's promise (the long path
// A→B→C); once the answer resolves to C's object, A sends 20 more directly (the short path).
// With a slow B→C link the short path would overtake the long one: A's kernel must hold its
// direct sends until an echo that followed the long path came back.
type Latency = number | ((from: string, to: string) => number);

async function threeVats(t: { after: (fn: () => unknown) => void }, latencyMs: Latency) {
  const net = new LocalNetwork({ latencyMs });
  const ids = new LocalIdentities();
  const [a, b, c] = await Promise.all(
    ['A', 'B', 'C'].map((n) =>
      Kernel.create(
        {
          vatId: n,
          vatName: n,
          contractSource: contract('relay.js'),
          gasLimit: 10_000_000,
          identity: ids.identity(n),
        },
        net.transport(),
      ),
    ),
  );
  t.after(() => Promise.all([a!.close(), b!.close(), c!.close()]));
  return { net, a: a!, b: b!, c: c! };
}

const slowBC = (from: string, to: string) => (from === 'B' && to === 'C' ? 80 : 1);
for (const [name, latencyMs] of [
  ['no latency', 0],
  ['20 ms everywhere', 20],
  ['a slow B→C link', slowBC],
] as const) {
  test(`pipelining across three vats: messages flow on to C, in E-order (${name})`, async (t) => {
    const { net, a, b, c } = await threeVats(t, latencyMs);
    const bRoot = new HostRef(introduce(a, b));
    const cRoot = new HostRef(introduce(a, c));
    net.batches.length = 0;
    const r = await a.call('o+0', 'race', [bRoot, cRoot, 20, 40]);
    assert.equal(r.rejected, false, JSON.stringify(r.value));
    assert.deepEqual(
      r.value,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    if (latencyMs === 20) {
      // B forwarded log() and the 20 pipelined appends to C before C's first answer to
      // them came back: the appends did not wait in B for C to answer log(). (Usually in one flight;
      // a loaded machine may split it, which is fine.)
      const bToC = (x: (typeof net.batches)[number]) =>
        x.from === 'B' && x.to === 'C' && x.ops.includes('deliver');
      const start = net.batches.findIndex(bToC);
      let end = net.batches.findIndex(
        (x, i) => i > start && x.from === 'C' && x.to === 'B' && x.ops.includes('resolve'),
      );
      if (end === -1) end = net.batches.length;
      const forwarded = net.batches
        .slice(start, end)
        .filter(bToC)
        .map((x) => x.ops.filter((op) => op === 'deliver').length);
      assert.equal(
        forwarded.reduce((n, k) => n + k, 0),
        21,
        `B→C flights before C answered: ${JSON.stringify(forwarded)}`,
      );
    }
  });
}

test('E-order across three vats while the promise resolves mid-stream (slow B→C link)', async (t) => {
  const { a, b, c } = await threeVats(t, slowBC);
  const r = await a.call('o+0', 'trickle', [
    new HostRef(introduce(a, b)),
    new HostRef(introduce(a, c)),
    120,
  ]);
  assert.equal(r.rejected, false, JSON.stringify(r.value));
  assert.deepEqual(
    r.value,
    Array.from({ length: 120 }, (_, i) => i + 1),
  );
});
