// The project's in-process kernel: two vats (each a kernel with its own vat worker process),
// joined by the in-process link. Same work as endo-captp-local, so the ratio is visible:
//   deliveries_per_s           E(counter).incr(i) from vat A to vat B, awaited one at a time
//   deliveries_inflight_per_s  bursts of INFLIGHT calls issued at once, then all awaited
//   pipelined_chain_ms         mean time of E(E(E(a).b()).c()).d() across the two vats
// Every delivery here is a full crank: metered contract code, c-list translation, and a
// commit of its syscalls; results come back as resolution notifications (cranks too).
// The second line ("durable": true) runs the same with a data directory per vat: every worker
// batch of cranks commits to SQLite (synchronous FULL: fsync per commit) before its messages
// leave the vat.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostRef } from '../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../vat-node/src/transport/local-link.ts';
import { emit, quick, round } from './lib.ts';

const BENCH = 'kernel-local';
const SEQUENTIAL = quick(3000, 300);
const INFLIGHT = quick(20_000, 1000);
const CHAINS = quick(500, 50);

const source = readFileSync(new URL('./contracts/bench.js', import.meta.url), 'utf8');

async function run(durable: boolean): Promise<void> {
  const root = durable ? mkdtempSync(join(tmpdir(), 'qv-bench-kl-')) : undefined;
  const net = new LocalNetwork();
  const [a, b] = await Promise.all(
    ['A', 'B'].map((name) =>
      Kernel.create(
        {
          vatId: name,
          vatName: name,
          contractSource: source,
          gasLimit: 100_000_000,
          dataDir: root && join(root, name),
        },
        net.transport(),
      ),
    ),
  );
  if (!a || !b) throw Error('vats failed to start');

  async function call(method: string, args: unknown[]): Promise<unknown> {
    const r = await a!.call('o+0', method, args);
    if (r.rejected) throw Error(`${method}: ${JSON.stringify(r.value)}`);
    return r.value;
  }

  async function timed(method: string, args: unknown[]): Promise<number> {
    const t0 = performance.now();
    await call(method, args);
    return performance.now() - t0;
  }

  try {
    const bRoot = new HostRef(a.importGranted(b.vatId, b.grantRoot(a.vatId)));
    // The counter and the chain head live in B; A gets presences for them.
    const bCounter = (await a.call(bRoot.vref, 'counter', [])).value as HostRef;
    const bA = (await a.call(bRoot.vref, 'a', [])).value as HostRef;

    await call('sequential', [bCounter, quick(300, 30)]); // warm-up
    const seqMs = await timed('sequential', [bCounter, SEQUENTIAL]);
    await call('burst', [bCounter, quick(2000, 100)]);
    const burstMs = await timed('burst', [bCounter, INFLIGHT]);
    await call('chains', [bA, quick(50, 5)]);
    const chainMs = await timed('chains', [bA, CHAINS]);

    emit({
      bench: BENCH,
      ...(durable ? { durable: true } : {}),
      vats: 2,
      deliveries_per_s: round((SEQUENTIAL / seqMs) * 1000),
      deliveries_inflight_per_s: round((INFLIGHT / burstMs) * 1000),
      inflight: INFLIGHT,
      pipelined_chain_ms: round(chainMs / CHAINS),
      cranks_a: a.stats.cranks,
      cranks_b: b.stats.cranks,
    });
  } finally {
    await Promise.all([a.close(), b.close()]);
    if (root) rmSync(root, { recursive: true, force: true });
  }
}

await run(false);
await run(true);
