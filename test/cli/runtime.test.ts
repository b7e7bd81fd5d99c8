/**
 * Mistakes found only when the command runs (a port in use, an address not on this machine, a
 * data directory in use or unusable) and the logs: each failure is ONE pino JSON line (on the
 * node's stdout) naming the flag, exit 1, no stack trace, no libp2p advice. `verify` tells a
 * directory in use (exit 4) from a damaged one (exit 3). Log lines carry vat and component and
 * follow --log-level / QUORUMVAT_LOG_LEVEL.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTRACTS, freePort, linesOf, runCli, startTestNode, until } from './cli.ts';

const mint = join(CONTRACTS, 'mint.js');

function scratch(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One JSON line on stdout, level fatal/error, nothing on stderr, no stack, exit 1. */
function oneFailureLine(r: { code: number | null; stdout: string; stderr: string }, says: RegExp) {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.stderr, '');
  const lines = linesOf(r.stdout);
  assert.equal(lines.length, 1, r.stdout);
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.ok((entry['level'] as number) >= 50, lines[0]);
  assert.ok('vat' in entry && entry['component'] === 'node', lines[0]);
  assert.match(String(entry['msg']), says);
  assert.doesNotMatch(r.stdout, /faultTolerance|\n\s+at |"stack"/);
}

test('a port in use, an address not on this machine: one line naming --listen, exit 1', async (t) => {
  const dir = scratch(t);
  const port = await freePort();
  const server = createServer().listen(port, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = ['node', '--data-dir', join(dir, 'd'), '--contract', mint];
  oneFailureLine(
    await runCli([...base, '--listen', `127.0.0.1:${port}`]),
    new RegExp(
      `cannot listen on /ip4/127.0.0.1/tcp/${port} \\(--listen\\): address already in use`,
    ),
  );
  oneFailureLine(
    await runCli(base, { env: { QUORUMVAT_LISTEN: `/ip4/127.0.0.1/tcp/${port}` } }),
    /address already in use/,
  );
  // 192.0.2.0/24 is TEST-NET-1: never an address of this machine (listening sends nothing).
  oneFailureLine(
    await runCli([...base, '--listen', '192.0.2.1:4000']),
    /cannot listen on \/ip4\/192.0.2.1\/tcp\/4000 \(--listen\): no such address on this machine/,
  );
});

test('a data directory in use or unusable: one line naming --data-dir, exit 1', async (t) => {
  const dir = scratch(t);
  const running = await startTestNode(t, { dataDir: join(dir, 'running'), contractPath: mint });
  oneFailureLine(
    await runCli(['node', '--data-dir', running.dataDir, '--contract', mint]),
    /data directory .* is in use by another vat node process \(--data-dir\)/,
  );
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  oneFailureLine(
    await runCli(['node', '--data-dir', join(file, 'sub'), '--contract', mint]),
    /data directory .*file\/sub \(--data-dir\): not a directory/,
  );
});

test('verify: a running node is "in use" (exit 4), a damaged store exit 3, a sound one 0', async (t) => {
  const dir = scratch(t);
  const node = await startTestNode(t, { dataDir: join(dir, 'n'), contractPath: mint });
  const busy = await runCli(['verify', '--data-dir', node.dataDir]);
  assert.equal(busy.code, 4, busy.stdout + busy.stderr);
  assert.deepEqual(JSON.parse(busy.stdout), {
    ok: false,
    reason: 'busy',
    message: `${node.dataDir} is in use by a running vat node: stop it first (nothing was checked)`,
  });
  assert.equal(linesOf(busy.stderr).length, 1);
  assert.match(JSON.parse(busy.stderr)['msg'], /^not verified: .* in use/);
  await node.stop('SIGTERM');
  const sound = await runCli(['verify', '--data-dir', node.dataDir]);
  assert.equal(sound.code, 0, sound.stdout + sound.stderr);
  assert.equal(JSON.parse(sound.stdout)['ok'], true);
  const missing = await runCli(['verify', '--data-dir', join(dir, 'nothing-here')]);
  assert.equal(missing.code, 4, missing.stdout + missing.stderr);
  truncateSync(join(node.dataDir, 'vat.sqlite'), 4096);
  const damaged = await runCli(['verify', '--data-dir', node.dataDir]);
  assert.equal(damaged.code, 3, damaged.stdout + damaged.stderr);
  assert.match(JSON.parse(damaged.stderr)['msg'], /^verification failed: /);
});

test('log lines: vat and component on every line, level from --log-level or QUORUMVAT_LOG_LEVEL', async (t) => {
  const dir = scratch(t);
  const debug = await startTestNode(t, {
    dataDir: join(dir, 'debug'),
    contractPath: mint,
    extraArgs: ['--log-level', 'debug'],
  });
  await debug.stop('SIGTERM');
  const { exitCode, signalCode } = debug.child;
  const seen = `exit ${exitCode ?? signalCode}; lines: ${JSON.stringify(debug.logs)}`;
  assert.equal(exitCode, 0, seen);
  assert.ok(debug.logs.length >= 2, `ready and stopped: ${seen}`);
  assert.ok(
    debug.logs.some((e) => e['msg'] === 'vat node stopped'),
    `a stopped line: ${seen}`,
  );
  for (const entry of debug.logs) {
    assert.equal(typeof entry['vat'], 'string', JSON.stringify(entry));
    assert.equal(typeof entry['component'], 'string', JSON.stringify(entry));
    assert.match(String(entry['time']), /^\d{4}-\d\d-\d\dT/, 'ISO time');
    assert.ok(!('pid' in entry) && !('hostname' in entry));
  }
  assert.ok(debug.logs.some((e) => e['msg'] === 'vat node ready' && e['component'] === 'node'));
  // At warn, a healthy start and stop print nothing.
  const quietDir = join(dir, 'quiet');
  let child: ChildProcess | undefined;
  const quiet = runCli(['node', '--data-dir', quietDir, '--contract', mint], {
    env: { QUORUMVAT_LOG_LEVEL: 'warn' },
    onSpawn: (c) => {
      child = c;
    },
  });
  await until('root sturdyref written', () => existsSync(join(quietDir, 'root.sturdyref')));
  child!.kill('SIGTERM');
  const r = await quiet;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
});
