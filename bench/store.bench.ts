// The kernel's durable store (vat-node/src/store/kernel-db.ts: SQLite via node:sqlite, WAL).
//   case "commit"   crank commits per second: `keys` kv writes + one transcript row (a
//                   ~200-byte entry) per crank, `batch` cranks per transaction (1 = one
//                   fsync per crank; >1 = group commit), at `sync` = FULL (what the node
//                   uses: a commit is on disk when it returns), NORMAL, and OFF (no fsync:
//                   the ceiling SQLite itself allows, the peer of this bench).
//   case "restart"  a store filled by `commits` cranks over the same live state (`live_rows`
//                   vat-store rows, checkpoints by the default policy), closed, then opened:
//                   restart_open_ms = KernelDB.open (header, schema, quick_check, checkpoint
//                   count, hash chain since the checkpoint) + entries() (all live state, every
//                   row checksum checked); data_bytes = the data directory on disk.
//   case "open"     open cost by check level (none / quick / full) on the largest store.
import {
  closeSync,
  copyFileSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelDB, type Synchronous, shouldCheckpoint } from '../vat-node/src/store/kernel-db.ts';
import { emit, measureSync, nowNs, QUICK, quick, round } from './lib.ts';

const BENCH = 'store';
const root = mkdtempSync(join(tmpdir(), 'qv-store-bench-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);

const ENTRY_PAD = 'x'.repeat(160);
const entry = (i: number) => JSON.stringify([{ type: 'message', target: 'o+1', i }, ENTRY_PAD]);
const LIVE_ROWS = 1000;
const value = (i: number) => `{"count":${i},"pad":"${'v'.repeat(80)}"}`;

function crank(
  i: number,
  keys: number,
  liveRows = LIVE_ROWS,
): { writes: [string, string][]; transcript: { entry: string } } {
  const writes: [string, string][] = [];
  for (let k = 0; k < keys; k++) writes.push([`vs.obj.${(i * keys + k) % liveRows}`, value(i)]);
  return { writes, transcript: { entry: entry(i) } };
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

function commitRate(sync: Synchronous, keys: number, batch: number): void {
  const dir = freshDir();
  const db = KernelDB.open(dir, { synchronous: sync });
  let i = 0;
  const r = measureSync(
    () => {
      if (batch === 1) {
        const c = crank(i++, keys);
        db.commit(c.writes, c.transcript);
      } else {
        const cs = [];
        for (let j = 0; j < batch; j++) cs.push(crank(i++, keys));
        db.commitMany(cs);
      }
      if (shouldCheckpoint(db.stats())) db.checkpoint();
    },
    { durationMs: quick(2000, 250), warmupMs: quick(300, 50) },
  );
  db.close();
  rmSync(dir, { recursive: true, force: true });
  emit({
    bench: BENCH,
    case: 'commit',
    sync,
    keys,
    batch,
    cranks_per_s: round(r.perSecond * batch),
    commits_per_s: round(r.perSecond),
    commit_us: round(1e6 / r.perSecond),
  });
}

function fill(dir: string, commits: number, liveRows = LIVE_ROWS): void {
  // Filling uses synchronous OFF (the same file as FULL writes, much faster); measured below.
  const db = KernelDB.open(dir, { synchronous: 'OFF' });
  for (let k = 0; k < liveRows; k += 100) {
    const writes: [string, string][] = [];
    for (let j = k; j < k + 100; j++) writes.push([`vs.obj.${j}`, value(0)]);
    db.commit(writes);
  }
  for (let i = 0; i < commits; i++) {
    const c = crank(i, 3, liveRows);
    db.commit(c.writes, c.transcript);
    if (shouldCheckpoint(db.stats())) db.checkpoint();
  }
  db.close();
}

function timeOpen(
  dir: string,
  check: 'none' | 'quick' | 'full',
  load: boolean,
  reps: number,
): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps; r++) {
    const t0 = nowNs();
    const db = KernelDB.open(dir, { check });
    if (load) db.entries();
    const ms = (nowNs() - t0) / 1e6;
    db.close();
    best = Math.min(best, ms);
  }
  return best;
}

// The device's own fsync rate (overwrite one 4 KiB block in place, fdatasync): the bound of
// any one-fsync-per-commit store on this machine right now (it varies a lot with load).
{
  const path = join(root, 'fsync-probe');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 7);
  writeSync(fd, block, 0, block.length, 0);
  fdatasyncSync(fd);
  const r = measureSync(
    () => {
      writeSync(fd, block, 0, block.length, 0);
      fdatasyncSync(fd);
    },
    { durationMs: quick(1000, 200), warmupMs: quick(100, 20) },
  );
  closeSync(fd);
  emit({ bench: BENCH, case: 'fsync', fdatasync_per_s: round(r.perSecond) });
}

for (const sync of ['FULL', 'NORMAL', 'OFF'] as const) {
  for (const keys of [1, 10]) commitRate(sync, keys, 1);
}
for (const batch of [8, 64]) commitRate('FULL', 1, batch);
commitRate('FULL', 10, 8);

// commits N and N + 999: the same live state, the transcript since the checkpoint empty or
// at its largest (the default policy checkpoints every 1000 cranks).
let largest = '';
const sizes = QUICK ? [1000, 10_000, 10_999] : [1000, 100_000, 100_999];
const runs: [number, number][] = [
  ...sizes.map((n): [number, number] => [n, LIVE_ROWS]),
  [1000, 10_000],
];
for (const [commits, liveRows] of runs) {
  const dir = freshDir();
  const t0 = nowNs();
  fill(dir, commits, liveRows);
  const fillMs = (nowNs() - t0) / 1e6;
  const data_bytes = dirBytes(dir);
  const restart_open_ms = timeOpen(dir, 'quick', true, 5);
  const db = KernelDB.open(dir);
  const s = db.stats();
  db.close();
  emit({
    bench: BENCH,
    case: 'restart',
    commits,
    live_rows: liveRows,
    transcript_rows: s.transcriptRows,
    restart_open_ms: round(restart_open_ms),
    data_bytes,
    fill_ms: round(fillMs),
  });
  if (commits === sizes[2]) largest = dir;
}

// Restart after a crash: a byte copy of a live store's files taken between two commits (what
// kill -9 leaves: the WAL holds the commits not yet checkpointed), opened: SQLite recovers the
// WAL index by scanning it (bounded by the autocheckpoint, ~4 MiB), then the usual checks.
{
  const dir = freshDir();
  fill(dir, 1000);
  const db = KernelDB.open(dir, { synchronous: 'OFF' });
  for (let i = 0; i < 700; i++) {
    const c = crank(i, 3);
    db.commit(c.writes, c.transcript);
  }
  const image = freshDir();
  mkdirSync(image);
  for (const f of ['vat.sqlite', 'vat.sqlite-wal']) {
    if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(image, f));
  }
  const wal_bytes = existsSync(join(image, 'vat.sqlite-wal'))
    ? statSync(join(image, 'vat.sqlite-wal')).size
    : 0;
  db.close();
  const t0 = nowNs();
  const again = KernelDB.open(image);
  const rows = again.entries().length;
  const ms = (nowNs() - t0) / 1e6;
  const position = again.head.position;
  again.close();
  emit({
    bench: BENCH,
    case: 'restart-after-crash',
    wal_bytes,
    live_rows: rows,
    transcript_position: position,
    restart_open_ms: round(ms),
  });
}

for (const check of ['none', 'quick', 'full'] as const) {
  emit({ bench: BENCH, case: 'open', check, open_ms: round(timeOpen(largest, check, false, 5)) });
}
