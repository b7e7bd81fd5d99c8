// Restart cost of a durable vat, against the 2018 prototype's approach (replay everything).
//   restart              fill a vat with N deliveries over constant live state (LIVE durable
//                        objects), close it, then time Kernel.create on its data directory until
//                        the vat answers a call. data_bytes: the data directory after the
//                        fill. The vat runs with checkpoint.refreshWorker (its contract keeps
//                        everything in baggage), so the transcript since the last checkpoint
//                        stays under the store's policy (1,000 cranks) whatever N is.
//   restart-replay-all   the same fill with no checkpoints (every transcript row since
//                        genesis kept), then the restart the prototype did: replay the whole
//                        transcript on a fresh worker (kernel/replay.ts).
// Sizes: N = 1,000 and 100,000 with 100 live objects, then 20,000 deliveries over 10,000 live
// objects (BENCH_QUICK: 1,000 and 5,000; 2,000 over 1,000). Each fill runs the host's
// calls 1,000 in flight (the kernel commits them per worker batch of up to 64 cranks).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, type KernelOptions } from '../vat-node/src/kernel/kernel.ts';
import { replayFrom } from '../vat-node/src/kernel/replay.ts';
import { KernelDB } from '../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../vat-node/src/transport/local-link.ts';
import { emit, quick, round } from './lib.ts';

const SIZES = quick([1000, 100_000], [1000, 5000]);
const LIVE = 100;
/** One more vat: 10,000 live durable objects (the restart-under-1-s goal). */
const LARGE_LIVE = quick([20_000, 10_000] as const, [2000, 1000] as const);
const WINDOW = 1000;

/** Live state: `live` durable objects (a kind's instances, each in baggage); bump(i) updates one. */
const contractFor = (live: number) => `
import { Far } from '@endo/far';
export function buildRootObject({ baggage, defineKind }) {
  const makeItem = defineKind('item', (v) => ({ v }), {
    set: ({ state }, v) => {
      state.v = v;
    },
  });
  if (!baggage.has('n')) baggage.init('n', 0);
  return Far('root', {
    bump: (i) => {
      const k = 'obj.' + (i % ${live});
      if (baggage.has(k)) baggage.get(k).set(i);
      else baggage.init(k, makeItem(i));
      baggage.set('n', baggage.get('n') + 1);
    },
    n: () => baggage.get('n'),
  });
}
`;

const NEVER = { maxRows: Number.MAX_SAFE_INTEGER, minBytes: Number.MAX_SAFE_INTEGER };

function options(
  dataDir: string,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
): KernelOptions {
  const contractSource = contractFor(live);
  return { vatId: 'V', vatName: 'V', contractSource, gasLimit: 1_000_000, dataDir, checkpoint };
}

async function fill(
  dataDir: string,
  n: number,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
) {
  const v = await Kernel.create(options(dataDir, live, checkpoint), new LocalNetwork().transport());
  const t0 = performance.now();
  for (let i = 0; i < n; i += WINDOW) {
    const calls: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + WINDOW); j++) calls.push(v.call('o+0', 'bump', [j]));
    await Promise.all(calls);
  }
  const r = await v.call('o+0', 'n', []);
  if (r.value !== n) throw Error(`filled ${String(r.value)} of ${n}`);
  const ms = performance.now() - t0;
  await v.close();
  return ms;
}

function dirBytes(dir: string): number {
  let bytes = 0;
  for (const f of readdirSync(dir)) bytes += statSync(join(dir, f)).size;
  return bytes;
}

const root = mkdtempSync(join(tmpdir(), 'qv-bench-restart-'));
try {
  for (const [n, live] of [...SIZES.map((n) => [n, LIVE] as const), LARGE_LIVE]) {
    // Durable vat: restart from the store (kv rows + a fresh worker).
    const dir = join(root, `cp-${n}-${live}`);
    const fillMs = await fill(dir, n, live, { refreshWorker: true });
    const dataBytes = dirBytes(dir);
    const t0 = performance.now();
    const v = await Kernel.create(
      options(dir, live, { refreshWorker: true }),
      new LocalNetwork().transport(),
    );
    const r = await v.call('o+0', 'n', []);
    const restartMs = performance.now() - t0;
    if (r.value !== n) throw Error(`restarted with ${String(r.value)} of ${n}`);
    await v.close();
    emit({
      bench: 'restart',
      deliveries: n,
      live_objects: live,
      restart_ms: round(restartMs),
      data_bytes: dataBytes,
      fill_deliveries_per_s: round((n / fillMs) * 1000),
    });
    if (live !== LIVE) continue;

    // The prototype: keep the whole transcript, replay it from genesis on a fresh worker.
    const all = join(root, `all-${n}`);
    await fill(all, n, live, NEVER);
    const allBytes = dirBytes(all);
    const t1 = performance.now();
    const db = KernelDB.open(all, { readOnly: true });
    const rows = db.transcriptSince();
    const head = db.head;
    db.close();
    const replayed = await replayFrom(
      { vatName: 'V', contractSource: contractFor(live), gasLimit: 1_000_000 },
      {},
      rows.map((row) => row.entry),
    );
    const replayMs = performance.now() - t1;
    if (replayed.hash !== head.hash) throw Error('replay-all diverged');
    emit({
      bench: 'restart-replay-all',
      deliveries: n,
      restart_ms: round(replayMs),
      data_bytes: allBytes,
      transcript_rows: rows.length,
    });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
