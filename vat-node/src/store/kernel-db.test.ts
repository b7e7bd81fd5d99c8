import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chainHash, GENESIS_HASH } from './chain.ts';
import {
  DB_FILE,
  KernelDB,
  rowSum,
  StoreCorrupt,
  type StoreStats,
  StoreUnavailable,
  shouldCheckpoint,
} from './kernel-db.ts';

const KERNEL_DB = fileURLToPath(new URL('./kernel-db.ts', import.meta.url));

function tempDir(t: TestContext, name = 'qv-store-'): string {
  return scratch(t, name).dir;
}

/**
 * A temporary directory and a cleanup stack: `undo` functions (umount, chattr -i) run last
 * registered first, then the directory is removed (never while something is still mounted
 * in it: rm would descend into the mount).
 */
function scratch(
  t: TestContext,
  name = 'qv-store-',
): { dir: string; undo: (f: () => unknown) => void } {
  const dir = mkdtempSync(join(tmpdir(), name));
  const stack: (() => unknown)[] = [];
  t.after(() => {
    for (const f of stack.reverse()) f();
    const mounted = readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir}`);
    if (!mounted) rmSync(dir, { recursive: true, force: true });
  });
  return { dir, undo: (f) => stack.push(f) };
}

/** Runs a shell-free command; returns false instead of throwing (for cleanup). */
function run(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Everything a restart reads, through every check the store has. */
function snapshot(dataDir: string) {
  const db = KernelDB.open(dataDir);
  try {
    const chain = db.verifyChain();
    assert.ok(chain.ok, 'chain');
    return {
      head: db.head,
      kv: db.entries(),
      checkpoint: db.checkpointState(),
      transcript: db.transcriptSince(),
    };
  } finally {
    db.close();
  }
}

/** A store with some live state, a checkpoint and transcript rows after it. */
function populate(dataDir: string, cranks = 300): void {
  const db = KernelDB.open(dataDir);
  for (let i = 1; i <= cranks; i++) {
    db.commit(
      [
        [`vs.obj.${i % 40}`, `value-${i}-${'x'.repeat(60)}`],
        [`clist.peer.o+${i}`, `o-${i}`],
        [`out.peer.${i}`, JSON.stringify({ seq: i, body: 'm'.repeat(40) })],
        [`out.peer.${i - 5}`, null],
      ],
      { entry: JSON.stringify(['crank', i, 'e'.repeat(50)]) },
    );
    if (i === Math.floor(cranks / 2)) db.checkpoint();
  }
  db.close();
}

test('round trip: kv writes, deletes, prefixes, transcript and head survive a reopen', (t) => {
  const dir = join(tempDir(t), 'data');
  const db = KernelDB.open(dir);
  assert.deepEqual(db.head, { position: 0, hash: GENESIS_HASH });
  const h1 = db.commit(
    [
      ['vs.b', '2'],
      ['vs.a', '1'],
      ['vt', 'not in vs.'],
      ['vs', 'neither'],
      ['clist.p1.o+1', 'o-4'],
      ['meta.unicode', 'é😀\u0000end'],
    ],
    { entry: '["e1"]' },
  );
  assert.deepEqual(h1, { position: 1, hash: chainHash(GENESIS_HASH, '["e1"]') });
  const h2 = db.commit([['vs.b', null]], { entry: '["e2"]', hash: chainHash(h1.hash, '["e2"]') });
  db.commit([['meta.x', 'no transcript row']]);
  assert.deepEqual(db.head, h2, 'a commit without a transcript row keeps the head');
  db.close();

  const again = KernelDB.open(dir);
  t.after(() => again.close());
  assert.deepEqual(again.entries('vs.'), [['vs.a', '1']]);
  assert.deepEqual(again.entries(), [
    ['clist.p1.o+1', 'o-4'],
    ['meta.unicode', 'é😀\u0000end'],
    ['meta.x', 'no transcript row'],
    ['vs', 'neither'],
    ['vs.a', '1'],
    ['vt', 'not in vs.'],
  ]);
  assert.equal(again.get('meta.unicode'), 'é😀\u0000end');
  assert.equal(again.get('vs.b'), undefined);
  assert.deepEqual(again.head, h2);
  assert.deepEqual(
    again.transcriptSince().map((r) => [r.pos, r.entry]),
    [
      [1, '["e1"]'],
      [2, '["e2"]'],
    ],
  );
});

test('atomicity: a commit that throws midway leaves exactly nothing', (t) => {
  const dir = tempDir(t);
  const db = KernelDB.open(dir);
  db.commit(
    [
      ['vs.a', '1'],
      ['vs.b', '2'],
    ],
    { entry: '["ok"]' },
  );
  db.checkpoint();
  db.commit([['vs.c', '3']], { entry: '["ok2"]' });
  const before = { head: db.head, kv: db.entries(), tx: db.transcriptSince(), stats: db.stats() };

  const bad = [
    // an invalid value after valid writes (already executed inside the transaction)
    () =>
      db.commit(
        [
          ['vs.a', 'changed'],
          ['vs.new', 'x'],
          ['vs.b', 42 as unknown as string],
        ],
        { entry: '["x"]' },
      ),
    // the iterable itself throws midway
    () =>
      db.commit(
        (function* () {
          yield ['vs.a', 'changed'] as const;
          yield ['vs.c', null] as const;
          throw new Error('crank source failed');
        })(),
        { entry: '["x"]' },
      ),
    // a transcript hash that does not chain: checked after the writes ran
    () => db.commit([['vs.a', 'changed']], { entry: '["x"]', hash: 'f'.repeat(64) }),
    // group commit: the second crank is bad, so the first one is not committed either
    () =>
      db.commitMany([
        { writes: [['vs.a', 'changed']], transcript: { entry: '["y"]' } },
        { writes: [['vs.d', undefined as unknown as string]], transcript: { entry: '["z"]' } },
      ]),
  ];
  for (const [i, f] of bad.entries()) {
    assert.throws(f, `case ${i}`);
    assert.deepEqual(
      { head: db.head, kv: db.entries(), tx: db.transcriptSince(), stats: db.stats() },
      before,
      `case ${i}`,
    );
  }
  // still usable, and the next crank takes the next position
  assert.equal(
    db.commit([['vs.e', '5']], { entry: '["next"]' }).position,
    before.head.position + 1,
  );
  db.close();
  const after = snapshot(dir);
  assert.deepEqual(after.kv, [...before.kv, ['vs.e', '5']]);
});

test('group commit: several cranks, one transaction, in order', (t) => {
  const db = KernelDB.open(tempDir(t));
  t.after(() => db.close());
  const head = db.commitMany(
    Array.from({ length: 10 }, (_, i) => ({
      writes: [[`vs.k${i % 3}`, String(i)]] as [string, string][],
      transcript: { entry: `["c${i}"]` },
    })),
  );
  let h = GENESIS_HASH;
  for (let i = 0; i < 10; i++) h = chainHash(h, `["c${i}"]`);
  assert.deepEqual(head, { position: 10, hash: h });
  assert.deepEqual(db.entries('vs.'), [
    ['vs.k0', '9'],
    ['vs.k1', '7'],
    ['vs.k2', '8'],
  ]);
});

test('crash safety: SIGKILL at random points, 25 times; the store is never behind what was acknowledged', async (t) => {
  const dir = tempDir(t);
  // The child acknowledges (prints) a crank only after commit() returned: the store may be one
  // ahead of the last line we read (killed between commit and print), never behind.
  const child = `
    import { writeSync } from 'node:fs';
    import { KernelDB, shouldCheckpoint } from ${JSON.stringify(KERNEL_DB)};
    const db = KernelDB.open(process.argv[1]);
    let n = Number(db.get('meta.counter') ?? 0);
    writeSync(1, 'ready ' + n + '\\n');
    for (;;) {
      n++;
      db.commit([
        ['meta.counter', String(n)],
        ['vs.k' + (n % 5), 'v' + n],
        ['out.peer.' + n, 'message ' + n],
        ['out.peer.' + (n - 3), null],
      ], { entry: JSON.stringify(['crank', n]) });
      writeSync(1, n + '\\n');
      if (shouldCheckpoint(db.stats(), { maxRows: 97 })) db.checkpoint();
    }`;
  let acked = 0;
  let oneAhead = 0;
  const kills = 25;
  for (let k = 0; k < kills; k++) {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', child, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const ready = new Promise<void>((resolve) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
    });
    const exited = once(proc, 'exit');
    await Promise.race([ready, exited]);
    await new Promise((r) => setTimeout(r, Math.random() * 150));
    proc.kill('SIGKILL');
    const [code, signal] = await exited;
    assert.equal(signal, 'SIGKILL', `child ended by itself (${code})`);
    const lines = out.split('\n').slice(0, -1); // a partial last line was never acknowledged
    assert.match(lines[0] ?? '', /^ready \d+$/);
    assert.equal(
      Number(lines[0]!.slice(6)) >= acked,
      true,
      'child started behind an acknowledged crank',
    );
    const last = lines.length > 1 ? Number(lines[lines.length - 1]) : acked;
    acked = Math.max(acked, last);

    const db = KernelDB.open(dir, { check: 'full' }); // integrity_check, checksums, chain, digest
    const n = Number(db.get('meta.counter') ?? 0);
    assert.ok(n >= acked && n <= acked + 1, `store at ${n}, acknowledged ${acked} (kill ${k})`);
    if (n === acked + 1) oneAhead++;
    // the crank's four writes landed together
    assert.equal(db.get(`vs.k${n % 5}`), `v${n}`);
    assert.deepEqual(
      db
        .entries('out.peer.')
        .map(([key]) => Number(key.slice(9)))
        .sort((a, b) => a - b),
      [n - 2, n - 1, n].filter((x) => x > 0),
    );
    assert.equal(db.head.position, n, 'one transcript row per crank');
    db.close();
    acked = n;
  }
  t.diagnostic(
    `${kills} kills, final counter ${acked}, store one ahead of the last ack ${oneAhead} time(s)`,
  );
  assert.ok(acked > kills, 'the child made progress');
});

test('checkpoints bound the transcript: 100,000 cranks over the same keys keep the file size flat', (t) => {
  const dir = tempDir(t);
  // synchronous OFF only to keep the test quick: sizes do not depend on fsync.
  let db = KernelDB.open(dir, { synchronous: 'OFF' });
  const sizes: Record<number, { open: number; closed: number; rows: number }> = {};
  const fileBytes = () =>
    ['', '-wal', '-shm'].reduce((s, ext) => {
      const p = join(dir, DB_FILE + ext);
      return s + (existsSync(p) ? statSync(p).size : 0);
    }, 0);
  let maxRows = 0;
  let checkpoints = 0;
  for (let i = 1; i <= 100_000; i++) {
    db.commit(
      [
        [`vs.counter.${i % 4}`, String(i)],
        ['vs.big', `${i}:${'s'.repeat(2000)}`],
        ['meta.counter', String(i)],
      ],
      { entry: JSON.stringify(['message', 'o+1', 'incr', i, 'p'.repeat(100)]) },
    );
    maxRows = Math.max(maxRows, db.stats().transcriptRows);
    if (shouldCheckpoint(db.stats())) {
      db.checkpoint();
      checkpoints++;
    }
    if (i === 1000 || i === 10_000 || i === 100_000) {
      const open = fileBytes();
      const rows = db.stats().transcriptRows;
      db.close();
      sizes[i] = { open, closed: fileBytes(), rows };
      db = KernelDB.open(dir, { synchronous: 'OFF' });
    }
  }
  db.close();
  t.diagnostic(
    `sizes ${JSON.stringify(sizes)}, ${checkpoints} checkpoints, max transcript rows ${maxRows}`,
  );
  assert.ok(maxRows <= 1000, 'transcript never above the policy');
  assert.equal(checkpoints, 100);
  const s1 = sizes[1000]!;
  const s100 = sizes[100_000]!;
  assert.ok(s100.closed <= 1.5 * s1.closed, `closed ${s100.closed} vs ${s1.closed}`);
  assert.ok(s100.open <= 1.5 * s1.open, `open ${s100.open} vs ${s1.open}`);
  assert.ok(s100.closed < 2_000_000, 'a few live keys take little room');
});

test('shouldCheckpoint: rows, or bytes above max(floor, live state)', () => {
  const stats = (transcriptRows: number, transcriptBytes: number, cpBytes: number): StoreStats => ({
    position: 0,
    hash: GENESIS_HASH,
    transcriptRows,
    transcriptBytes,
    checkpoint: {
      prefix: 'vs.',
      position: 0,
      hash: GENESIS_HASH,
      rows: 0,
      bytes: cpBytes,
      digest: '',
    },
  });
  assert.equal(shouldCheckpoint(stats(999, 10, 0)), false);
  assert.equal(shouldCheckpoint(stats(1000, 10, 0)), true);
  assert.equal(shouldCheckpoint(stats(10, 1 << 20, 0)), true);
  assert.equal(
    shouldCheckpoint(stats(10, 1 << 20, 8 << 20)),
    false,
    'big live state: copy less often',
  );
  assert.equal(shouldCheckpoint(stats(10, 8 << 20, 8 << 20)), true);
  assert.equal(shouldCheckpoint(stats(10, 10, 0), { maxRows: 10 }), true);
});

test('corruption: a truncated file is refused, never taken for a new store', (t) => {
  const dir = tempDir(t);
  populate(dir);
  const path = join(dir, DB_FILE);
  const size = statSync(path).size;
  const pristine = readFileSync(path);
  for (const len of [Math.floor(size / 2), size - 4096, 4096, 50, 0]) {
    writeFileSync(path, pristine);
    truncateSync(path, len);
    assert.throws(
      () => {
        const db = KernelDB.open(dir);
        db.close();
      },
      StoreCorrupt,
      `truncated to ${len} of ${size}`,
    );
  }
  // and a missing main file beside a write-ahead log
  rmSync(path);
  writeFileSync(`${path}-wal`, 'x'.repeat(100));
  assert.throws(() => KernelDB.open(dir), /missing but its write-ahead log is there/);
});

test('corruption: a flipped byte in a known value, entry or checkpoint row is detected', (t) => {
  const dir = tempDir(t);
  const db = KernelDB.open(dir);
  db.commit([['vs.secret', 'VALUE-IN-CHECKPOINT']], { entry: '["before checkpoint"]' });
  db.checkpoint();
  db.commit([['vs.live', 'LIVE-VALUE-ONLY']], { entry: '["ENTRY-AFTER-CHECKPOINT"]' });
  db.close();
  const path = join(dir, DB_FILE);
  const pristine = readFileSync(path);
  const cases: [string, RegExp][] = [
    ['LIVE-VALUE-ONLY', /kv row \d+ fails its checksum/],
    ['ENTRY-AFTER-CHECKPOINT', /chain broken at position 2/],
  ];
  for (const [needle, expected] of cases) {
    const at = pristine.indexOf(needle);
    assert.ok(at > 100, needle);
    const bytes = Buffer.from(pristine);
    bytes[at + 3] = bytes[at + 3]! ^ 0x01;
    writeFileSync(path, bytes);
    assert.throws(
      () => snapshot(dir),
      (err: Error) => err instanceof StoreCorrupt && expected.test(err.message),
      needle,
    );
  }
  // the checkpointed value appears twice (kv and checkpoint): flip only the checkpoint copy
  const first = pristine.indexOf('VALUE-IN-CHECKPOINT');
  const second = pristine.indexOf('VALUE-IN-CHECKPOINT', first + 1);
  assert.ok(second > first, 'both copies found');
  for (const at of [first, second]) {
    const bytes = Buffer.from(pristine);
    bytes[at + 2] = bytes[at + 2]! ^ 0x20;
    writeFileSync(path, bytes);
    assert.throws(() => snapshot(dir), /(kv|checkpoint) row \d+ fails its checksum/);
  }
  writeFileSync(path, pristine);
  assert.equal(snapshot(dir).head.position, 2, 'the pristine copy is fine');
});

test('corruption: random byte flips in the middle of the file are detected or harmless, never silently wrong', (t) => {
  const dir = tempDir(t);
  populate(dir, 400);
  const path = join(dir, DB_FILE);
  const pristine = readFileSync(path);
  const expected = snapshot(dir);
  let detected = 0;
  let harmless = 0;
  const trials = 60;
  for (let i = 0; i < trials; i++) {
    const bytes = Buffer.from(pristine);
    const at = Math.floor(bytes.length / 4 + Math.random() * (bytes.length / 2));
    // odd trials flip one bit, even ones overwrite 8 bytes with random ones
    if (i % 2) bytes[at] = bytes[at]! ^ (1 << Math.floor(Math.random() * 8));
    else
      for (let j = 0; j < 8; j++)
        bytes[at + j] = bytes[at + j]! ^ (1 + Math.floor(Math.random() * 255));
    writeFileSync(path, bytes);
    rmSync(`${path}-wal`, { force: true });
    let got: ReturnType<typeof snapshot> | undefined;
    try {
      got = snapshot(dir);
    } catch (err) {
      assert.ok(err instanceof StoreCorrupt, `flip at ${at}: ${String(err)}`);
      detected++;
      continue;
    }
    // accepted: then it must be exactly the same data (the flip hit unused space)
    assert.deepEqual(got, expected, `flip at ${at} was accepted with different data`);
    harmless++;
  }
  t.diagnostic(`${trials} flips: ${detected} detected, ${harmless} in unused space`);
  assert.ok(detected > trials / 3, 'most flips land in data and are detected');
});

test('corruption: missing checkpoint rows or record are detected', (t) => {
  const dir = tempDir(t);
  populate(dir);
  const path = join(dir, DB_FILE);
  const pristine = readFileSync(path);
  const tamper = (sql: string) => {
    writeFileSync(path, pristine);
    const raw = new DatabaseSync(path);
    raw.exec(sql);
    raw.close();
  };
  tamper('DELETE FROM checkpoint WHERE key IN (SELECT key FROM checkpoint ORDER BY key LIMIT 3)');
  assert.throws(() => KernelDB.open(dir), /checkpoint has 37 rows, its record says 40/);
  tamper('DELETE FROM checkpoint');
  assert.throws(() => KernelDB.open(dir), StoreCorrupt);
  tamper('DELETE FROM checkpoint_meta');
  assert.throws(() => KernelDB.open(dir), /checkpoint record missing/);
  // a row replaced by another with a valid checksum: only the digest can tell
  tamper(
    `UPDATE checkpoint SET value = 'forged', sum = '${rowSum('vs.obj.0', 'forged')}' WHERE key = 'vs.obj.0'`,
  );
  const db = KernelDB.open(dir);
  t.after(() => db.close());
  assert.throws(() => db.checkpointState(), /checkpoint rows do not match their digest/);
});

test('corruption: a transcript row that does not chain, or a missing one, is reported precisely', (t) => {
  const dir = tempDir(t);
  populate(dir, 300); // checkpoint at 150, rows 151..300
  const path = join(dir, DB_FILE);
  const pristine = readFileSync(path);
  const tamper = (sql: string) => {
    writeFileSync(path, pristine);
    const raw = new DatabaseSync(path);
    raw.exec(sql);
    raw.close();
  };
  tamper(`UPDATE transcript SET entry = '["crank",200,"forged"]' WHERE pos = 200`);
  assert.throws(() => KernelDB.open(dir), /chain broken at position 200: stored hash/);
  const db = KernelDB.open(dir, { check: 'none' });
  const report = db.verifyChain();
  db.close();
  assert.equal(report.ok, false);
  if (!report.ok) {
    assert.equal(report.mismatch.position, 200);
    assert.equal(report.mismatch.kind, 'hash');
    assert.equal(report.rows, 49, 'rows 151..199 were good');
  }
  tamper(`UPDATE transcript SET hash = '${'0'.repeat(64)}' WHERE pos = 300`);
  assert.throws(() => KernelDB.open(dir), /chain broken at position 300/);
  tamper('DELETE FROM transcript WHERE pos = 222');
  assert.throws(() => KernelDB.open(dir), /transcript rows 151\.\.300 \(149 rows\) do not follow/);
  tamper('DELETE FROM transcript WHERE pos = 151');
  assert.throws(() => KernelDB.open(dir), /do not follow the checkpoint at 150/);
  writeFileSync(path, pristine);
  assert.equal(snapshot(dir).head.position, 300);
});

test('a foreign SQLite file, a non-database and a newer schema are refused', (t) => {
  const dir = tempDir(t);
  const path = join(dir, DB_FILE);
  const raw = new DatabaseSync(path);
  raw.exec('CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  raw.close();
  assert.throws(() => KernelDB.open(dir), /not a quorumvat store/);
  writeFileSync(path, 'hello, this is not a database\n'.repeat(200));
  assert.throws(() => KernelDB.open(dir), StoreCorrupt);
  rmSync(path);
  KernelDB.open(dir).close();
  const bump = new DatabaseSync(path);
  bump.exec('PRAGMA user_version = 2');
  bump.close();
  assert.throws(() => KernelDB.open(dir), /schema version 2, this node reads 1/);
});

test('a second process (or opener) on the same store is refused: StoreUnavailable busy', (t) => {
  const dir = tempDir(t);
  const db = KernelDB.open(dir);
  t.after(() => db.close());
  assert.throws(
    () => KernelDB.open(dir, { busyTimeoutMs: 50 }),
    (err: Error) => err instanceof StoreUnavailable && err.reason === 'busy',
  );
});

test('errors never show keys or values', (t) => {
  const dir = tempDir(t);
  const db = KernelDB.open(dir);
  db.commit([['vs.SECRET-KEY', 'SECRET-VALUE']]);
  const messages: string[] = [];
  try {
    db.commit([
      ['vs.SECRET-KEY', 'SECRET-VALUE'],
      ['vs.SECRET-KEY2', {} as unknown as string],
    ]);
  } catch (err) {
    messages.push(String((err as Error).message));
  }
  db.close();
  const path = join(dir, DB_FILE);
  const bytes = readFileSync(path);
  const at = bytes.indexOf('SECRET-VALUE');
  bytes[at] = bytes[at]! ^ 1;
  writeFileSync(path, bytes);
  try {
    snapshot(dir);
  } catch (err) {
    messages.push(String((err as Error).message));
  }
  assert.equal(messages.length, 2);
  for (const m of messages) assert.doesNotMatch(m, /SECRET/);
});

test('read-only data directory (read-only bind mount, EROFS as for root too): refused at open, readable for verify, nothing lost', (t) => {
  // Tests run as root, and root ignores permission bits (chmod 0555 would not stop it). A
  // read-only mount does: the kernel's VFS returns EROFS to everyone, and it is exactly what a
  // pod's readOnly volume is. The store is built in src/, then src/ is bind-mounted read-only.
  const { dir: base, undo } = scratch(t);
  const src = join(base, 'src');
  const mnt = join(base, 'ro');
  mkdirSync(src);
  mkdirSync(mnt);
  populate(src);
  const expected = snapshot(src);
  assert.ok(run('mount', ['--bind', src, mnt]), 'bind mount (needs root)');
  undo(() => run('umount', [mnt]));
  assert.ok(run('mount', ['-o', 'remount,bind,ro', mnt]), 'remount read-only');
  assert.throws(
    () => KernelDB.open(mnt),
    (err: Error) =>
      err instanceof StoreUnavailable && err.reason === 'read-only' && /EROFS/.test(err.message),
  );
  assert.throws(
    () => KernelDB.open(join(mnt, 'fresh')),
    StoreUnavailable,
    'cannot create one either',
  );
  const ro = KernelDB.open(mnt, { readOnly: true, check: 'full' });
  try {
    assert.deepEqual(ro.entries(), expected.kv);
    assert.deepEqual(ro.head, expected.head);
    assert.throws(() => ro.commit([['vs.x', '1']]), StoreUnavailable);
  } finally {
    ro.close();
  }
  assert.ok(run('umount', [mnt]));
  assert.deepEqual(snapshot(src), expected, 'nothing lost');
});

test('data files turned immutable while the node runs (chattr +i): the commit fails cleanly, nothing lost', (t) => {
  // The running-node variant: a mount cannot be remounted read-only under an open writer, so
  // the files are made immutable (root cannot write them either: EPERM, as for a read-only
  // file). The next commit must fail as StoreUnavailable and leave no trace.
  const { dir, undo } = scratch(t);
  const db = KernelDB.open(dir);
  for (let i = 0; i < 50; i++) db.commit([[`vs.k${i % 7}`, String(i)]], { entry: `["c${i}"]` });
  const before = { kv: db.entries(), head: db.head };
  const files = [DB_FILE, `${DB_FILE}-wal`].map((f) => join(dir, f)).filter((f) => existsSync(f));
  assert.ok(files.length === 2, 'the WAL exists while the store is open');
  undo(() => {
    for (const f of [...files, dir]) run('chattr', ['-i', f]);
  });
  for (const f of [...files, dir]) assert.ok(run('chattr', ['+i', f]), `chattr +i ${f}`);
  assert.throws(
    () => db.commit([['vs.k0', 'after']], { entry: '["after"]' }),
    (err: Error) => err instanceof StoreUnavailable && err.reason === 'read-only',
  );
  assert.deepEqual({ kv: db.entries(), head: db.head }, before, 'the failed commit left no trace');
  for (const f of [...files, dir]) run('chattr', ['-i', f]);
  try {
    db.close();
  } catch {}
  const after = snapshot(dir);
  assert.deepEqual({ kv: after.kv, head: after.head }, before, 'nothing lost, nothing extra');
});

test('disk full (512 KiB tmpfs): StoreUnavailable, the failed commit leaves no trace, nothing committed lost', (t) => {
  const { dir: mnt, undo } = scratch(t, 'qv-full-');
  assert.ok(
    run('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mnt]),
    'mount tmpfs (needs root)',
  );
  undo(() => run('umount', [mnt]));
  const dir = join(mnt, 'data');
  // ballast: freed at the end, to show the store recovers once there is room again
  const ballast = join(mnt, 'ballast');
  const fd = openSync(ballast, 'w');
  writeSync(fd, Buffer.alloc(96 * 1024, 1));
  closeSync(fd);

  let db = KernelDB.open(dir);
  const expected = new Map<string, string>();
  let failure: unknown;
  let i = 0;
  for (; i < 10_000; i++) {
    const key = `vs.blob.${i}`;
    const value = `${i}:${'d'.repeat(3000)}`;
    try {
      db.commit(
        [
          [key, value],
          ['meta.counter', String(i)],
        ],
        { entry: `["fill",${i}]` },
      );
    } catch (err) {
      failure = err;
      break;
    }
    expected.set(key, value);
    expected.set('meta.counter', String(i));
  }
  assert.ok(
    failure instanceof StoreUnavailable && failure.reason === 'disk-full',
    `expected disk-full, got ${String(failure)}`,
  );
  assert.match((failure as Error).message, /disk full/);
  const acked = i - 1;
  t.diagnostic(`${i} commits fitted; then: ${(failure as Error).message}`);
  assert.ok(acked > 10, `${acked} commits fitted`);
  const sorted = [...expected].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  assert.deepEqual(db.entries(), sorted, 'the failed commit left no trace');
  assert.equal(db.head.position, acked + 1);
  // the node keeps refusing while the disk is full; a checkpoint fails cleanly too
  assert.throws(
    () => db.commit([['vs.more', 'x'.repeat(20_000)]], { entry: '["more"]' }),
    StoreUnavailable,
  );
  try {
    db.checkpoint();
  } catch (err) {
    assert.ok(err instanceof StoreUnavailable, String(err));
  }
  assert.deepEqual(db.entries(), sorted);
  try {
    db.close();
  } catch {}

  rmSync(ballast);
  db = KernelDB.open(dir, { check: 'full' });
  try {
    assert.deepEqual(db.entries(), sorted, 'nothing committed was lost');
    assert.equal(db.head.position, acked + 1);
    db.commit([['vs.after', 'room again']], { entry: '["after"]' });
  } finally {
    db.close();
  }
});
