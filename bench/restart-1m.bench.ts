// The restart bench at the largest size: 1,000,000 deliveries over the same live state
// as restart.bench.ts (100 durable objects), from the host. Its own file so that it gets its
// own time limit (the fill takes about 3 minutes here). BENCH_QUICK: 20,000.
// The prototype's replay-all is not run at this size: at 100,000 it already takes ~30 s and
// 46 MB (restart.bench.ts), and it grows linearly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emit, quick } from './lib.ts';
import { measureRestart } from './restart-lib.ts';

const N = quick(1_000_000, 20_000);
const root = mkdtempSync(join(tmpdir(), 'qv-bench-restart-1m-'));
try {
  emit(await measureRestart(join(root, 'cp'), N, 100, 'host'));
} finally {
  rmSync(root, { recursive: true, force: true });
}
