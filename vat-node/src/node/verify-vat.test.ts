import assert from 'node:assert/strict';
import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../kernel/hostcaps.ts';
import { Kernel } from '../kernel/kernel.ts';
import { DB_FILE, rowSum } from '../store/kernel-db.ts';
import { VerifyFailed } from '../store/verify.ts';
import { LocalNetwork } from '../transport/local-link.ts';
import { verifyVatDataDir } from './verify-vat.ts';

const counter = readFileSync(
  new URL('../../../test/kernel/contracts/counter.js', import.meta.url),
  'utf8',
);

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-verify-vat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A real vat's data directory: cranks before and after a checkpoint (a restart takes one). */
async function makeVatDir(t: TestContext): Promise<string> {
  const root = tempDir(t);
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const run = async (n: number) => {
    const net = new LocalNetwork();
    const opts = { contractSource: counter, gasLimit: 200_000, synchronous: 'OFF' as const };
    const b = await Kernel.create(
      { ...opts, vatId: 'B', vatName: 'B', dataDir: dirB },
      net.transport(),
    );
    const a = await Kernel.create(
      { ...opts, vatId: 'A', vatName: 'A', dataDir: dirA },
      net.transport(),
    );
    const bRoot = new HostRef(a.importGranted('B', b.grantRoot('A')));
    for (let i = 0; i < n; i++) await a.call('o+0', 'callPeer', [bRoot, 'incr', i]);
    await a.call('o+0', 'loop', []); // a failed crank: the replay restarts its worker too
    await a.call('o+0', 'incr', [1]);
    await Promise.all([a.idle(), b.idle()]);
    await Promise.all([a.close(), b.close()]);
  };
  await run(5);
  await run(5); // starts from a checkpoint
  return dirA;
}

function copy(t: TestContext, dir: string): string {
  const to = join(tempDir(t), 'copy');
  cpSync(dir, to, { recursive: true });
  return to;
}

async function fails(dir: string, reason: RegExp, message: RegExp): Promise<void> {
  await assert.rejects(verifyVatDataDir(dir), (e: unknown) => {
    assert.ok(e instanceof VerifyFailed, String(e));
    assert.match(e.reason, reason);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('a vat data directory verifies from the directory alone (real replay)', async (t) => {
  const dir = await makeVatDir(t);
  const report = await verifyVatDataDir(dir);
  assert.equal(report.ok, true);
  assert.equal(report.vatName, 'A');
  assert.ok(report.checkpoint.position > 0, 'a checkpoint was taken at the restart');
  assert.ok(report.transcriptRows > 5, 'and cranks since it were replayed');
});

test('corrupted vat data directories fail with a clear reason', async (t) => {
  const good = await makeVatDir(t);

  // Truncated file.
  const truncated = copy(t, good);
  const path = join(truncated, DB_FILE);
  truncateSync(path, Math.floor(statSync(path).size / 2));
  await fails(truncated, /integrity/, /damaged|truncated|malformed/);

  // One flipped byte inside the transcript entries (the chain or a checksum must see it). Old
  // copies of a row may linger in free pages, where a flip harms nothing: flip every copy.
  const flipped = copy(t, good);
  flipAll(join(flipped, DB_FILE), '"method":"incr"');
  await fails(flipped, /chain|checksum|integrity/, /chain|checksum|damaged/);

  // Missing checkpoint: its record deleted, or its rows.
  const noMeta = copy(t, good);
  sql(noMeta, 'DELETE FROM checkpoint_meta');
  await fails(noMeta, /checkpoint/, /checkpoint record missing/);
  const noRows = copy(t, good);
  sql(noRows, 'DELETE FROM checkpoint');
  await fails(noRows, /checkpoint/, /checkpoint has 0 rows/);

  // The vat store changed behind the kernel, with a valid checksum: the replay disagrees.
  const tampered = copy(t, good);
  const db = new DatabaseSync(join(tampered, DB_FILE));
  const row = db.prepare("SELECT key FROM kv WHERE key LIKE 'vs.vom.%' LIMIT 1").get() as {
    key: string;
  };
  db.prepare('UPDATE kv SET value = ?, sum = ? WHERE key = ?').run(
    '{"body":"#{}","slots":[]}',
    rowSum(row.key, '{"body":"#{}","slots":[]}'),
    row.key,
  );
  db.close();
  await fails(tampered, /state/, /replayed vat store differs/);

  // The contract the directory names is gone: not a vat directory.
  const noContract = copy(t, good);
  sql(noContract, "DELETE FROM kv WHERE key = 'meta.contractSource'");
  await fails(noContract, /meta/, /no meta.contractSource/);

  // No store at all.
  await fails(tempDir(t), /missing/, /no store/);
});

function sql(dir: string, statement: string): void {
  const db = new DatabaseSync(join(dir, DB_FILE));
  db.exec(statement);
  db.close();
}

/** Flips one byte inside every occurrence of `marker` in the file. */
function flipAll(path: string, marker: string): void {
  const size = statSync(path).size;
  const buf = Buffer.alloc(size);
  const fd = openSync(path, 'r+');
  try {
    readSync(fd, buf, 0, size, 0);
    let n = 0;
    for (let at = buf.indexOf(marker); at >= 0; at = buf.indexOf(marker, at + 1), n++) {
      writeSync(fd, Buffer.of(buf[at + 3]! ^ 0x01), 0, 1, at + 3);
    }
    assert.ok(n > 0, 'marker found in the file');
  } finally {
    closeSync(fd);
  }
}

test('with refreshWorker the transcript stays bounded and every checkpoint replays', async (t) => {
  const dir = join(tempDir(t), 'v');
  const net = new LocalNetwork();
  const v = await Kernel.create(
    {
      vatId: 'V',
      vatName: 'V',
      contractSource: counter,
      gasLimit: 200_000,
      dataDir: dir,
      synchronous: 'OFF',
      checkpoint: { maxRows: 10, refreshWorker: 'always' },
    },
    net.transport(),
  );
  let total = 0;
  for (let i = 1; i <= 60; i++) {
    total += i;
    assert.deepEqual(await v.call('o+0', 'incr', [i]), { rejected: false, value: total });
    // Heap state held by the host across a refresh is gone, as after a restart; durable
    // state is not.
    if (i === 30) await v.call('o+0', 'loop', []);
  }
  assert.ok(v.stats.checkpoints >= 5, `${v.stats.checkpoints} checkpoints`);
  await v.close();
  const report = await verifyVatDataDir(dir);
  assert.ok(report.transcriptRows <= 12, `${report.transcriptRows} rows since the checkpoint`);
  assert.ok(report.checkpoint.position > 50, `checkpoint at ${report.checkpoint.position}`);
});
