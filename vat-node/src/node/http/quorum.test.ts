import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { type ConfigChange, requestChange } from '../../quorum/chain.ts';
import { readChainDocument } from '../../quorum/status.ts';
import { makeTestKey, makeTestMembers, makeTestQuorum } from '../../quorum/testing.ts';
import { VatNode } from '../vat-node.ts';
import { NodeEndpoint } from './endpoint.ts';
import { parseExposition } from './metrics.ts';
import { ChangesNotTaken } from './quorum.ts';
import { TestQuorumProvider } from './quorum-testing.ts';

const contract = readFileSync(new URL('../../../contracts/mint.js', import.meta.url), 'utf8');
const silent = pino({ level: 'silent' });

async function call(e: NodeEndpoint, path: string, init: RequestInit = {}) {
  const { port } = e.address();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body: body as Record<string, unknown>, text };
}
const post = (e: NodeEndpoint, body: string, path = '/quorum/changes') =>
  call(e, path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

// One real vat node behind two endpoints: a solo one and one with a quorum provider.
const dir = mkdtempSync(join(tmpdir(), 'qv-quorum-http-'));
const vat = await VatNode.start({
  dataDir: dir,
  contractSource: contract,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  logger: silent,
});
const q = await makeTestQuorum(3, 2, { name: 'bank' });
const [newcomer] = await makeTestMembers(1);
q.signerOf.set(newcomer!.vatId, newcomer!.sign);

test.after(async () => {
  await vat.close();
  rmSync(dir, { recursive: true, force: true });
});

async function endpoints(t: { after: (fn: () => unknown) => void }) {
  const solo = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  const member = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  t.after(() => Promise.all([solo.close(), member.close()]));
  const provider = new TestQuorumProvider(q);
  solo.attach(vat, dir);
  member.attach(vat, dir, provider);
  return { solo, member, provider };
}

test('solo node: no quorum fields, no quorum paths, POST still 405, no quorum gauges', async (t) => {
  const { solo } = await endpoints(t);
  const ready = await call(solo, '/readyz');
  assert.deepEqual(ready.body, { ready: true });
  const id = await call(solo, '/identity');
  assert.deepEqual(id.body, { vatId: vat.vatId, addresses: vat.multiaddrs() });
  assert.equal((await call(solo, '/quorum/chain')).status, 404);
  assert.equal((await post(solo, '{}')).status, 405);
  assert.doesNotMatch((await call(solo, '/metrics')).text, /quorumvat_quorum_/);
});

test('member: /readyz and /identity carry the quorum, /metrics its gauges; halted → 503 on /readyz and /healthz', async (t) => {
  const { member, provider } = await endpoints(t);
  const ready = await call(member, '/readyz');
  assert.equal(ready.status, 200);
  const quorum = ready.body.quorum as Record<string, unknown>;
  assert.equal(quorum.quorum, q.config.quorum);
  assert.deepEqual(
    [quorum.epoch, quorum.members, quorum.threshold, quorum.byzantine, quorum.crashes, quorum.role],
    [0, 3, 2, 0, 1, 'member'],
  );
  assert.deepEqual(Object.keys(quorum.ordering as object).sort(), [
    'height',
    'leader',
    'leading',
    'pendingInputs',
    'round',
    'stalled',
  ]);
  const id = await call(member, '/identity');
  assert.equal(id.body.vatId, vat.vatId);
  assert.deepEqual(id.body.quorum, {
    quorum: q.config.quorum,
    name: 'bank',
    epoch: 0,
    members: 3,
    threshold: 2,
    byzantine: 0,
    crashes: 1,
    role: 'member',
  });

  provider.stalled = true;
  provider.height = 1; // the leader is now another member
  let m = parseExposition((await call(member, '/metrics')).text);
  assert.equal(m.get('quorumvat_quorum_members'), 3);
  assert.equal(m.get('quorumvat_quorum_threshold'), 2);
  assert.equal(m.get('quorumvat_quorum_byzantine_tolerated'), 0);
  assert.equal(m.get('quorumvat_quorum_crashes_tolerated'), 1);
  assert.equal(m.get('quorumvat_quorum_stalled'), 1);
  assert.equal(m.get('quorumvat_quorum_leader'), 0);
  assert.equal(m.get('quorumvat_quorum_decided_height'), 1);
  assert.equal(m.get('quorumvat_quorum_voting'), 1);
  assert.equal(m.get('quorumvat_quorum_halted'), 0);
  assert.equal(m.get('quorumvat_ready'), 1, 'stalled is reported, not unready');

  assert.equal((await call(member, '/healthz')).status, 200, 'stalled is alive');
  provider.halted = 'transcript hash diverged at height 7';
  const halted = await call(member, '/readyz');
  assert.equal(halted.status, 503);
  assert.equal(halted.body.reason, 'quorum member halted: transcript hash diverged at height 7');
  m = parseExposition((await call(member, '/metrics')).text);
  assert.equal(m.get('quorumvat_quorum_halted'), 1);
  assert.equal(m.get('quorumvat_ready'), 0);
  // Only a restart recovers a halted member: liveness fails, with the reason.
  const live = await call(member, '/healthz');
  assert.equal(live.status, 503);
  assert.deepEqual(live.body, { status: 'halted', reason: 'transcript hash diverged at height 7' });
});

test('POST /quorum/changes: decided (the chain grows and verifies), refused with the reason, 202 when not decided in time', async (t) => {
  const { member, provider } = await endpoints(t);
  const sign = (change: ConfigChange) =>
    JSON.stringify(requestChange(q.admin.sign, provider.chainNow.current, change));

  const add = sign({ op: 'add', member: newcomer!.vatId, threshold: 3 });
  const decided = await post(member, add);
  assert.equal(decided.status, 200, decided.text);
  assert.deepEqual(decided.body, { state: 'decided', epoch: 1, position: 1 });
  const chain = await call(member, '/quorum/chain');
  const verified = readChainDocument(chain.text, q.config.quorum);
  assert.equal(verified.current.epoch, 1);
  assert.equal(verified.current.members.length, 4);

  // The same request again is stale (epoch 0 is over): refused before ordering.
  const again = await post(member, add);
  assert.equal(again.status, 400);
  assert.equal(again.body.reason, 'stale-epoch');

  // Signed by someone else: refused, nothing ordered.
  const forged = JSON.stringify(
    requestChange(makeTestKey().sign, provider.chainNow.current, { op: 'threshold', threshold: 4 }),
  );
  const bad = await post(member, forged);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.reason, 'bad-admin-signature');
  assert.equal(provider.chainNow.current.epoch, 1);

  for (const [body, reason] of [
    ['not json', 'malformed'],
    ['[]', 'malformed'],
    ['{"request":{},"admin":"x"}', 'malformed'],
    [JSON.stringify({ ...JSON.parse(forged), extra: 1 }), 'malformed'],
  ] as const) {
    const r = await post(member, body);
    assert.equal(r.status, 400, body);
    assert.equal(r.body.reason, reason, body);
  }
  assert.equal((await post(member, 'x'.repeat(20_000))).status, 413);

  // wait=0 (what the operator sends): a refusal is still a refusal, not "submitted".
  const stale = await post(member, add, '/quorum/changes?wait=0');
  assert.equal(stale.status, 400);
  assert.equal(stale.body.reason, 'stale-epoch');

  provider.mode = 'hold';
  const pending = await post(
    member,
    sign({ op: 'threshold', threshold: 4 }),
    '/quorum/changes?wait=200',
  );
  assert.equal(pending.status, 202);
  assert.deepEqual(pending.body, { state: 'submitted', epoch: 1 });
  // The endpoint keeps serving.
  assert.equal((await call(member, '/healthz')).status, 200);

  // A member runtime that takes no change requests: 501, said plainly.
  provider.submitChange = () => Promise.reject(new ChangesNotTaken('not wired'));
  const notTaken = await post(member, sign({ op: 'threshold', threshold: 4 }));
  assert.equal(notTaken.status, 501);
  assert.deepEqual(notTaken.body, { error: 'not wired' });
});
