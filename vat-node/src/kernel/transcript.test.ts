import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { CrankOutcome, Delivery } from '../liveslots/protocol.ts';
import { entryJson } from '../store/chain.ts';
import { KernelDB } from '../store/kernel-db.ts';
import { Transcript } from './transcript.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-transcript-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the chain is the kernel Transcript chain, bit for bit', (t) => {
  const db = KernelDB.open(tempDir(t));
  t.after(() => db.close());
  const transcript = new Transcript();
  for (let i = 0; i < 20; i++) {
    const delivery: Delivery = {
      type: 'notify',
      resolutions: [[`p+${i}`, false, { body: '#1', slots: [] }]],
    };
    const outcome: CrankOutcome = {
      ok: true,
      syscalls: [],
      writes: [[`k${i}`, String(i)]],
      gas: i,
    };
    transcript.append(delivery, outcome);
    db.commit(outcome.writes, { entry: entryJson(delivery, outcome) });
  }
  assert.equal(db.head.hash, transcript.hash);
  assert.equal(db.head.position, transcript.length);
});
