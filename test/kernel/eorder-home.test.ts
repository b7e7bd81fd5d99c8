import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatEvent } from '../../vat-node/src/events/events.ts';
import { LocalIdentities } from '../../vat-node/src/kernel/handoff.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { VatWorker } from '../../vat-node/src/kernel/vat-worker.ts';
import type { Delivery } from '../../vat-node/src/liveslots/protocol.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import {
  assertScriptLog,
  FAMILY,
  randomScript,
  type Step,
  type Where,
  within,
} from './eorder-scripts.ts';
import { contract, introduce } from './harness.ts';

// E-order when a promise resolves home (to an object of the vat that sent to it), to the
// receiver's object, or to a third vat's: every message arrives exactly once, in program
// order, and every call settles, whatever mix of sends to the promise and to its value, round
// trips and link latencies. (Issue 9: sends that came home after an embargo were lost.)

type Latency = number | ((from: string, to: string) => number);

async function threeVats(t: { after: (fn: () => unknown) => void }, latencyMs: Latency) {
  const net = new LocalNetwork({ latencyMs });
  const ids = new LocalIdentities();
  const events: VatEvent[] = [];
  const failures: string[] = [];
  const [a, b, c] = await Promise.all(
    ['A', 'B', 'C'].map((n) =>
      Kernel.create(
        {
          vatId: n,
          vatName: n,
          contractSource: contract('eorder.js'),
          gasLimit: 10_000_000,
          identity: ids.identity(n),
          events: (e) => {
            if (e.type === 'crank-aborted') failures.push(`${n}: ${e.reason}`);
            else events.push(e);
          },
        },
        net.transport(),
      ),
    ),
  );
  t.after(() => Promise.all([a!.close(), b!.close(), c!.close()]));
  const bRef = new HostRef(introduce(a!, b!));
  const cRef = new HostRef(introduce(a!, c!));
  // A runs a script against B and C; the log must read 1..n, and nothing may go wrong quietly.
  const run = async (where: Where, steps: readonly Step[], label: string) => {
    const what = `${label}, ${where}: ${JSON.stringify(steps)}`;
    const r = await within(a!.call('o+0', 'run', [bRef, cRef, where, steps]), 60_000, what);
    assert.equal(r.rejected, false, `${what}: ${JSON.stringify(r.value)}`);
    assertScriptLog(r.value, steps, what);
    assert.deepEqual(events, [], `${what}: kernel events`);
    assert.deepEqual(failures, [], `${what}: failed cranks`);
  };
  return { net, a: a!, b: b!, c: c!, bRef, cRef, run, events };
}

const LATENCIES: [string, Latency][] = [
  ['0 ms', 0],
  ['5 ms', 5],
  // Replies slower than requests, and the long path to C slower still.
  [
    'asymmetric (A→B 1 ms, B→A 15 ms, B→C 25 ms, others 3 ms)',
    (from, to) =>
      from === 'A' && to === 'B'
        ? 1
        : from === 'B' && to === 'A'
          ? 15
          : from === 'B' && to === 'C'
            ? 25
            : 3,
  ],
];
const WHERE: Where[] = ['home', 'receiver', 'third'];

for (const [name, latency] of LATENCIES) {
  test(`the issue's homeAfterPing settles with [1, 2] (${name})`, async (t) => {
    const { a, bRef } = await threeVats(t, latency);
    const r = await within(a.call('o+0', 'homeAfterPing', [bRef]), 30_000, 'homeAfterPing');
    assert.deepEqual(r, { rejected: false, value: [1, 2] });
    const log = (await a.call('o+0', 'log', [])).value as HostRef;
    assert.deepEqual(await a.call(log.vref, 'entries', []), { rejected: false, value: [1, 2] });
  });

  test(`E-order and exactly-once for the family of scripts, to A's, B's and C's objects (${name})`, async (t) => {
    const { run } = await threeVats(t, latency);
    for (const [label, steps] of Object.entries(FAMILY)) {
      for (const where of WHERE) await run(where, steps, label);
    }
  });

  test(`E-order and exactly-once for random interleavings (${name})`, async (t) => {
    const { run } = await threeVats(t, latency);
    // Fixed seeds: a failure names its seed and script, and runs the same again.
    for (let seed = 1; seed <= 6; seed++) {
      const steps = randomScript(seed, 30);
      for (const where of WHERE) await run(where, steps, `seed ${seed}`);
    }
  });
}

test('a sendOnly to an object that is gone is reported, not dropped in silence', async (t) => {
  const { a, b, events } = await threeVats(t, 0);
  // A hands B one of its heap objects, then loses its heap (a failed crank replaces the worker).
  const log = (await a.call('o+0', 'makeLog', ['heap'])).value as HostRef;
  const inB = b.importGranted(a.vatId, a.grant(b.vatId, log.vref));
  assert.equal((await a.call('o+0', 'spin', [])).rejected, true);
  assert.deepEqual(await b.call('o+0', 'sendOnlyAppend', [new HostRef(inB), 1]), {
    rejected: false,
    value: 'sent',
  });
  for (let i = 0; i < 100 && events.length === 0; i++) {
    await Promise.all([a.idle(), b.idle()]);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(events.length, 1, JSON.stringify(events));
  const [e] = events;
  assert.ok(e?.type === 'message-undeliverable', JSON.stringify(e));
  assert.equal(e.target, log.vref);
  assert.equal(e.method, 'append');
  assert.match(e.reason, /gone: it was not durable/);
  // With a result, the same message is refused to its sender instead.
  const r = await b.call('o+0', 'callAppend', [new HostRef(inB), 2]);
  assert.equal(r.rejected, true);
  assert.match((r.value as Error).message, /gone: it was not durable/);
});

test('a delivery the worker does not understand fails its crank with the reason', async () => {
  const w = await VatWorker.start(
    { vatName: 'x', contractSource: contract('eorder.js'), gasLimit: 1_000_000 },
    [],
  );
  try {
    assert.equal((await w.crank({ type: 'startVat' })).ok, true);
    const o = await w.crank({ type: 'bogus' } as unknown as Delivery);
    assert.equal(o.ok, false);
    assert.match(o.ok ? '' : o.error, /unknown delivery type "bogus"/);
  } finally {
    await w.terminate();
  }
});
