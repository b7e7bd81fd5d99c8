// End to end on the real test cluster: a QuorumVat as a user makes it (npm run test:e2e).
// helm install → kubectl apply -f examples/quorumvat.yaml → each member pod makes its own key and
// reports only its VatID; the operator makes the genesis (its administrator key kept in a Secret,
// only the public key in the genesis), stores it in an immutable ConfigMap, fills the
// sturdyref Secret, and the members start from it with --quorum-genesis and report ready with
// their quorum fields. kubectl scale needs members that take membership changes: skipped until
// they do (QUORUMVAT_E2E_QUORUM_SCALE=1 runs it).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import { quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import {
  apply,
  clusterReachable,
  crdsInstalled,
  deleteCrds,
  eventually,
  helm,
  kubectl,
  refusal,
  repoRoot,
  sendJob,
} from '../operator/kube.ts';

const release = 'quorumvat';
const system = 'quorumvat-system';
const ns = `e2e-qvat-${Date.now().toString(36)}`;
const image = process.env['QUORUMVAT_IMAGE'] ?? 'quorumvat.local/quorumvat:dev';
const [repository, tag] = image.split(/:(?=[^:]+$)/) as [string, string];
// Membership changes need members that take them (POST /quorum/changes); until the member
// runtime does (it answers 501 today), the scale step is skipped unless asked for.
const skip =
  process.env['QUORUMVAT_E2E_QUORUM_SCALE'] === '1'
    ? undefined
    : 'needs members that take membership changes (QUORUMVAT_E2E_QUORUM_SCALE=1)';

// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const getJson = (...args: string[]): any =>
  JSON.parse(kubectl('-n', ns, 'get', ...args, '-o', 'json'));
// biome-ignore lint/suspicious/noExplicitAny: conditions
const cond = (o: any, type: string) => o.status?.conditions?.find((c: any) => c.type === type);
let crdsBefore = false;

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  helm('uninstall', release, '-n', system, '--ignore-not-found', '--wait');
  crdsBefore = crdsInstalled();
  helm(
    'install',
    release,
    join(repoRoot, 'charts/quorumvat'),
    '-n',
    system,
    '--create-namespace',
    '--set',
    `image.repository=${repository}`,
    '--set',
    `image.tag=${tag}`,
    ...(process.env['QUORUMVAT_E2E_HELM_SET'] ?? '')
      .split(',')
      .filter(Boolean)
      .flatMap((x) => ['--set', x]),
    '--wait',
    '--timeout',
    '180s',
  );
  kubectl('create', 'namespace', ns);
});

after(() => {
  if (process.env['E2E_KEEP']) return;
  kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
  helm('uninstall', release, '-n', system, '--ignore-not-found', '--wait');
  if (!crdsBefore) deleteCrds();
});

test('kubectl apply -f examples/quorumvat.yaml: members report VatIDs, the operator makes the genesis', {
  timeout: 300_000,
}, async () => {
  kubectl('-n', ns, 'apply', '-f', join(repoRoot, 'examples/quorumvat.yaml'));
  const q = await eventually('the genesis made', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    return x.status?.vatId ? x : undefined;
  });
  const cm = getJson('configmap', 'escrow-genesis');
  assert.equal(cm.immutable, true, 'a genesis never changes: the quorum VatID is its hash');
  assert.equal(cm.metadata.ownerReferences[0].uid, q.metadata.uid);
  const genesis = JSON.parse(cm.data['genesis.json']);
  assert.equal(quorumVatIdOf(genesis), q.status.vatId);
  assert.equal(cm.data.quorum, q.status.vatId);
  assert.equal(genesis.threshold, 2);
  assert.equal(q.status.epoch, 0);
  assert.equal(q.status.threshold, 2);
  assert.deepEqual(q.status.tolerates, { crashed: 1, byzantine: 0 });
  assert.equal(q.status.genesisConfigMap, 'escrow-genesis');
  // The members are the VatIDs the pods reported (from their own volumes).
  const reported = [0, 1, 2].map((i) => {
    const pod = getJson('pod', `escrow-${i}`);
    const s = pod.status.initContainerStatuses.find(
      (c: { name: string }) => c.name === 'member-identity',
    );
    return JSON.parse(s.state.terminated.message).vatId as string;
  });
  assert.deepEqual([...reported].sort(), genesis.members);
  assert.deepEqual(
    q.status.members.map((m: { pod: string; vatId: string; state: string }) => [
      m.pod,
      m.vatId,
      m.state,
    ]),
    reported.map((v, i) => [`escrow-${i}`, v, 'voting']),
  );
  // The administrator key: in a Secret only the operator reads; its public key in the genesis.
  const admin = getJson('secret', 'escrow-admin-key');
  assert.equal(Buffer.from(admin.data['admin-public-key'], 'base64').toString(), genesis.admin);
  const seed = Buffer.from(admin.data['admin-seed'], 'base64');
  const everything = kubectl('-n', ns, 'get', 'pods,configmaps,statefulsets', '-o', 'json');
  for (const enc of ['hex', 'base64', 'base64url'] as const) {
    assert.ok(!everything.includes(seed.toString(enc)), 'the admin key is in no pod or ConfigMap');
  }
  const roles = kubectl('-n', ns, 'get', 'role', 'escrow-member', '-o', 'json');
  assert.doesNotMatch(roles, /secrets/, 'member pods may not read Secrets');
  // The bootstrap sturdyref: the quorum VatID, redeemable with a key the genesis lists.
  const secret = getJson('secret', 'escrow-sturdyref');
  const ref = parseSturdyRef(Buffer.from(secret.data.sturdyref, 'base64').toString());
  assert.equal(ref.vatId, q.status.vatId);
  assert.equal(ref.hints.length, 3);
  assert.deepEqual(q.status.sturdyrefSecret, { name: 'escrow-sturdyref', key: 'sturdyref' });
  // Every member pod got the genesis and starts its node from it.
  await eventually('every member past await-genesis', 120_000, () =>
    [0, 1, 2].every((i) =>
      getJson('pod', `escrow-${i}`).status.initContainerStatuses?.every(
        (c: { state: { terminated?: { exitCode: number } } }) => c.state.terminated?.exitCode === 0,
      ),
    )
      ? true
      : undefined,
  );
  const sts = getJson('statefulset', 'escrow');
  assert.deepEqual(sts.spec.template.spec.containers[0].args, [
    'node',
    '--quorum-genesis',
    '/quorum/genesis.json',
    '--quorum-chain',
    '/quorum/chain.json',
  ]);
  // The genesis is made once: a later reconcile leaves it (and the VatID) as it is.
  kubectl('-n', ns, 'annotate', 'qvat', 'escrow', 'poke=1');
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(getJson('qvat', 'escrow').status.vatId, q.status.vatId);
  assert.equal(
    getJson('configmap', 'escrow-genesis').metadata.resourceVersion,
    cm.metadata.resourceVersion,
  );
});

test('the members run the quorum: Ready (QuorumReady) with k members reporting ready', {
  timeout: 300_000,
}, async () => {
  const q = await eventually('escrow Ready', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    return cond(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  assert.equal(cond(q, 'Ready').reason, 'QuorumReady');
  assert.ok(q.status.members.filter((m: { ready: boolean }) => m.ready).length >= 2);
});

/** `quorumvat send` in a Job with the quorum vat's sturdyref from its Secret; its result. */
async function sendFromJob(name: string, method: string, ...args: string[]): Promise<string> {
  apply(ns, sendJob(name, image, 'escrow-sturdyref', '120s', method, args));
  await eventually(`Job ${name} to finish`, 240_000, () => {
    const j = getJson('job', name);
    if (j.status.failed)
      throw new Error(`Job ${name} failed: ${kubectl('-n', ns, 'logs', `job/${name}`)}`);
    return j.status.succeeded ? true : undefined;
  });
  return kubectl('-n', ns, 'logs', `job/${name}`).trim().split('\n').at(-1)!;
}

test("a client Job redeems the quorum vat's sturdyref and calls it through its members", {
  timeout: 600_000,
}, async () => {
  assert.equal(await sendFromJob('append-1', 'append', '"hello"'), '1');
  assert.equal(await sendFromJob('append-2', 'append', '"world"'), '2');
  assert.equal(await sendFromJob('read-1', 'read'), '["hello","world"]');
});

test('kubectl delete pod of a member: the quorum keeps serving; the member comes back from its volume', {
  timeout: 600_000,
}, async () => {
  const before = getJson('qvat', 'escrow');
  const member = before.status.members.find((m: { pod: string }) => m.pod === 'escrow-2');
  kubectl('-n', ns, 'delete', 'pod', 'escrow-2', '--wait=false');
  // k = 2 of 3 remain: the quorum still answers while the member is away.
  assert.equal(await sendFromJob('append-3', 'append', '"while one is away"'), '3');
  const back = await eventually('escrow-2 back and ready', 300_000, () => {
    const x = getJson('qvat', 'escrow');
    const m = x.status.members.find((y: { pod: string }) => y.pod === 'escrow-2');
    return m?.ready ? m : undefined;
  });
  assert.equal(back.vatId, member.vatId, 'the same key, from its volume');
  assert.equal(getJson('qvat', 'escrow').status.vatId, before.status.vatId);
  assert.equal(
    await sendFromJob('read-2', 'read'),
    '["hello","world","while one is away"]',
    'nothing lost, order kept',
  );
});

test('kubectl scale qvat/escrow --replicas=1 is refused by the API server, with the reason', () => {
  const why = refusal(() => kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=1'));
  assert.match(why, /at least 3 replicas/);
  assert.equal(getJson('qvat', 'escrow').spec.replicas, 3);
});

test('members without a change path: a scale-up starts the pod, waits saying why, and can be undone', {
  timeout: 600_000,
  skip: skip ? undefined : 'the members take membership changes (the step above scales for real)',
}, async () => {
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=4');
  // Pod first: it makes its key and reports its VatID, then waits to be admitted.
  await eventually('escrow-3 reported its VatID', 240_000, () => {
    const pod = getJson('pod', 'escrow-3');
    const s = pod.status.initContainerStatuses?.find(
      (c: { name: string }) => c.name === 'member-identity',
    );
    return s?.state.terminated?.exitCode === 0 ? true : undefined;
  });
  const waiting = await eventually(
    'the admission requested and refused for a reason',
    120_000,
    () => {
      const x = getJson('qvat', 'escrow');
      return x.status.pendingChange?.op === 'add-learner' &&
        /HTTP 501/.test(cond(x, 'Progressing')?.message ?? '')
        ? x
        : undefined;
    },
  );
  assert.equal(waiting.status.pendingChange.pod, 'escrow-3');
  assert.equal(waiting.status.replicas, 3, 'no member added');
  assert.equal(waiting.status.epoch, 0);
  assert.equal(cond(waiting, 'Ready').status, 'True', 'the quorum serves meanwhile');
  // (The init container may still be starting: its log is read once it runs.)
  await eventually('escrow-3 waiting to be admitted', 60_000, () => {
    try {
      const log = kubectl('-n', ns, 'logs', 'escrow-3', '-c', 'await-genesis');
      return /waiting to be admitted to the quorum/.test(log) ? true : undefined;
    } catch {
      return undefined;
    }
  });
  // Undone: the pod that never became a member goes, and nothing is pending any more.
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=3');
  await eventually('back to 3 pods, nothing pending', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    const pods = getJson('pods', '-l', 'quorumvat.dev/vat=escrow').items.length;
    return pods === 3 &&
      !x.status.pendingChange &&
      getJson('statefulset', 'escrow').spec.replicas === 3
      ? true
      : undefined;
  });
});

test('kubectl scale qvat/escrow --replicas=5 (operator killed mid-way) and back to 3: one member at a time, same VatID', {
  timeout: 600_000,
  skip,
}, async () => {
  const vatId = getJson('qvat', 'escrow').status.vatId;
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=5');
  // The operator pod is killed in the middle of the scale-up (a change requested, not yet
  // seen in the chain): the next one carries on from the chain, the pods and status.
  await eventually('a membership change in flight', 240_000, () =>
    getJson('qvat', 'escrow').status.pendingChange ? true : undefined,
  );
  kubectl(
    '-n',
    system,
    'delete',
    'pod',
    '-l',
    'app.kubernetes.io/component=operator',
    '--grace-period=0',
    '--force',
  );
  const up = await eventually('5 voting members', 480_000, () => {
    const x = getJson('qvat', 'escrow');
    return x.status.replicas === 5 && !x.status.pendingChange && cond(x, 'Ready')?.status === 'True'
      ? x
      : undefined;
  });
  assert.equal(up.status.vatId, vatId);
  assert.equal(up.status.epoch, 4, 'learner, vote-in, learner, vote-in');
  assert.equal(up.status.threshold, 3);
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=3');
  const down = await eventually('3 voting members', 480_000, () => {
    const x = getJson('qvat', 'escrow');
    return x.status.replicas === 3 && getJson('statefulset', 'escrow').status.replicas === 3
      ? x
      : undefined;
  });
  assert.equal(down.status.vatId, vatId);
  assert.equal(down.status.epoch, 6);
});
