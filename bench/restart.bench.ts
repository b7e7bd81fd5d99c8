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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayFrom } from '../vat-node/src/kernel/replay.ts';
import { KernelDB } from '../vat-node/src/store/kernel-db.ts';
import { emit, quick, round } from './lib.ts';
import { contractFor, dirBytes, fill, measureRestart, NEVER } from './restart-lib.ts';

const SIZES = quick([1000, 100_000], [1000, 5000]);
const LIVE = 100;
/** One more vat: 10,000 live durable objects (the restart-under-1-s goal). */
const LARGE_LIVE = quick([20_000, 10_000] as const, [2000, 1000] as const);

const root = mkdtempSync(join(tmpdir(), 'qv-bench-restart-'));
try {
  const runs = [
    ...SIZES.map((n) => [n, LIVE, 'host'] as const),
    ...SIZES.map((n) => [n, LIVE, 'peer'] as const),
    [...LARGE_LIVE, 'host'] as const,
  ];
  for (const [n, live, sender] of runs) {
    // Durable vat: restart from the store (kv rows + a fresh worker).
    emit(await measureRestart(join(root, `cp-${n}-${live}-${sender}`), n, live, sender));
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
