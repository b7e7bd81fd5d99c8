/**
 * The first run of tools/with-node.sh on a machine without the pinned Node: when it cannot
 * install Node, it says why in one line and exits 1. Run on a copy of the script in a scratch
 * root; the failures are made locally (an unsupported machine, no npm, a registry address
 * where nothing listens), so nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = new URL('../../tools/with-node.sh', import.meta.url).pathname;

function scratchRoot(t: { after: (fn: () => unknown) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'qv-first-run-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'tools'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(SCRIPT, join(root, 'tools', 'with-node.sh'));
  writeFileSync(join(root, '.node-version'), '24.21.0\n');
  return root;
}

function fake(root: string, name: string, body: string) {
  writeFileSync(join(root, 'bin', name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(root, 'bin', name), 0o755);
}

function firstRun(root: string, env: Record<string, string> = {}) {
  const r = spawnSync(join(root, 'tools', 'with-node.sh'), ['node', '--version'], {
    env: { ...process.env, PATH: `${join(root, 'bin')}:/usr/bin:/bin`, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, lines: r.stderr.split('\n').filter((l) => l !== '') };
}

test('an unsupported machine: says so, exit 1', (t) => {
  const root = scratchRoot(t);
  fake(root, 'uname', '[ "$1" = -m ] && echo riscv64 || echo Linux');
  const r = firstRun(root);
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines, [
    'quorumvat: no pinned Node for this machine (Linux riscv64): the npm registry has builds for linux x64 and arm64 only',
  ]);
});

test('no npm: says so, exit 1', (t) => {
  const root = scratchRoot(t);
  // A PATH with only what the script needs before it looks for npm.
  for (const tool of ['bash', 'env', 'dirname', 'cat', 'uname']) {
    symlinkSync(
      execFileSync('which', [tool], { encoding: 'utf8' }).trim(),
      join(root, 'bin', tool),
    );
  }
  const r = spawnSync(join(root, 'tools', 'with-node.sh'), ['node', '--version'], {
    env: { PATH: join(root, 'bin') },
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^quorumvat: npm is not installed: the first run needs npm/);
});

test('the registry unreachable: says so after the "installing" line, exit 1', (t) => {
  const root = scratchRoot(t);
  const r = firstRun(root, {
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_fetch_retries: '0',
    npm_config_cache: join(root, 'npm-cache'),
  });
  assert.equal(r.code, 1, r.lines.join('\n'));
  assert.equal(r.lines.length, 2, r.lines.join('\n'));
  assert.match(r.lines[0]!, /^quorumvat: installing Node 24\.21\.0 \(node-linux-(x64|arm64)\)/);
  assert.match(
    r.lines[1]!,
    /^quorumvat: cannot reach the npm registry \(http:\/\/127\.0\.0\.1:9\/\) to fetch node-linux-\w+@24\.21\.0: ECONNREFUSED$/,
  );
});
