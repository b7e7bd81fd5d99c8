/**
 * Three-party handoff with address hints: a vat that knows where the exporter listens (from a
 * sturdyref, or from a certificate it was given) puts those addresses in the certificates it
 * signs, and the recipient hands them to its transport before it dials the exporter (no DHT
 * lookup needed). The hints are kept durably and passed on along a chain of handoffs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalIdentities } from '../../vat-node/src/kernel/handoff.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import type { VatId } from '../../vat-node/src/protocol/identity.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import type { Transport } from '../../vat-node/src/transport/types.ts';
import { contract, introduce } from './harness.ts';

/** A LocalNetwork transport that records the hints its kernel gives it. */
function recording(net: LocalNetwork): { transport: Transport; hints: Map<VatId, string[]> } {
  const inner = net.transport();
  const hints = new Map<VatId, string[]>();
  const transport: Transport = {
    attach: (k) => inner.attach(k),
    wake: (peer) => inner.wake(peer),
    close: () => inner.close(),
    addHints: (peer, addrs) => {
      hints.set(peer, [...(hints.get(peer) ?? []), ...addrs]);
    },
  };
  return { transport, hints };
}

test('a certificate tells the recipient where the exporter listens, and is passed on', async (t) => {
  const net = new LocalNetwork();
  const ids = new LocalIdentities();
  const made = new Map<string, { k: Kernel; hints: Map<VatId, string[]> }>();
  for (const name of ['A', 'B', 'C', 'D']) {
    const { transport, hints } = recording(net);
    const k = await Kernel.create(
      {
        vatId: name,
        vatName: name,
        contractSource: contract('introducer.js'),
        gasLimit: 1_000_000,
        identity: ids.identity(name),
      },
      transport,
    );
    made.set(name, { k, hints });
  }
  t.after(() => Promise.all([...made.values()].map((v) => v.k.close())));
  const vat = (n: string) => made.get(n)!;
  const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => vat(n).k) as [
    Kernel,
    Kernel,
    Kernel,
    Kernel,
  ];

  // A learns where C listens from a sturdyref for C's service.
  const cAddrs = ['/ip4/127.0.0.1/tcp/4101/p2p/C', '/ip6/::1/tcp/4101/p2p/C'];
  const cRootAtC = (await c.call('o+0', 'service', [])).value as HostRef;
  const uri = c.mintSturdyRef(cRootAtC.vref, cAddrs);
  const service = new HostRef(await a.redeem(uri));
  assert.deepEqual(vat('A').hints.get('C'), cAddrs, "the sturdyref's hints reach A's transport");

  // A gives B the service (a handoff): B's transport learns C's addresses before B dials C.
  const bRoot = new HostRef(introduce(a, b));
  assert.deepEqual(await a.call('o+0', 'introduce', [bRoot, service]), {
    rejected: false,
    value: 1,
  });
  assert.deepEqual(vat('B').hints.get('C'), cAddrs);

  // B, which knows C only from A's certificate, hands the service on to D: D learns them too.
  const dRoot = new HostRef(introduce(b, d));
  assert.deepEqual(await b.call('o+0', 'passOn', [dRoot]), { rejected: false, value: 2 });
  assert.deepEqual(vat('D').hints.get('C'), cAddrs);
});

test('hints are kept in the store: a restarted giver still hands them on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-hints-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const net = new LocalNetwork();
  const ids = new LocalIdentities();
  const start = async (name: string, dataDir?: string) => {
    const r = recording(net);
    const k = await Kernel.create(
      {
        vatId: name,
        vatName: name,
        contractSource: contract('introducer.js'),
        gasLimit: 1_000_000,
        identity: ids.identity(name, Buffer.alloc(32, name.charCodeAt(0))),
        ...(dataDir && { dataDir }),
      },
      r.transport,
    );
    t.after(() => k.close());
    return { k, hints: r.hints };
  };
  const c = await start('C');
  const b = await start('B');
  let a = await start('A', dir);
  const cAddrs = ['/ip4/127.0.0.1/tcp/4102/p2p/C'];
  const svc = (await c.k.call('o+0', 'service', [])).value as HostRef;
  const service = await a.k.redeem(c.k.mintSturdyRef(svc.vref, cAddrs));
  const bRoot = introduce(a.k, b.k);
  await a.k.close();
  a = await start('A', dir);
  assert.deepEqual(await a.k.call('o+0', 'introduce', [new HostRef(bRoot), new HostRef(service)]), {
    rejected: false,
    value: 1,
  });
  assert.deepEqual(b.hints.get('C'), cAddrs);
});
