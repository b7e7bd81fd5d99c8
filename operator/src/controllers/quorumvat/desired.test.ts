import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  V1ConfigMap,
  V1PodDisruptionBudget,
  V1Role,
  V1Secret,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import { MEMBER_GATE } from './caught-up.ts';
import { desiredQuorumVat, IDENTITY_CONTAINER } from './desired.ts';

const qv: QuorumVat = {
  apiVersion: 'quorumvat.dev/v1alpha1',
  kind: 'QuorumVat',
  metadata: { name: 'escrow', namespace: 'ns2', uid: 'u-9', generation: 3 },
  spec: {
    contract: { source: 'x' },
    storage: { size: '2Gi', retention: 'Keep' },
    gasLimit: 1000,
    memoryLimitMiB: 128,
    logLevel: 'info',
    replicas: 5,
  },
};
const settings = { vatImage: 'img:1', imagePullPolicy: 'IfNotPresent' as const };
const plan = { statefulSetReplicas: 4, threshold: 3 };

test('members: a StatefulSet sized by the plan (not spec.replicas), a PDB that keeps k up', () => {
  const objs = desiredQuorumVat(qv, 'x', settings, plan);
  const sts = objs.find((o) => o.kind === 'StatefulSet') as V1StatefulSet;
  assert.equal(sts.spec!.replicas, 4, 'one member at a time, as the planner says');
  assert.deepEqual(sts.spec!.persistentVolumeClaimRetentionPolicy, {
    whenDeleted: 'Retain',
    whenScaled: 'Delete',
  });
  assert.equal(
    sts.spec!.podManagementPolicy,
    'Parallel',
    'the first members start together: none is ready before the genesis that needs them all',
  );
  assert.equal(sts.metadata!.labels!['quorumvat.dev/kind'], 'QuorumVat');
  const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget') as V1PodDisruptionBudget;
  assert.equal(pdb.spec!.minAvailable, 3, 'k = 3 voters (a learner is never Ready: the gate)');
  assert.deepEqual(pdb.spec!.selector!.matchLabels, sts.spec!.selector!.matchLabels);
  for (const o of objs) assert.equal(o.metadata!.ownerReferences![0]!.kind, 'QuorumVat');
  assert.equal(objs.at(-1)!.kind, 'StatefulSet');
});

test('member pods: own key and VatID first, then the genesis, then the node as a member', () => {
  const objs = desiredQuorumVat(qv, 'x', settings, plan);
  const pod = (objs.find((o) => o.kind === 'StatefulSet') as V1StatefulSet).spec!.template.spec!;
  assert.deepEqual(
    pod.initContainers!.map((c) => c.name),
    [IDENTITY_CONTAINER, 'await-genesis'],
  );
  const [identity, wait] = pod.initContainers!;
  // `quorumvat member-agent …` of the member's own image (its entry point): no script mounted.
  assert.deepEqual(identity!.args, ['member-agent', 'identity']);
  assert.equal(identity!.command, undefined);
  assert.equal(identity!.image, 'img:1');
  assert.deepEqual(wait!.args, ['member-agent', 'await-genesis']);
  assert.deepEqual(
    identity!.env!.map((e) => [e.name, e.value]),
    [
      ['QUORUMVAT_DATA_DIR', '/data'],
      ['QUORUMVAT_QUORUM_DIR', '/quorum'],
    ],
  );
  assert.equal(identity!.terminationMessagePolicy, 'FallbackToLogsOnError');
  assert.ok(
    identity!.volumeMounts!.some((m) => m.name === 'data' && !m.readOnly),
    'the key is made on the member volume',
  );
  assert.ok(
    !wait!.volumeMounts!.some((m) => m.name === 'data'),
    'the genesis step never sees the key',
  );
  assert.deepEqual(
    wait!.env!.map((e) => [e.name, e.value]),
    [
      ['QUORUMVAT_GENESIS_CONFIGMAP', 'escrow-genesis'],
      ['QUORUMVAT_CHAIN_CONFIGMAP', 'escrow-chain'],
      ['QUORUMVAT_QUORUM_DIR', '/quorum'],
    ],
  );
  assert.deepEqual(
    pod.containers.map((c) => c.name),
    ['vat'],
    'no sturdyref publisher: a member mints no sturdyref of the quorum vat',
  );
  assert.deepEqual(pod.containers[0]!.args, [
    'node',
    '--quorum-genesis',
    '/quorum/genesis.json',
    '--quorum-chain',
    '/quorum/chain.json',
  ]);
  assert.ok(pod.containers[0]!.volumeMounts!.some((m) => m.name === 'quorum' && m.readOnly));
  assert.deepEqual(
    pod.readinessGates,
    [{ conditionType: MEMBER_GATE }],
    'Ready = voting and caught up: a rolling update waits for it',
  );
  assert.equal(
    pod.volumes!.find((v) => v.name === 'agent'),
    undefined,
    'no script volume: the steps are in the image',
  );
  for (const c of [...pod.initContainers!, ...pod.containers]) {
    assert.ok(!c.volumeMounts!.some((m) => m.name === 'agent'), c.name);
  }
  const cm = objs.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
  assert.deepEqual(Object.keys(cm.data!).sort(), ['contract.js']);
});

test('a member pod may read its genesis and chain ConfigMaps, and nothing else', () => {
  const objs = desiredQuorumVat(qv, 'x', settings, plan);
  const roles = objs.filter((o) => o.kind === 'Role') as V1Role[];
  assert.equal(roles.length, 1);
  assert.deepEqual(roles[0]!.rules, [
    {
      apiGroups: [''],
      resources: ['configmaps'],
      resourceNames: ['escrow-genesis', 'escrow-chain'],
      verbs: ['get'],
    },
  ]);
});

test('the sturdyref Secret: filled by the operator once the genesis exists, empty before', () => {
  const secret = (p: typeof plan & { sturdyref?: string }) =>
    desiredQuorumVat(qv, 'x', settings, p).find((o) => o.kind === 'Secret') as V1Secret;
  assert.equal(secret(plan).data, undefined);
  const s = secret({ ...plan, sturdyref: 'quorumvat://quorumQ/s/abc' });
  assert.equal(Buffer.from(s.data!.sturdyref!, 'base64').toString(), 'quorumvat://quorumQ/s/abc');
  assert.equal(s.metadata!.name, 'escrow-sturdyref');
});

test('members run the contract given (the pinned one), from the operator ConfigMap, never the user ConfigMap', () => {
  const byRef: QuorumVat = {
    ...qv,
    spec: { ...qv.spec, contract: { configMapRef: { name: 'user-code', key: 'main.js' } } },
  };
  const objs = desiredQuorumVat(byRef, 'pinned source', settings, plan);
  const cm = objs.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
  assert.equal(cm.data!['contract.js'], 'pinned source');
  const sts = objs.find((o) => o.kind === 'StatefulSet') as V1StatefulSet;
  const volume = sts.spec!.template.spec!.volumes!.find((v) => v.name === 'contract')!;
  assert.equal(volume.configMap!.name, cm.metadata!.name);
  assert.ok(
    !JSON.stringify(sts).includes('user-code'),
    'no member mounts the ConfigMap whose content may change',
  );
  // The same source: the same pod template (no roll), whichever way the spec gives it.
  const inline = desiredQuorumVat(
    { ...qv, spec: { ...qv.spec, contract: { source: 'pinned source' } } },
    'pinned source',
    settings,
    plan,
  ).find((o) => o.kind === 'StatefulSet') as V1StatefulSet;
  assert.deepEqual(inline.spec!.template, sts.spec!.template);
});
