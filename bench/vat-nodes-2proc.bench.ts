// Two real vat nodes over VatTP: this bench process runs a client vat node (kernel, worker,
// libp2p host) and spawns a vat node process running the counter contract; the client redeems
// its sturdyref and calls E(counter).incr(i). Every call is a signed, acknowledged message, a
// metered crank in the remote vat, and a signed resolution back: the whole stack, end to end.
//   msgs_per_s        calls completed per second with WINDOW in flight
//   rtt_p50_ms/p99    one call awaited at a time
// Peers in the same `npm run bench` run: libp2p-raw (the bare stream) and endo-captp-tcp.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { spawnVatNode } from '../vat-node/src/node/spawn.ts';
import { VatNode } from '../vat-node/src/node/vat-node.ts';
import { emit, quick, round, runWindowed, sampleLatencyNs, summarize } from './lib.ts';

const BENCH = 'vat-nodes-2proc';
const WINDOW = 500;
const TOTAL = quick(20_000, 2_000);
const root = mkdtempSync(join(tmpdir(), 'qv-bench-'));
const counter = new URL('./contracts/bench.js', import.meta.url).pathname;

const server = await spawnVatNode({
  dataDir: join(root, 'server'),
  contractPath: counter,
  gasLimit: 1_000_000_000,
});
const client = await VatNode.start({
  dataDir: join(root, 'client'),
  contractSource: readFileSync(new URL('../vat-node/contracts/client.js', import.meta.url), 'utf8'),
  logger: pino({ level: 'error' }),
});
try {
  const k = client.kernel;
  const t0 = performance.now();
  const serverRoot = await k.redeem(readFileSync(server.sturdyRefFile, 'utf8').trim());
  const redeemMs = performance.now() - t0;
  const c = (await k.call(serverRoot, 'counter', [])).value as { vref: string };
  const incr = async (i: number) => {
    const r = await k.call(c.vref, 'incr', [i]);
    if (r.rejected || r.value !== i + 1) throw Error(`incr(${i}) gave ${JSON.stringify(r.value)}`);
  };
  const rtt = summarize(await sampleLatencyNs(incr, { count: quick(2000, 300) }), 1e6);
  await runWindowed(quick(2000, 200), WINDOW, incr); // warm-up
  const t1 = performance.now();
  await runWindowed(TOTAL, WINDOW, incr);
  const secs = (performance.now() - t1) / 1000;
  emit({
    bench: BENCH,
    transport: 'vattp over libp2p, real kernels and metered vat workers on both ends',
    msgs_per_s: round(TOTAL / secs),
    window: WINDOW,
    rtt_p50_ms: round(rtt.p50),
    rtt_p99_ms: round(rtt.p99),
    redeem_ms: round(redeemMs),
    frames_sent: client.transport.stats.framesSent,
    msgs_per_frame: round(
      client.transport.stats.messagesSent / Math.max(1, client.transport.stats.framesSent),
    ),
  });
} finally {
  await client.close();
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
