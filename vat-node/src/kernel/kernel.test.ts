// Kernel logic with in-process fake workers (fake-worker.ts): routing, embargo decisions as
// they play out, holds, retirement, and what the kernel refuses. Integration tests under
// test/kernel keep real workers and contracts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatEvent } from '../events/events.ts';
import type { Delivery, Syscall, VRef } from '../liveslots/protocol.ts';
import { isProtocolError } from '../protocol/errors.ts';
import type { CapData } from '../protocol/messages.ts';
import { LocalNetwork } from '../transport/local-link.ts';
import { type FakeVat, fakeWorkers } from './fake-worker.ts';
import { LocalIdentities } from './handoff.ts';
import { Kernel } from './kernel.ts';

const data = (body: string): CapData => ({ body: `#${body}`, slots: [] });
const ref = (vref: VRef): CapData => ({ body: '#"$0.Alleged: x"', slots: [vref] });
const send = (target: VRef, method: string, args: CapData, result: VRef | null): Syscall => ({
  type: 'send',
  target,
  method,
  args,
  result,
});
const resolve = (vref: VRef, value: CapData): Syscall => ({
  type: 'resolve',
  resolutions: [[vref, false, value]],
});
/** The vat's answer to a message with a result: settle it (to null). */
const answered = (d: Delivery, ...syscalls: Syscall[]): Syscall[] =>
  d.type === 'message' && d.result !== null
    ? [...syscalls, resolve(d.result, data('null'))]
    : syscalls;
const messages = (ds: Delivery[]) =>
  ds.flatMap((d) => (d.type === 'message' ? [`${d.target}.${d.method}(${d.args.body})`] : []));

async function vat(
  t: { after: (f: () => unknown) => void },
  net: LocalNetwork,
  vatId: string,
  behaviour: FakeVat,
  ids?: LocalIdentities,
) {
  const fake = fakeWorkers(behaviour);
  const events: VatEvent[] = [];
  const k = await Kernel.create(
    {
      vatId,
      vatName: vatId,
      contractSource: '',
      gasLimit: 1,
      worker: fake.factory,
      events: (e) => events.push(e),
      ...(ids ? { identity: ids.identity(vatId) } : {}),
    },
    net.transport(),
  );
  t.after(() => k.close());
  return { k, fake, events };
}

/** B: answers ping with 0, reflect(x) with x, and forwards messages to reflected promises. */
function reflector(): FakeVat {
  const reflected = new Map<VRef, VRef>();
  return (d) => {
    if (d.type !== 'message') return [];
    const to = reflected.get(d.target);
    if (to !== undefined) return [send(to, d.method!, d.args, d.result)];
    if (d.method === 'ping') return [resolve(d.result!, data('0'))];
    if (d.method === 'reflect') {
      reflected.set(d.result!, d.args.slots[0]!);
      return [resolve(d.result!, ref(d.args.slots[0]!))];
    }
    return [];
  };
}

test('routing: a host call to an import reaches the exporting vat once; its answer comes back', async (t) => {
  const net = new LocalNetwork();
  const a = await vat(t, net, 'A', () => []);
  const b = await vat(t, net, 'B', reflector());
  const bRoot = a.k.importGranted('B', b.k.grantRoot('A'));
  assert.deepEqual(await a.k.call(bRoot, 'ping', []), { rejected: false, value: 0 });
  assert.deepEqual(messages(b.fake.deliveries()), ['o+0.ping(#[])']);
  assert.deepEqual(messages(a.fake.deliveries()), [], 'the host call never entered A');
});

test('embargo: sends to a promise that settles home wait for the echo, then arrive in order, before the vat hears', async (t) => {
  // A's vat (driven by the host): sends reflect(o+1) and append(1) through B, then a ping;
  // when the ping answers (A does not know yet where p went) it sends append(2) to p.
  for (const latencyMs of [0, 5]) {
    const net = new LocalNetwork({ latencyMs });
    const a = await vat(t, net, 'A', (d) => {
      if (d.type === 'message' && d.method === 'go') {
        return answered(
          d,
          send('o-1', 'reflect', ref('o+1'), 'p+1'),
          send('p+1', 'append', data('[1]'), null),
          send('o-1', 'ping', data('[]'), 'p+2'),
        );
      }
      if (d.type === 'notify' && d.resolutions[0]![0] === 'p+2') {
        return [send('p+1', 'append', data('[2]'), null)];
      }
      return [];
    });
    const b = await vat(t, net, 'B', reflector());
    a.k.importGranted('B', b.k.grantRoot('A'));
    net.batches.length = 0;
    await a.k.call('o+0', 'go', []);
    for (let i = 0; i < 50 && messages(a.fake.deliveries()).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const ds = a.fake.deliveries();
    // append(1) came back through B, append(2) was held and then delivered here directly.
    assert.deepEqual(messages(ds), ['o+0.go(#[])', 'o+1.append(#[1])', 'o+1.append(#[2])']);
    // The vat hears where p went only after both (else its next sends would overtake).
    const heard = ds.findIndex((d) => d.type === 'notify' && d.resolutions[0]![0] === 'p+1');
    assert.ok(heard > ds.findIndex((d) => d.type === 'message' && d.args.body === '#[2]'));
    const fromA = net.batches.filter((x) => x.from === 'A').flatMap((x) => x.ops);
    assert.ok(fromA.includes('echo'), `A asked for an echo: ${fromA}`);
    assert.equal(fromA.filter((op) => op === 'deliver').length, 3, 'append(2) never left A');
    assert.deepEqual(a.events, []);
  }
});

test('no embargo (and no echo) when nothing was sent through the peer before it settled', async (t) => {
  const net = new LocalNetwork();
  const a = await vat(t, net, 'A', (d) =>
    d.type === 'message' && d.method === 'go'
      ? answered(d, send('o-1', 'reflect', ref('o+1'), 'p+1'))
      : answered(d),
  );
  const b = await vat(t, net, 'B', reflector());
  a.k.importGranted('B', b.k.grantRoot('A'));
  net.batches.length = 0;
  await a.k.call('o+0', 'go', []);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!net.batches.some((x) => x.ops.includes('echo')), 'nothing was in flight: no echo');
});

test('retirement: once a call is answered and nothing names its promises, the tables are back', async (t) => {
  const net = new LocalNetwork();
  let n = 0; // the vat allocates a fresh result promise for every send
  const a = await vat(t, net, 'A', (d) =>
    d.type === 'message' && d.method === 'go'
      ? answered(d, send('o-1', 'ping', data('[]'), `p+${++n}`))
      : answered(d),
  );
  const b = await vat(t, net, 'B', reflector());
  a.k.importGranted('B', b.k.grantRoot('A'));
  const before = [a.k.tableSizes(), b.k.tableSizes()];
  for (let i = 0; i < 5; i++) await a.k.call('o+0', 'go', []);
  for (let i = 0; i < 50; i++) {
    await Promise.all([a.k.idle(), b.k.idle()]);
    await new Promise((r) => setTimeout(r, 10));
    if (JSON.stringify([a.k.tableSizes(), b.k.tableSizes()]) === JSON.stringify(before)) break;
  }
  assert.deepEqual([a.k.tableSizes(), b.k.tableSizes()], before);
  // A's vat was told to forget the settled result promises it had named.
  const retired = a.fake.deliveries().flatMap((d) => (d.type === 'retire' ? d.vrefs : []));
  for (let i = 1; i <= 5; i++) assert.ok(retired.includes(`p+${i}`), JSON.stringify(retired));
  assert.equal(b.fake.deliveries().filter((d) => d.type === 'message').length, 5);
});

test('a failed crank is reported, its result rejected, and the next crank gets a fresh worker', async (t) => {
  const net = new LocalNetwork();
  const a = await vat(t, net, 'A', (d) =>
    d.type === 'message' && d.method === 'boom' ? { fail: 'gas limit 1 exceeded' } : answered(d),
  );
  const r = await a.k.call('o+0', 'boom', []);
  assert.equal(r.rejected, true);
  assert.match((r.value as Error).message, /delivery aborted: gas limit 1 exceeded/);
  assert.deepEqual(a.events, [
    { type: 'crank-aborted', delivery: 'message', reason: 'gas limit 1 exceeded', gas: 0 },
  ]);
  await a.k.call('o+0', 'other', []);
  assert.equal(a.fake.workers.length, 2);
  assert.equal(a.fake.workers[0]!.dead, true);
});

test('the kernel refuses what a peer may not send, with a machine-readable code', async (t) => {
  const net = new LocalNetwork();
  const a = await vat(t, net, 'A', () => []);
  const refused = (seq: number, msg: unknown) => {
    try {
      a.k.receive('B', seq, msg as never);
    } catch (e) {
      return isProtocolError(e) ? e.code : `not a ProtocolError: ${e}`;
    }
    return 'accepted';
  };
  assert.equal(refused(1, { op: 'bogus' }), 'malformed');
  assert.equal(refused(3, { op: 'echoed', token: 1 }), 'out-of-order');
  assert.equal(refused(2, { op: 'echoed', token: 99 }), 'unknown-ref');
  assert.equal(
    refused(3, { op: 'deliver', target: 'o-5', method: 'm', args: data('[]'), result: null }),
    'unknown-ref',
  );
});

test("handoff holds: a message carrying a third vat's object waits for the take, and later ones wait behind it", async (t) => {
  // A gives B a reference to C's root (a certificate, not a proxy), then sends B one more
  // message. The B↔C link is slow: B must hold both until C has answered the take.
  const net = new LocalNetwork({
    latencyMs: (from, to) =>
      (from === 'B' && to === 'C') || (from === 'C' && to === 'B') ? 30 : 0,
  });
  const ids = new LocalIdentities();
  const a = await vat(
    t,
    net,
    'A',
    (d) =>
      d.type === 'message' && d.method === 'go'
        ? answered(
            d,
            send('o-1', 'use', { body: '#["$0.Alleged: c"]', slots: ['o-2'] }, null),
            send('o-1', 'after', data('[]'), null),
          )
        : answered(d),
    ids,
  );
  const b = await vat(t, net, 'B', (d) => answered(d), ids);
  const c = await vat(t, net, 'C', (d) => answered(d), ids);
  a.k.importGranted('B', b.k.grantRoot('A')); // o-1 in A
  a.k.importGranted('C', c.k.grantRoot('A')); // o-2 in A
  await a.k.call('o+0', 'go', []);
  for (let i = 0; i < 100 && messages(b.fake.deliveries()).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const got = b.fake.deliveries().filter((d) => d.type === 'message');
  assert.deepEqual(
    got.map((d) => (d.type === 'message' ? d.method : '')),
    ['use', 'after'],
  );
  // B holds C's object itself (an import from C), not a proxy through A.
  const use = got[0]!;
  assert.ok(use.type === 'message' && use.args.slots[0]!.startsWith('o-'));
  const bToC = net.batches.filter((x) => x.from === 'B' && x.to === 'C').flatMap((x) => x.ops);
  assert.ok(bToC.includes('take'), `B presented the certificate to C: ${bToC}`);
  assert.equal(b.k.tableSizes().runQueue, 0);
  assert.deepEqual([a.events, b.events, c.events], [[], [], []]);
});
