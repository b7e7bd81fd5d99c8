import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { chainHash } from './chain.ts';
import { DB_FILE, KernelDB, rowSum } from './kernel-db.ts';
import { type ReplayFn, VerifyFailed, verifyDataDir } from './verify.ts';

type Writes = [string, string | null][];

/**
 * A pure stand-in for the worker replay: each entry is `["crank", n, writes]` with the vat's
 * own keys; applying the writes in order gives the vat store, hashing the entries the chain.
 */
const fakeReplay: ReplayFn = async (checkpointKv, entries, start) => {
  const kv = new Map(checkpointKv);
  let hash = start.hash;
  for (const { entry } of entries) {
    const [, , writes] = JSON.parse(entry) as [string, number, Writes];
    for (const [k, v] of writes) {
      if (v === null) kv.delete(k);
      else kv.set(k, v);
    }
    hash = chainHash(hash, entry);
  }
  return { hash, finalKv: kv };
};

/** A data directory as the kernel will write it: vat store under `vs.`, the rest beside it. */
function makeDataDir(t: TestContext, cranks = 120, checkpointAt = [50, 100]): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = KernelDB.open(dir);
  for (let n = 1; n <= cranks; n++) {
    const writes: Writes = [
      [`counter.${n % 3}`, String(n)],
      [`obj.${n}`, `o${n}`],
      [`obj.${n - 10}`, null],
    ];
    db.commit(
      [
        ...writes.map(([k, v]): [string, string | null] => [`vs.${k}`, v]),
        [`out.peer.${n}`, 'msg'],
        ['meta.crank', String(n)],
      ],
      { entry: JSON.stringify(['crank', n, writes]) },
    );
    if (checkpointAt.includes(n)) db.checkpoint();
  }
  db.close();
  return dir;
}

function tamper(dir: string, sql: string): void {
  const raw = new DatabaseSync(join(dir, DB_FILE));
  raw.exec(sql);
  raw.close();
}

async function failsWith(p: Promise<unknown>, reason: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.ok(err instanceof VerifyFailed, String(err));
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('a sound data directory verifies: chain, replay hash and vat store all agree', async (t) => {
  const dir = makeDataDir(t);
  const report = await verifyDataDir(dir, fakeReplay);
  assert.equal(report.ok, true);
  assert.equal(report.checkpoint.position, 100);
  assert.equal(report.transcriptRows, 20);
  assert.equal(report.head.position, 120);
  assert.equal(report.stateRows, 3 + 10, 'three counters and the last ten objects');
  // checkpoint at the head: nothing to replay, still verified
  const db = KernelDB.open(dir);
  db.checkpoint();
  db.close();
  const again = await verifyDataDir(dir, fakeReplay);
  assert.equal(again.transcriptRows, 0);
  assert.deepEqual(again.head, report.head);
  assert.equal(again.stateDigest, report.stateDigest);
});

test('a vat store row changed behind the kernel (with a valid checksum) fails as state', async (t) => {
  const dir = makeDataDir(t);
  tamper(
    dir,
    `UPDATE kv SET value = 'forged', sum = '${rowSum('vs.counter.0', 'forged')}' WHERE key = 'vs.counter.0'`,
  );
  await failsWith(
    verifyDataDir(dir, fakeReplay),
    'state',
    /1 key\(s\) with other values, 0 stored key\(s\) the replay lacks, 0 replayed/,
  );
  tamper(dir, "DELETE FROM kv WHERE key = 'vs.obj.120'");
  await failsWith(verifyDataDir(dir, fakeReplay), 'state', /1 replayed key\(s\) not stored/);
});

test('a replay that diverges fails as hash or state', async (t) => {
  const dir = makeDataDir(t);
  const otherHash: ReplayFn = async (kv, entries, start) => ({
    ...(await fakeReplay(kv, entries.slice(0, -1), start)),
    finalKv: (await fakeReplay(kv, entries, start)).finalKv,
  });
  await failsWith(
    verifyDataDir(dir, otherHash),
    'hash',
    /replay of positions 101\.\.120 ends with hash/,
  );
  const dropsWrites: ReplayFn = async (kv, entries, start) => {
    const r = await fakeReplay(kv, entries, start);
    const finalKv = new Map(r.finalKv);
    finalKv.delete('counter.1');
    return { hash: r.hash, finalKv };
  };
  await failsWith(verifyDataDir(dir, dropsWrites), 'state', /1 stored key\(s\) the replay lacks/);
  const throws: ReplayFn = async () => {
    throw new Error('crank 7 (message) diverged:\nexpected x, got y');
  };
  await failsWith(
    verifyDataDir(dir, throws),
    'replay',
    /replay of 20 cranks from position 100 failed: Error: crank 7/,
  );
});

test('corrupt or missing data directories fail with the store reason, never verify', async (t) => {
  let dir = makeDataDir(t);
  tamper(dir, `UPDATE transcript SET entry = '["crank",110,[]]' WHERE pos = 110`);
  await failsWith(verifyDataDir(dir, fakeReplay), 'chain', /chain broken at position 110/);

  dir = makeDataDir(t);
  tamper(dir, "DELETE FROM checkpoint WHERE key = 'vs.obj.95'");
  await failsWith(
    verifyDataDir(dir, fakeReplay),
    'checkpoint',
    /checkpoint has 12 rows, its record says 13/,
  );

  dir = makeDataDir(t);
  truncateSync(join(dir, DB_FILE), 8192);
  await assert.rejects(verifyDataDir(dir, fakeReplay), VerifyFailed);

  await failsWith(verifyDataDir(join(dir, 'nowhere'), fakeReplay), 'missing', /no store/);
});

test('verify refuses a data directory a running node holds (busy), and leaves it as it was', async (t) => {
  const dir = makeDataDir(t, 30, []);
  const node = KernelDB.open(dir);
  try {
    await failsWith(
      verifyDataDir(dir, fakeReplay, { busyTimeoutMs: 100 }),
      'busy',
      /in use by another process/,
    );
  } finally {
    node.close();
  }
  const report = await verifyDataDir(dir, fakeReplay);
  assert.equal(report.transcriptRows, 30);
  const db = KernelDB.open(dir); // the node starts again after a verify
  assert.equal(db.head.position, 30);
  db.close();
});
