import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalIdentities, makeHandoffSlot } from '../../vat-node/src/kernel/handoff.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import type { VatIdentity } from '../../vat-node/src/protocol/identity.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce } from './harness.ts';

const identities = new WeakMap<Kernel, VatIdentity>();
const aIdentity = (k: Kernel) => identities.get(k)!;

async function threeVats(t: { after: (f: () => unknown) => void }) {
  const net = new LocalNetwork();
  const ids = new LocalIdentities();
  const vats = await Promise.all(
    ['A', 'B', 'C'].map(async (name) => {
      const identity = ids.identity(name);
      const k = await Kernel.create(
        {
          vatId: name,
          vatName: name,
          contractSource: contract('introducer.js'),
          gasLimit: 1_000_000,
          identity,
        },
        net.transport(),
      );
      identities.set(k, identity);
      return k;
    }),
  );
  t.after(() => Promise.all(vats.map((v) => v.close())));
  return { net, a: vats[0]!, b: vats[1]!, c: vats[2]! };
}

test('A introduces B to C: B gets its own c-list entry at C, and A drops out', async (t) => {
  const { net, a, b, c } = await threeVats(t);
  const bRoot = new HostRef(introduce(a, b));
  const cRoot = new HostRef(introduce(a, c));
  const service = (await a.call(cRoot.vref, 'service', [])).value as HostRef;
  net.batches.length = 0;
  assert.deepEqual(await a.call('o+0', 'introduce', [bRoot, service]), {
    rejected: false,
    value: 1,
  });
  // B talked to C directly: B sent a take and the incr to C; nothing of B's went through A.
  const bToC = net.batches.filter((x) => x.from === 'B' && x.to === 'C').flatMap((x) => x.ops);
  assert.ok(bToC.includes('take'), JSON.stringify(bToC));
  assert.ok(bToC.includes('deliver'));
  // (A only drops the index of the settled `service` result: see kernel.ts, retirement.)
  const aToC = net.batches.filter((x) => x.from === 'A' && x.to === 'C').flatMap((x) => x.ops);
  assert.deepEqual(
    aToC.filter((op) => op !== 'drop'),
    [],
  );

  // Stop A entirely: B keeps talking to C.
  await a.close();
  assert.deepEqual(await b.call('o+0', 'use', [10]), { rejected: false, value: 11 });
  // C recognizes its own object when B sends it home (identity survives the handoff).
  assert.deepEqual(await b.call('o+0', 'sendHome', []), { rejected: false, value: true });
  assert.ok(c.stats.cranks >= 3);
});

test('a certificate is useless to anyone but its recipient, and forgeries are refused', async (t) => {
  const { a, b, c } = await threeVats(t);
  const bRoot = new HostRef(introduce(a, b));
  const cRoot = new HostRef(introduce(a, c));
  const service = (await a.call(cRoot.vref, 'service', [])).value as HostRef;
  await a.call('o+0', 'introduce', [bRoot, service]);
  // Any real certificate A issued for B: what A sent B in its outbox history is gone (acked),
  // so make one the way A's kernel does, and let M (not the recipient) present it.
  const ids = new LocalIdentities();
  const mallory = ids.identity('A'); // a key that merely claims to be A
  const forged = makeHandoffSlot(mallory, { exporter: 'C', ref: 'o+1', recipient: 'M', nonce: 1 });
  assert.throws(
    () => c.receive('M', 1, { op: 'take', cert: forged, result: 'p+1' }),
    /not signed by A/,
  );
  const args = { body: '#["$0.Alleged: x"]', slots: [forged] };
  assert.throws(
    () => c.receive('M', 2, { op: 'deliver', target: 'o-1', method: 'incr', args, result: null }),
    /unknown c-list index|not signed/,
  );
  // A certificate is bound to its recipient: B's genuine certificate presented by M fails.
  const genuine = makeHandoffSlot(aIdentity(a), {
    exporter: 'C',
    ref: 'o+1',
    recipient: 'B',
    nonce: 77,
  });
  assert.throws(
    () => c.receive('M', 3, { op: 'take', cert: genuine, result: 'p+2' }),
    /handoff for B presented by M/,
  );
  // C still serves B.
  assert.deepEqual(await b.call('o+0', 'use', [5]), { rejected: false, value: 6 });
});
