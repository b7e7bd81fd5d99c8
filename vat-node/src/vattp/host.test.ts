import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lpStream } from '@libp2p/utils';
import { createVatHost, type VatHost } from './host.ts';
import { ephemeralIdentity } from './identity.ts';

const ECHO = '/quorumvat/test-echo/1.0.0';

async function startHost(
  t: { after: (fn: () => Promise<void>) => void },
  bootstrap: string[] = [],
): Promise<VatHost> {
  const host = await createVatHost({
    identity: await ephemeralIdentity(),
    bootstrap,
    dialTimeoutMs: 2_000,
  });
  t.after(() => host.stop());
  await host.handle(ECHO, (stream, remote) => {
    const lp = lpStream(stream);
    void (async () => {
      const got = await lp.read();
      await lp.write(
        new TextEncoder().encode(`${remote}:${new TextDecoder().decode(got.subarray())}`),
      );
    })().catch(() => stream.abort(new Error('echo failed')));
  });
  return host;
}

async function echo(from: VatHost, to: VatHost, text: string): Promise<string> {
  const stream = await from.dial(to.vatId, ECHO, AbortSignal.timeout(30_000));
  const lp = lpStream(stream);
  await lp.write(new TextEncoder().encode(text));
  const reply = new TextDecoder().decode((await lp.read()).subarray());
  await stream.close();
  return reply;
}

test('the host listens on loopback under the vat key; PeerId == VatID', async (t) => {
  const a = await startHost(t);
  const addrs = a.multiaddrs();
  assert.ok(addrs.length > 0);
  for (const addr of addrs)
    assert.match(addr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.vatId}$`));
});

test('dial with an address hint; the handler sees the authenticated remote VatID', async (t) => {
  const a = await startHost(t);
  const b = await startHost(t);
  await b.addAddresses(a.vatId, a.multiaddrs());
  assert.equal(await echo(b, a, 'hi'), `${b.vatId}:hi`);
  assert.ok(b.isConnected(a.vatId));
});

test('DHT only: B and C know only the bootstrap peer A; B reaches C by its VatID', async (t) => {
  const a = await startHost(t);
  const c = await startHost(t, a.multiaddrs());
  await c.bootstrapped();
  const b = await startHost(t, a.multiaddrs());
  await b.bootstrapped();
  assert.equal(b.isConnected(c.vatId), false);
  const started = performance.now();
  let reply: string | undefined;
  // C enters A's routing table once identify has run: short tries, for up to 60 s (a loaded
  // machine runs identify late; a lookup that cannot work never answers).
  const deadline = performance.now() + 60_000;
  while (reply === undefined && performance.now() < deadline) {
    reply = await echo(b, c, 'found you').catch(async () => {
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    });
  }
  assert.equal(reply, `${b.vatId}:found you`);
  t.diagnostic(`DHT lookup + dial took ${(performance.now() - started).toFixed(0)} ms`);
});

test('a denied peer cannot connect', async (t) => {
  const a = await startHost(t);
  const b = await startHost(t);
  a.setDenied((peer) => peer === b.vatId);
  await b.addAddresses(a.vatId, a.multiaddrs());
  await assert.rejects(echo(b, a, 'let me in'));
});
