/**
 * Finding a peer again after it restarted somewhere else, with real vat node processes:
 * - through the DHT: B restarts on a new port (same data directory, same VatID); A's dial to
 *   the old address fails, A asks the network (a third node, the hub both bootstrap from) and
 *   reaches B at its new address;
 * - through a bootstrap name: A's --bootstrap names B by DNS name (/dns4/vat-b.test/...), B
 *   is down when A starts (one warning, retried), and later restarts on a new IP under the
 *   same name (a pod's new IP): A resolves the name again and reconnects.
 * The name lives in a hosts file bind-mounted over /etc/hosts in each process's own mount
 * namespace (unshare -m): nothing of the machine's configuration changes. Needs root.
 * - --announce: what a node advertises (ready line, sturdyref hints) is the announce address
 *   only, never 0.0.0.0 or 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import { freePort, runCli, startTestNode, until } from './cli.ts';

const call = async (ref: string, wrap?: string[]) =>
  (await runCli(['send', '--timeout', '60s', ref, 'call', '"count"'], { wrap })).stdout;

test('B restarts on a new port: A finds it again through the DHT (a third node)', async (t) => {
  const hub = await startTestNode(t);
  const bootstrap = [hub.addrs[0]!];
  const a = await startTestNode(t, { bootstrap });
  const b = await startTestNode(t, { bootstrap });
  const wired = await runCli(['send', a.sturdyRef(), 'remember', `@${b.sturdyRef()}`]);
  assert.equal(wired.code, 0, wired.stderr);
  assert.equal(await call(a.sturdyRef()), '1\n');
  await b.stop('SIGTERM');
  const b2 = await startTestNode(t, { dataDir: b.dataDir, bootstrap });
  assert.equal(b2.vatId, b.vatId);
  assert.notDeepEqual(b2.addrs, b.addrs, 'a new port');
  assert.equal(await call(a.sturdyRef()), '2\n', 'A reached B at its new address');
  // And again after a SIGKILL.
  await b2.stop('SIGKILL');
  const b3 = await startTestNode(t, { dataDir: b.dataDir, bootstrap });
  assert.notDeepEqual(b3.addrs, b2.addrs);
  assert.equal(await call(a.sturdyRef()), '3\n');
});

test('a bootstrap name: retried while its peer is down (one line), re-resolved when it moves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-names-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hosts = join(dir, 'hosts');
  const name = (ip: string) => writeFileSync(hosts, `127.0.0.1 localhost\n${ip} vat-b.test\n`);
  name('127.0.0.2');
  const wrap = ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts];
  const port = await freePort();
  // A starts first: its bootstrap peer is not there yet.
  const a = await startTestNode(t, {
    wrap,
    bootstrap: [`/dns4/vat-b.test/tcp/${port}`],
    extraArgs: ['--log-level', 'debug'],
  });
  const bDir = join(dir, 'b');
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // several retries
  const b = await startTestNode(t, { wrap, dataDir: bDir, listen: [`/ip4/127.0.0.2/tcp/${port}`] });
  const lines = (msg: string) => a.logs.filter((l) => l['msg'] === msg);
  await until(
    'A reached its bootstrap peer',
    () => lines('bootstrap peer reachable again').length === 1,
  );
  assert.equal(lines('bootstrap peer unreachable; retrying with backoff').length, 1);
  assert.ok(lines('bootstrap retry failed').length >= 1, 'it was retried');
  assert.equal(
    lines('bootstrap peer unreachable; retrying with backoff')[0]!['component'],
    'discovery',
  );

  const wired = await runCli(['send', a.sturdyRef(), 'remember', `@${b.sturdyRef()}`], { wrap });
  assert.equal(wired.code, 0, wired.stderr);
  assert.equal(await call(a.sturdyRef(), wrap), '1\n');
  // B moves to another IP under the same name (same port, same data directory).
  await b.stop('SIGTERM');
  name('127.0.0.3');
  const b2 = await startTestNode(t, {
    wrap,
    dataDir: bDir,
    listen: [`/ip4/127.0.0.3/tcp/${port}`],
  });
  assert.equal(b2.vatId, b.vatId);
  assert.equal(await call(a.sturdyRef(), wrap), '2\n', 'A found B under its name');
  await until('A says it is back', () => lines('bootstrap peer reachable again').length === 2);
  assert.equal(
    lines('bootstrap peer unreachable; retrying with backoff').length,
    2,
    'one per outage',
  );
});

test('--announce: advertised addresses and sturdyref hints are the announce address only', async (t) => {
  const port = await freePort();
  const node = await startTestNode(t, {
    listen: [`/ip4/0.0.0.0/tcp/${port}`],
    extraArgs: ['--announce', `127.0.0.9:${port}`],
  });
  const want = [`/ip4/127.0.0.9/tcp/${port}/p2p/${node.vatId}`];
  assert.deepEqual(node.addrs, want);
  assert.deepEqual(parseSturdyRef(node.sturdyRef()).hints, want);
  // Peers can use it: 127.0.0.9 reaches the 0.0.0.0 listener.
  assert.equal((await runCli(['send', node.sturdyRef(), 'count'])).stdout, '1\n');
  // A name, from the variable.
  const named = await startTestNode(t, {
    listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`],
    env: { ...process.env, QUORUMVAT_ANNOUNCE: '/dns4/vat.example.test/tcp/4001' },
  });
  assert.deepEqual(parseSturdyRef(readFileSync(named.sturdyRefFile, 'utf8').trim()).hints, [
    `/dns4/vat.example.test/tcp/4001/p2p/${named.vatId}`,
  ]);
});
