/**
 * A data directory that turns read-only under a running node (chattr +i, as a read-only
 * volume would): the node logs ONE error line and then refuses work quietly, however many
 * clients keep trying; it keeps running, and a restart once the directory is writable again
 * finds everything it committed. Needs root (chattr), like the store's own tests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startTestNode } from './cli.ts';

const chattr = (flag: string, dir: string) => {
  for (const f of [...readdirSync(dir).map((n) => join(dir, n)), dir]) {
    execFileSync('chattr', [flag, f]);
  }
};

test('read-only data directory: one error line, quiet refusals, nothing committed lost', async (t) => {
  const node = await startTestNode(t);
  const ref = node.sturdyRef();
  assert.equal((await runCli(['send', ref, 'count'])).stdout, '1\n');
  chattr('+i', node.dataDir);
  t.after(() => chattr('-i', node.dataDir));
  const tries = [];
  for (let i = 0; i < 4; i++) tries.push(await runCli(['send', '--timeout', '3s', ref, 'count']));
  for (const r of tries) assert.notEqual(r.code, 0, r.stdout);
  const errors = node.logs.filter((l) => (l['level'] as number) >= 50);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0]!['msg'], 'store failed: refusing new work');
  assert.equal(node.child.exitCode, null, 'still running');
  // Writable again and restarted: the committed count is there.
  await node.stop('SIGKILL');
  chattr('-i', node.dataDir);
  const again = await startTestNode(t, { dataDir: node.dataDir });
  assert.equal((await runCli(['send', again.sturdyRef(), 'counted'])).stdout, '1\n');
});
