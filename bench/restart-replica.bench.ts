// Restart cost of a replica of a vat (a quorum member: kernel option restoreHeapByReplay), whose
// restart rebuilds the worker's heap by replaying the transcript since the last checkpoint.
//   restart-replica   a vat keeping its state in the heap (test/kernel/contracts/heap-bank.js)
//                     takes N deposits as agreed batches of 10 (receive, settle: one commit
//                     each, as a member executes), no checkpoint meanwhile; then it is closed
//                     and time is taken until Kernel.create returns (the heap rebuilt, every
//                     crank checked against its entry). The checkpoint policy bounds N on a
//                     running member (1,000 cranks by default); 5,000 shows how it grows.
// Sizes: N = 1,000 and 5,000 (BENCH_QUICK: 1,000).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kernel, type KernelOptions } from '../vat-node/src/kernel/kernel.ts';
import { newSecret, redeemProof, sturdyKey } from '../vat-node/src/kernel/sturdyref.ts';
import { LocalNetwork } from '../vat-node/src/transport/local-link.ts';
import { emit, quick } from './lib.ts';

const source = readFileSync(
  new URL('../test/kernel/contracts/heap-bank.js', import.meta.url),
  'utf8',
);

for (const n of quick([1000, 5000], [1000])) {
  const secret = newSecret();
  const dir = mkdtempSync(join(tmpdir(), 'qv-bench-replica-'));
  const options: KernelOptions = {
    vatId: 'Q',
    vatName: 'q',
    contractSource: source,
    gasLimit: 10_000_000,
    dataDir: dir,
    holdCommits: true,
    restoreHeapByReplay: true,
    bootstrapKeys: [sturdyKey(secret)],
    checkpoint: { maxRows: 1_000_000, minBytes: 2 ** 40 },
  };
  let k = await Kernel.create(options, new LocalNetwork().transport());
  const proof = redeemProof(secret, 'Q', 'S');
  k.receive('S', 1, { op: 'redeem', key: sturdyKey(secret), proof, result: 'p+1' });
  let seq = 1;
  while (k.transcript.length < n) {
    for (let i = 0; i < 10; i++) {
      seq++;
      const args = { body: `#["a${seq % 7}",${seq}]`, slots: [] };
      k.receive('S', seq, {
        op: 'deliver',
        target: 'o-1',
        method: 'deposit',
        args,
        result: `p+${seq}`,
      });
    }
    await k.settle();
    k.acked('S', seq);
  }
  await k.close();
  const t0 = performance.now();
  k = await Kernel.create(options, new LocalNetwork().transport());
  const restartMs = performance.now() - t0;
  emit({
    bench: 'restart-replica',
    cranks: k.stats.replayedCranks,
    replay_ms: Math.round(k.stats.replayMs),
    restart_ms: Math.round(restartMs),
  });
  await k.close();
  rmSync(dir, { recursive: true, force: true });
}
