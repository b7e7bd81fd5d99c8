import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assembleCertificate } from '../../../../vat-node/src/quorum/certificate.ts';
import {
  type ChainRecord,
  type ChangeRequest,
  changeStatement,
  checkSignedRequest,
} from '../../../../vat-node/src/quorum/chain.ts';
import { type Genesis, genesisConfig } from '../../../../vat-node/src/quorum/config.ts';
import { makeTestMembers } from '../../../../vat-node/src/quorum/testing.ts';
import { buildGenesis, newAdminKeys } from './genesis.ts';
import { caughtUp, type MemberClient, readChain, submitChange } from './members.ts';
import { type ChainConfig, makeSigner, quorumVatIdOf, requestChange } from './quorum-lib.ts';

// A real quorum: members with real keys, a genesis as the operator builds it, records signed
// by the operator's administrator key and certified by k members.
const members = await makeTestMembers(4);
const signer = new Map(members.map((m) => [m.vatId, m.sign]));
const learner = (await makeTestMembers(1))[0]!;
signer.set(learner.vatId, learner.sign);
const keys = newAdminKeys();
const adminSign = makeSigner(keys.seed, Buffer.from(keys.publicKey, 'hex'));
const genesis: Genesis = buildGenesis({
  name: 'q',
  uid: '00000000-0000-0000-0000-000000000001',
  members: members.slice(0, 3).map((m) => m.vatId),
  threshold: 2,
  keys,
});
const Q = quorumVatIdOf(genesis);

function record(
  config: ChainConfig,
  change: Parameters<typeof requestChange>[2],
  position: number,
) {
  const { request, admin } = requestChange(adminSign, config, change);
  const statement = changeStatement(request, position);
  const certificate = assembleCertificate(
    config,
    config.members.slice(0, config.threshold).map((m) => [m, signer.get(m)!(statement)] as const),
  );
  const rec: ChainRecord = { request, admin, position, certificate };
  return { rec, next: checkSignedRequest(config, request, admin, position) };
}
const c0 = genesisConfig(genesis);
const { rec: r0, next: c1 } = record(c0, { op: 'add-learner', member: learner.vatId }, 5);
const { rec: r1, next: c2 } = record(c1, { op: 'add', member: learner.vatId, threshold: 3 }, 9);

const fakeClient = (chains: Record<string, unknown>, submits: Record<string, unknown> = {}) => {
  const sent: string[] = [];
  const client: MemberClient = {
    chain: async (ip) => {
      if (!(ip in chains)) throw new Error('ECONNREFUSED');
      return chains[ip];
    },
    readiness: async () => undefined,
    submit: async (ip) => {
      sent.push(ip);
      return (submits[ip] ?? { ok: false, status: 0, message: 'ECONNREFUSED' }) as never;
    },
  };
  return { client, sent };
};
const eps = ['a', 'b', 'c', 'd'].map((ip) => ({ pod: `pod-${ip}`, ip }));

test('the current configuration: the longest chain that verifies from our genesis', async () => {
  const { client } = fakeClient({
    a: { quorum: Q, genesis, records: [r0] },
    b: { quorum: Q, genesis, records: [r0, r1] },
    // c is down (throws)
    d: { quorum: Q, genesis, records: [] },
  });
  const view = await readChain(client, Q, genesis, [], eps);
  assert.equal(view.answered, 3);
  assert.equal(view.records.length, 2);
  const now = view.configs.at(-1)!;
  assert.equal(now.epoch, 2);
  assert.equal(now.members.length, 4);
  assert.equal(now.threshold, 3);
  assert.deepEqual(now, c2);
});

test('a lying member gains nothing: forged, foreign or malformed chains are ignored', async () => {
  const forgedCert = {
    ...r1,
    certificate: { ...r1.certificate, signatures: r0.certificate.signatures },
  };
  const otherGenesis = buildGenesis({
    name: 'q',
    uid: '00000000-0000-0000-0000-000000000002',
    members: members.slice(0, 3).map((m) => m.vatId),
    threshold: 2,
    keys,
  });
  const { client } = fakeClient({
    a: { quorum: Q, genesis, records: [r0, forgedCert] },
    b: { quorum: quorumVatIdOf(otherGenesis), genesis: otherGenesis, records: [] },
    c: 'not a chain',
    d: { quorum: Q, genesis, records: [r0] },
  });
  const view = await readChain(client, Q, genesis, [], eps);
  assert.equal(view.records.length, 1, 'only the verified prefix of what d served');
  assert.equal(view.configs.at(-1)!.epoch, 1);
  assert.equal(view.answered, 1);
});

test('with nobody answering: the stored chain, and answered = 0 (membership is not changed blind)', async () => {
  const { client } = fakeClient({});
  const view = await readChain(client, Q, genesis, [r0], eps);
  assert.equal(view.answered, 0);
  assert.equal(view.configs.at(-1)!.epoch, 1);
  const none = await readChain(client, Q, genesis, ['garbage'], eps);
  assert.equal(none.configs.at(-1)!.epoch, 0, 'a damaged stored chain falls back to the genesis');
});

test("the operator's signed request is what a member accepts (same code, same bytes)", () => {
  const { request, admin } = requestChange(adminSign, c2, {
    op: 'remove',
    member: members[0]!.vatId,
    threshold: 2,
  });
  const next = checkSignedRequest(c2, request as ChangeRequest, admin, 20);
  assert.equal(next.epoch, 3);
  assert.equal(next.members.length, 3);
  // Deterministic signature: re-sending after a crash sends the very same request.
  assert.equal(
    requestChange(adminSign, c2, { op: 'threshold', threshold: 4 }).admin,
    requestChange(adminSign, c2, { op: 'threshold', threshold: 4 }).admin,
  );
  // A request made for an older epoch is stale once the chain moved on.
  const old = requestChange(adminSign, c1, { op: 'remove-learner', member: learner.vatId });
  assert.throws(() => checkSignedRequest(c2, old.request, old.admin, 20), /stale|already/);
});

test('submit: to every voting member at once; accepted when any takes it; a refusal is final', async () => {
  const body = requestChange(adminSign, c2, { op: 'threshold', threshold: 4 });
  let f = fakeClient({}, { b: { ok: true }, d: { ok: true } });
  assert.deepEqual(await submitChange(f.client, eps, body), { accepted: 'pod-b, pod-d' });
  assert.deepEqual(
    [...f.sent].sort(),
    ['a', 'b', 'c', 'd'],
    'every member is asked: whichever leads the ordering holds the request',
  );
  f = fakeClient({}, { a: { ok: false, status: 409, message: 'stale-epoch: already at epoch 3' } });
  const refused = await submitChange(f.client, eps, body);
  assert.match((refused as { refused: string }).refused, /pod-a refused the change: stale-epoch/);
  // One member took it while another refused (it had moved on, or judged it late): it is in.
  f = fakeClient({}, { a: { ok: false, status: 400, message: 'stale-epoch' }, c: { ok: true } });
  assert.deepEqual(await submitChange(f.client, eps, body), { accepted: 'pod-c' });
  // A node without the endpoint (404/405, an older image) is skipped like an unreachable one.
  f = fakeClient({}, { a: { ok: false, status: 404, message: 'not found' }, c: { ok: true } });
  assert.deepEqual(await submitChange(f.client, eps, body), { accepted: 'pod-c' });
  f = fakeClient({}, { a: { ok: false, status: 404, message: 'not found' } });
  assert.match(
    ((await submitChange(f.client, eps, body)) as { unreachable: string }).unreachable,
    /pod-a: HTTP 404 not found; pod-b: ECONNREFUSED/,
  );
  f = fakeClient(
    {},
    Object.fromEntries(
      ['a', 'b', 'c', 'd'].map((ip) => [ip, { ok: false, status: 501, message: 'no change path' }]),
    ),
  );
  const unsupported = await submitChange(f.client, eps, body);
  assert.match(
    (unsupported as { unreachable: string }).unreachable,
    /do not take membership changes \(HTTP 501/,
  );
  f = fakeClient({}, {});
  const none = await submitChange(f.client, eps, body);
  assert.match((none as { unreachable: string }).unreachable, /no member took the change request/);
  assert.match(
    ((await submitChange(f.client, [], body)) as { unreachable: string }).unreachable,
    /no member pod has an address/,
  );
});

test('a learner is caught up once its decided height reaches every ready voter it is compared with', () => {
  const probe = (role: string, height: number, extra: object = {}) => ({
    ready: true,
    quorum: { quorum: Q, epoch: 1, role, ordering: { height }, halted: null, ...extra },
  });
  const probes = new Map([
    ['q-0', probe('member', 120)],
    ['q-1', probe('member', 118)],
    ['q-2', probe('member', 90, { halted: 'diverged at 91' })],
    ['q-3', probe('learner', 116)],
    ['q-4', probe('learner', 115)],
    [
      'q-5',
      {
        ...probe('learner', 200),
        quorum: { ...probe('learner', 200).quorum, quorum: 'quorumOther' },
      },
    ],
    ['q-6', undefined],
  ]);
  const r = caughtUp(probes, Q);
  assert.equal(
    r.get('q-3'),
    true,
    'within 2 of the lowest ready voter (a halted one does not count)',
  );
  assert.equal(r.get('q-4'), false);
  assert.equal(r.has('q-5'), false, 'a node of another quorum is nobody here');
  assert.equal(r.has('q-6'), false);
  assert.equal(r.has('q-0'), false, 'voters are not learners');
  // The learner's own word, when its runtime gives it, must agree too.
  const says = (v: boolean) => {
    const p = probe('learner', 119);
    return { ...p, quorum: { ...p.quorum, caughtUp: v } };
  };
  const own = caughtUp(
    new Map([
      ['q-0', probe('member', 120)],
      ['q-3', says(false)],
      ['q-4', says(true)],
    ]),
    Q,
  );
  assert.equal(own.get('q-3'), false, 'still replaying, by its own account');
  assert.equal(own.get('q-4'), true);
  const alone = caughtUp(new Map([['q-3', probe('learner', 500)]]), Q);
  assert.equal(alone.get('q-3'), false, 'with no voter to compare with, not caught up');
});
