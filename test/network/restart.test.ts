import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { send, startNode } from './nodes.ts';

const CLI = new URL('../../vat-node/src/cli/main.ts', import.meta.url).pathname;
const verify = (dataDir: string) =>
  spawnSync(process.execPath, [CLI, 'verify', '--data-dir', dataDir], { encoding: 'utf8' });

test('a vat node restarts from its data directory; quorumvat verify checks it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'qv-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startNode('counter.js', { dataDir });
  const uri = first.sturdyRef();
  assert.deepEqual(await send(uri, 'incr', [5]), { code: 0, value: 5 });
  await first.kill('SIGKILL'); // no clean shutdown: everything acknowledged was committed

  const ok = verify(dataDir);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).ok, true);

  const second = await startNode('counter.js', { dataDir });
  t.after(() => second.kill());
  assert.equal(second.vatId, first.vatId, 'same identity');
  // The same sturdyref still works (durable), and so does the durable counter.
  assert.equal(second.sturdyRef().split('?')[0], uri.split('?')[0]);
  assert.deepEqual(await send(second.sturdyRef(), 'incr', [1]), { code: 0, value: 6 });
  await second.kill();

  truncateSync(
    join(dataDir, 'vat.sqlite'),
    Math.floor(statSync(join(dataDir, 'vat.sqlite')).size / 2),
  );
  const bad = verify(dataDir);
  assert.equal(bad.status, 3);
  assert.equal(JSON.parse(bad.stdout).ok, false);
  // One JSON log line says why (the CLI logs as pino JSON): integrity, not a usage error.
  const line = JSON.parse(bad.stderr.trim().split('\n').at(-1)!);
  assert.equal(line.reason, 'integrity');
  assert.match(line.msg, /^verification failed: /);
});
