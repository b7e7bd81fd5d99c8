import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { VatNode } from '../vat-node.ts';
import { NodeEndpoint } from './endpoint.ts';
import { parseExposition } from './metrics.ts';

const contract = readFileSync(new URL('../../../contracts/mint.js', import.meta.url), 'utf8');
const silent = pino({ level: 'silent' });

async function get(e: NodeEndpoint, path: string, method = 'GET') {
  const { port } = e.address();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

test('endpoint: starting → ready → stopping; identity without secrets; metrics parse; 404 and 405', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-endpoint-'));
  const endpoint = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  t.after(async () => {
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal((await get(endpoint, '/healthz')).status, 200);
  const starting = await get(endpoint, '/readyz');
  assert.equal(starting.status, 503);
  assert.match(starting.body, /starting/);
  assert.equal((await get(endpoint, '/identity')).status, 503);
  const early = parseExposition((await get(endpoint, '/metrics')).body);
  assert.equal(early.get('quorumvat_ready'), 0);
  assert.equal(early.has('quorumvat_cranks_total'), false, 'no vat yet');

  const vat = await VatNode.start({
    dataDir: dir,
    contractSource: contract,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    logger: silent,
    onCommit: (ms) => endpoint.commitSeconds.observe(ms / 1000),
  });
  t.after(() => vat.close());
  const ref = vat.rootSturdyRef(VatNode.sturdyRefPath(dir));
  endpoint.attach(vat, dir);
  assert.equal((await get(endpoint, '/readyz')).status, 200);

  const id = await get(endpoint, '/identity');
  assert.equal(id.status, 200);
  assert.deepEqual(JSON.parse(id.body), { vatId: vat.vatId, addresses: vat.multiaddrs() });
  const secret = ref.split('/s/')[1]!.split('?')[0]!;
  for (const path of ['/identity', '/metrics', '/readyz', '/healthz']) {
    const body = (await get(endpoint, path)).body;
    assert.ok(
      !body.includes(secret) && !body.includes('quorumvat://'),
      `${path} shows no sturdyref`,
    );
  }
  const m = await get(endpoint, '/metrics');
  assert.equal(m.type, 'text/plain; version=0.0.4; charset=utf-8');
  const samples = parseExposition(m.body);
  assert.equal(samples.get('quorumvat_ready'), 1);
  assert.equal(samples.get('quorumvat_run_queue_depth'), 0);
  assert.ok((samples.get('quorumvat_commit_seconds_count') ?? 0) >= 1);

  assert.equal((await get(endpoint, '/nope')).status, 404);
  assert.equal((await get(endpoint, '/healthz', 'POST')).status, 405);
  assert.equal((await get(endpoint, '/healthz', 'HEAD')).body, '');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('.readyz')),
    [],
    'the write probe leaves nothing behind',
  );

  endpoint.stopping();
  const stopping = await get(endpoint, '/readyz');
  assert.equal(stopping.status, 503);
  assert.match(stopping.body, /stopping/);
  assert.equal(await vat.stop(5_000), 'clean');
  assert.equal((await get(endpoint, '/healthz')).status, 200, 'alive until the process exits');
});

test('endpoint: a data directory that takes no writes is not ready (chattr +i; root only)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root for chattr');
  const dir = mkdtempSync(join(tmpdir(), 'qv-endpoint-'));
  const endpoint = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  const vat = await VatNode.start({ dataDir: dir, contractSource: contract, logger: silent });
  t.after(async () => {
    execFileSync('chattr', ['-i', dir]);
    await vat.close();
    await endpoint.close();
    rmSync(dir, { recursive: true, force: true });
  });
  endpoint.attach(vat, dir);
  assert.equal((await get(endpoint, '/readyz')).status, 200);
  execFileSync('chattr', ['+i', dir]);
  const r = await get(endpoint, '/readyz');
  assert.equal(r.status, 503);
  assert.match(r.body, /data directory is not writable \(EPERM\)/);
  execFileSync('chattr', ['-i', dir]);
  assert.equal((await get(endpoint, '/readyz')).status, 200);
});

test('endpoint: a port in use is one clear error naming the address', async () => {
  const a = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  try {
    await assert.rejects(
      NodeEndpoint.start({ host: '127.0.0.1', port: a.address().port }, silent),
      new RegExp(`cannot serve HTTP on 127.0.0.1:${a.address().port}: EADDRINUSE`),
    );
  } finally {
    await a.close();
  }
});
