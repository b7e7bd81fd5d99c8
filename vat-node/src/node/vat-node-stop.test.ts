// VatNode.stop (what SIGTERM runs): the crank in progress finishes and is committed, its answer
// goes out; with a grace period shorter than the crank, the stop goes on without it and the
// crank runs again (once) at the next start. Two vat nodes in this process, on 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { VatNode } from './vat-node.ts';

const ledger = `
import { Far } from '@endo/far';
export function buildRootObject({ baggage }) {
  if (!baggage.has('total')) baggage.init('total', 0);
  const add = (n) => {
    const total = baggage.get('total') + n;
    baggage.set('total', total);
    return total;
  };
  return Far('ledger', {
    total: () => baggage.get('total'),
    spin: (iterations, n) => {
      let x = 0;
      for (let i = 0; i < iterations; i++) x += i % 7;
      return x >= 0 ? add(n) : 0;
    },
  });
}`;
const client = `import { Far } from '@endo/far';
export function buildRootObject() { return Far('client', {}); }`;
const silent = pino({ level: 'silent' });

/** `p`, or a rejection after 20 s (a missing answer fails the test instead of hanging it). */
function soon<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Error('no answer within 20 s')), 20_000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function setup(t: import('node:test').TestContext) {
  const root = mkdtempSync(join(tmpdir(), 'qv-stop-'));
  const open: VatNode[] = [];
  t.after(async () => {
    for (const v of open) await v.close().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  });
  // The same port at every start: the caller keeps the address it redeemed the sturdyref with.
  let port = 0;
  const startServer = async () => {
    const v = await VatNode.start({
      dataDir: join(root, 'server'),
      contractSource: ledger,
      listen: [`/ip4/127.0.0.1/tcp/${port}`],
      gasLimit: 2_000_000_000,
      logger: silent,
    });
    open.push(v);
    port = Number(v.multiaddrs()[0]!.split('/tcp/')[1]!.split('/')[0]);
    return v;
  };
  const server = await startServer();
  const caller = await VatNode.start({
    dataDir: join(root, 'client'),
    contractSource: client,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    logger: silent,
  });
  open.push(caller);
  const target = await caller.kernel.redeem(server.mintRootSturdyRef());
  const call = (method: string, ...args: unknown[]) =>
    soon(caller.kernel.call(target, method, args).then((r) => r.value));
  // A crank of about 1.5 s: the loop's speed measured over 50M iterations.
  const t0 = performance.now();
  await call('spin', 50_000_000, 0);
  const perIteration = (performance.now() - t0) / 50_000_000;
  const iterations = Math.round(Math.min(1_500 / perIteration, 600_000_000));
  return { server, startServer, call, iterations };
}

/**
 * Resolves once the server has the message and its crank has had time to start (it starts once
 * the message is committed, within milliseconds; the crank takes about 1.5 s).
 */
async function crankStarted(server: VatNode, before: number): Promise<void> {
  while (server.transport.stats.messagesReceived <= before) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200));
}

test('stop: the crank in progress finishes, is committed and answered before the node closes', async (t) => {
  const { server, startServer, call, iterations } = await setup(t);
  const before = server.transport.stats.messagesReceived;
  const answer = call('spin', iterations, 5);
  await crankStarted(server, before);
  const deliveries = server.kernel.stats.deliveries;
  const t0 = performance.now();
  assert.equal(await server.stop(10_000), 'clean');
  const stopMs = performance.now() - t0;
  assert.equal(server.kernel.stats.deliveries, deliveries + 1, 'the crank finished');
  assert.ok(stopMs > 200, `waited for the crank (${Math.round(stopMs)} ms)`);
  assert.equal(await soon(answer), 5, 'answered before the node closed');
  const again = await startServer();
  assert.equal(again.kernel.stats.deliveries, 0);
  assert.equal(await call('total'), 5, 'committed once');
});

test('stop: a grace period shorter than the crank closes without it; it runs once at the next start', async (t) => {
  const { server, startServer, call, iterations } = await setup(t);
  const before = server.transport.stats.messagesReceived;
  const answer = call('spin', iterations, 7);
  await crankStarted(server, before);
  const t0 = performance.now();
  assert.equal(await server.stop(100), 'grace-expired');
  assert.ok(performance.now() - t0 < 1_000, 'bounded by the grace period, not the crank');
  await startServer();
  // The delivery was committed to the run queue when it arrived: it runs again now, once (the
  // caller's next call reconnects; the answer owed to it goes out then).
  assert.equal(await call('total'), 7);
  assert.equal(await soon(answer), 7);
});
