/**
 * `quorumvat send` as a user runs it against real vat node processes: what it prints for each
 * kind of result, a dead node or a missing address (a clear line and exit 5 within --timeout,
 * no temporary directory left behind, also when interrupted), and what a node does about a
 * client that left before its answer (it does not dial it, and says nothing more than once).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, linesOf, runCli, startTestNode, until } from './cli.ts';

/** A private TMPDIR, to see that send leaves nothing behind. */
function privateTmp(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-send-tmp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('results: a value, null for nothing, {"ref"} for a reference, {"error"} with exit 1', async (t) => {
  const tmp = privateTmp(t);
  const node = await startTestNode(t);
  const ref = node.sturdyRef();
  const send = (...args: string[]) => runCli(['send', ref, ...args], { env: { TMPDIR: tmp } });
  const cases: [string[], number, string][] = [
    [['count'], 0, '1'],
    [['nothing'], 0, 'null'],
    [['self'], 0, '{"ref":"Alleged: thing"}'],
    [['fail'], 1, '{"error":"asked to fail","name":"RangeError"}'],
    [['nosuch'], 1, '{"error":"target has no method \\"nosuch\\"'],
  ];
  for (const [args, code, out] of cases) {
    const r = await send(...args);
    assert.equal(r.code, code, `${args}: ${r.stderr}`);
    assert.ok(r.stdout.startsWith(out), `${args}: ${r.stdout}`);
    assert.equal(linesOf(r.stdout).length, 1);
    assert.equal(r.stderr, '', `${args}: quiet when healthy`);
  }
  assert.deepEqual(readdirSync(tmp), [], 'no client directory left');
});

test('a dead node: exit 5 within --timeout, one line saying it is unreachable, nothing left', async (t) => {
  const tmp = privateTmp(t);
  const node = await startTestNode(t);
  const ref = node.sturdyRef();
  await node.stop('SIGKILL');
  for (const timeout of ['2', '1500ms']) {
    const r = await runCli(['send', '--timeout', timeout, ref, 'count'], { env: { TMPDIR: tmp } });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const lines = linesOf(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(entry['component'], 'send');
    assert.match(
      String(entry['msg']),
      /no answer within \d+ ms: vat \w+ is unreachable \(tried \/ip4\/127/,
    );
    // Bounded: the timeout plus start-up and a bounded close (2 s), on a loaded machine.
    assert.ok(r.ms < 2_000 + 15_000, `${r.ms} ms`);
  }
  // QUORUMVAT_TIMEOUT works the same, and an interrupted send removes its directory too.
  let child: ChildProcess | undefined;
  const interrupted = runCli(['send', ref, 'count'], {
    env: { TMPDIR: tmp, QUORUMVAT_TIMEOUT: '60' },
    onSpawn: (c) => {
      child = c;
    },
  });
  await until('client directory made', () => readdirSync(tmp).length > 0);
  await new Promise((r) => setTimeout(r, 500));
  child!.kill('SIGINT');
  const r = await interrupted;
  assert.equal(r.code, 130, r.stderr);
  assert.deepEqual(readdirSync(tmp), [], 'no client directory left');
});

test('a client that leaves before its answer: the node does not dial it (one debug line)', async (t) => {
  const tmp = privateTmp(t);
  const cPort = await freePort();
  const a = await startTestNode(t, { extraArgs: ['--log-level', 'debug'] });
  const c = await startTestNode(t, { listen: [`/ip4/127.0.0.1/tcp/${cPort}`] });
  const wired = await runCli(['send', a.sturdyRef(), 'remember', `@${c.sturdyRef()}`]);
  assert.equal(wired.code, 0, wired.stderr);
  // C is down, so A cannot answer the client's call(): the client gives up and leaves.
  await c.stop('SIGKILL');
  // The timeout covers redeeming A on a busy machine; call() never answers while C is down.
  const r = await runCli(['send', '--timeout', '8s', a.sturdyRef(), 'call', '"count"'], {
    env: { TMPDIR: tmp },
  });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  const line = JSON.parse(linesOf(r.stderr)[0]!) as Record<string, unknown>;
  assert.match(String(line['msg']), /no answer within 8000 ms while waiting for call\(\)/);
  const client = String(line['vat']);
  // C comes back: A gets C's answer and now owes the departed client its result.
  await startTestNode(t, { dataDir: c.dataDir, listen: [`/ip4/127.0.0.1/tcp/${cPort}`] });
  const parked = (l: Record<string, unknown>) =>
    l['peer'] === client && l['msg'] === 'client gone: owed messages wait for it';
  await until('A parked the client', () => a.logs.some(parked), 60_000);
  await new Promise((resolve) => setTimeout(resolve, 5_000)); // watch for retries
  const about = a.logs.filter((l) => l['peer'] === client);
  assert.equal(about.filter(parked).length, 1, JSON.stringify(about));
  assert.deepEqual(
    about.filter((l) => (l['level'] as number) >= 40 || l['msg'] === 'connect retry failed'),
    [],
    'no warning and no retry about the client',
  );
  // A still serves others, and its call to C works.
  const again = await runCli(['send', a.sturdyRef(), 'call', '"count"'], { env: { TMPDIR: tmp } });
  assert.equal(again.stdout, '2\n', again.stderr);
  assert.deepEqual(readdirSync(tmp), []);
});

test('a peer down longer than --give-up: one line, no more dials; it gets its messages when it connects', async (t) => {
  const cPort = await freePort();
  const a = await startTestNode(t, { extraArgs: ['--give-up', '3s', '--log-level', 'debug'] });
  const c = await startTestNode(t, { listen: [`/ip4/127.0.0.1/tcp/${cPort}`] });
  const cRef = c.sturdyRef();
  const wired = await runCli(['send', a.sturdyRef(), 'remember', `@${cRef}`]);
  assert.equal(wired.code, 0, wired.stderr);
  assert.equal((await runCli(['send', a.sturdyRef(), 'call', '"count"'])).stdout, '1\n');
  await c.stop('SIGKILL');
  // A owes C a message it cannot deliver.
  assert.equal((await runCli(['send', a.sturdyRef(), 'tell', '"count"'])).code, 0);
  await until(
    'A gave C up',
    () => a.logs.some((l) => l['msg']?.toString().startsWith('peer given up')),
    30_000,
  );
  const gaveUpAt = a.logs.length;
  const warnings = a.logs.filter((l) => (l['level'] as number) >= 40).map((l) => l['msg']);
  assert.deepEqual(warnings, [
    'peer unreachable; retrying with backoff while messages are pending',
    'peer given up: no longer dialled; owed messages are kept until it connects',
  ]);
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.deepEqual(
    a.logs.slice(gaveUpAt).filter((l) => l['msg'] === 'connect retry failed'),
    [],
    'no dial after giving up',
  );
  // C comes back (same port and directory) and joins through A: A sends what it kept.
  const c2 = await startTestNode(t, {
    dataDir: c.dataDir,
    listen: [`/ip4/127.0.0.1/tcp/${cPort}`],
    bootstrap: [a.addrs[0]!],
  });
  let counted = '';
  const deadline = Date.now() + 60_000;
  while (counted !== '2\n' && Date.now() < deadline) {
    counted = (await runCli(['send', c2.sturdyRef(), 'counted'])).stdout;
    if (counted !== '2\n') await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(counted, '2\n');
});
