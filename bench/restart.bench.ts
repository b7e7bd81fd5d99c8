// Restart cost of a durable vat, against the 2018 prototype's approach (replay everything).
//   restart              fill a vat with N deliveries over constant live state (LIVE durable
//                        objects), close it, then time Kernel.create on its data directory until
//                        the vat answers a call. data_bytes: the data directory after the
//                        fill. The vat checkpoints whenever the store's policy asks and the
//                        vat is quiescent (kernel.ts, refreshWorker 'quiescent', the default),
//                        so the transcript since the last checkpoint stays under the policy
//                        (1,000 cranks) whatever N is.
//   restart-replay-all   the same fill with no checkpoints (every transcript row since
//                        genesis kept), then the restart the prototype did: replay the whole
//                        transcript on a fresh worker (kernel/replay.ts).
//                        sender "host": the node's own calls; "peer": calls from another
//                        vat over a link, each with a result promise (promise_records and
//                        clist_entries after the restart show they did not pile up).
// Sizes: N = 1,000 and 100,000 with 100 live objects, then 20,000 deliveries over 10,000 live
// objects (BENCH_QUICK: 1,000 and 5,000; 2,000 over 1,000). Each fill runs its calls 1,000
// in flight (the kernel commits them per worker batch of up to 64 cranks).
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

const NEVER = {
  maxRows: Number.MAX_SAFE_INTEGER,
  minBytes: Number.MAX_SAFE_INTEGER,
  refreshWorker: 'never',
} as const;

function options(
  dataDir: string,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
): KernelOptions {
  const contractSource = contractFor(live);
  return { vatId: 'V', vatName: 'V', contractSource, gasLimit: 1_000_000, dataDir, checkpoint };
}

/**
 * Fills a vat with `n` bump deliveries, `WINDOW` in flight. sender 'host': the node's own host
 * calls. sender 'peer': calls from another vat's kernel over a link (each with a result promise,
 * c-list entries on both sides: they must not pile up either).
 */
async function fill(
  dataDir: string,
  n: number,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
  sender: 'host' | 'peer' = 'host',
) {
  const net = new LocalNetwork();
  const v = await Kernel.create(options(dataDir, live, checkpoint), net.transport());
  let peer: Kernel | null = null;
  let target = 'o+0';
  let caller = v;
  if (sender === 'peer') {
    const p = await Kernel.create(
      { vatId: 'P', vatName: 'P', contractSource: contractFor(1), gasLimit: 1_000_000 },
      net.transport(),
    );
    peer = p;
    caller = p;
    target = p.importGranted('V', v.grantRoot('P'));
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i += WINDOW) {
    const calls: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + WINDOW); j++) calls.push(caller.call(target, 'bump', [j]));
    await Promise.all(calls);
  }
  const r = await v.call('o+0', 'n', []);
  if (r.value !== n) throw Error(`filled ${String(r.value)} of ${n}`);
  const ms = performance.now() - t0;
  await v.idle();
  await Promise.all([v.close(), peer?.close()]);
  return ms;
}

function dirBytes(dir: string): number {
  let bytes = 0;
  for (const f of readdirSync(dir)) bytes += statSync(join(dir, f)).size;
  return bytes;
}

const root = mkdtempSync(join(tmpdir(), 'qv-bench-restart-'));
try {
  const runs = [
    ...SIZES.map((n) => [n, LIVE, 'host'] as const),
    ...SIZES.map((n) => [n, LIVE, 'peer'] as const),
    [...LARGE_LIVE, 'host'] as const,
  ];
  for (const [n, live, sender] of runs) {
    // Durable vat: restart from the store (kv rows + a fresh worker).
    const dir = join(root, `cp-${n}-${live}-${sender}`);
    const fillMs = await fill(dir, n, live, undefined, sender);
    const dataBytes = dirBytes(dir);
    const t0 = performance.now();
    const v = await Kernel.create(options(dir, live, undefined), new LocalNetwork().transport());
    const r = await v.call('o+0', 'n', []);
    const restartMs = performance.now() - t0;
    if (r.value !== n) throw Error(`restarted with ${String(r.value)} of ${n}`);
    const sizes = v.tableSizes();
    await v.close();
    emit({
      bench: 'restart',
      deliveries: n,
      live_objects: live,
      sender,
      restart_ms: round(restartMs),
      data_bytes: dataBytes,
      promise_records: sizes.promises,
      clist_entries: sizes.clistEntries,
      fill_deliveries_per_s: round((n / fillMs) * 1000),
    });
    if (live !== LIVE || sender !== 'host') continue;

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
