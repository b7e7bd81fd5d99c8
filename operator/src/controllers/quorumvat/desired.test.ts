import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodDisruptionBudget, V1StatefulSet } from '@kubernetes/client-node';
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import { desiredQuorumVat } from './desired.ts';

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

test('members: a StatefulSet sized by the plan (not spec.replicas), a PDB that keeps k up', () => {
  const objs = desiredQuorumVat(qv, 'x', settings, '', {
    statefulSetReplicas: 4,
    threshold: 3,
    learners: 1,
  });
  const sts = objs.find((o) => o.kind === 'StatefulSet') as V1StatefulSet;
  assert.equal(sts.spec!.replicas, 4, 'one member at a time, as the planner says');
  assert.deepEqual(sts.spec!.persistentVolumeClaimRetentionPolicy, {
    whenDeleted: 'Retain',
    whenScaled: 'Delete',
  });
  assert.equal(sts.spec!.podManagementPolicy, 'OrderedReady');
  assert.equal(sts.metadata!.labels!['quorumvat.dev/kind'], 'QuorumVat');
  const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget') as V1PodDisruptionBudget;
  assert.equal(pdb.spec!.minAvailable, 4, 'k = 3 voters plus the learner');
  assert.deepEqual(pdb.spec!.selector!.matchLabels, sts.spec!.selector!.matchLabels);
  for (const o of objs) assert.equal(o.metadata!.ownerReferences![0]!.kind, 'QuorumVat');
  assert.equal(objs.at(-1)!.kind, 'StatefulSet');
});
