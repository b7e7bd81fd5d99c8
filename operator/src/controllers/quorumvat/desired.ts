// What a QuorumVat should become, as pure functions (desired.test.ts). The member count of the
// StatefulSet comes from the membership planner, never straight from spec.replicas.
import type { KubernetesObject, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import { labels, names, type Owner, ownerReference, selector } from '../common/names.ts';
import { type OperatorSettings, statefulSet } from '../common/workload.ts';
import { contractHash, ownerOf, workloadBase } from '../vat/desired.ts';

/**
 * Voluntary evictions (drains, upgrades through the eviction API) must leave at least k voting
 * members up: minAvailable = k, plus any learner (a learner does not vote, so it must not count
 * towards the k that have to stay).
 */
export function disruptionBudget(
  owner: Owner,
  threshold: number,
  learners: number,
): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: names(owner.name).pdb,
      namespace: owner.namespace,
      labels: labels(owner),
      ownerReferences: [ownerReference(owner)],
    },
    spec: {
      minAvailable: threshold + learners,
      selector: { matchLabels: selector(owner) },
    },
  };
}

export interface QuorumVatPlan {
  /** The StatefulSet's replicas as the planner decided. */
  statefulSetReplicas: number;
  /** The threshold in force (the committed configuration's, or the planned first one). */
  threshold: number;
  learners: number;
}

export function desiredQuorumVat(
  qv: QuorumVat,
  contractSource: string,
  settings: OperatorSettings,
  agentSource: string,
  p: QuorumVatPlan,
): KubernetesObject[] {
  const owner = ownerOf(qv);
  return [
    ...workloadBase(owner, qv.spec, agentSource),
    disruptionBudget(owner, p.threshold, p.learners),
    statefulSet({
      owner,
      spec: qv.spec,
      replicas: p.statefulSetReplicas,
      settings,
      contractHash: contractHash(contractSource),
      // A member's pod goes only after it was voted out: its state is of no further use, and a
      // member added later starts afresh (a new key, joining as a learner).
      whenScaled: 'Delete',
      env: [{ name: 'QUORUMVAT_QUORUM', value: owner.name }],
    }),
  ];
}
