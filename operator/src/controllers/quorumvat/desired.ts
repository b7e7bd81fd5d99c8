// What a QuorumVat should become, as pure functions (desired.test.ts). The member count of the
// StatefulSet comes from the membership planner, never straight from spec.replicas.
import type {
  KubernetesObject,
  V1Container,
  V1PodDisruptionBudget,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import {
  labels,
  names,
  type Owner,
  ownerReference,
  STURDYREF_KEY,
  selector,
} from '../common/names.ts';
import {
  configMap,
  DATA,
  headlessService,
  type OperatorSettings,
  serviceAccount,
  statefulSet,
} from '../common/workload.ts';
import { contractHash, ownerOf } from '../vat/desired.ts';
import { MEMBER_GATE } from './caught-up.ts';

/** The init container whose termination message is the member's VatID. */
export const IDENTITY_CONTAINER = 'member-identity';
const QUORUM_DIR = '/quorum';

/**
 * Voluntary evictions (drains, upgrades through the eviction API) must leave at least k voting
 * members up. A member pod is Ready only while it votes and has caught up (the readiness gate,
 * caught-up.ts): a learner or a member still replaying never counts, so minAvailable = k.
 */
export function disruptionBudget(owner: Owner, threshold: number): V1PodDisruptionBudget {
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
      minAvailable: threshold,
      selector: { matchLabels: selector(owner) },
    },
  };
}

const meta = (owner: Owner, name: string) => ({
  name,
  namespace: owner.namespace,
  labels: labels(owner),
  ownerReferences: [ownerReference(owner)],
});

/** A member pod may read the genesis and the chain the operator wrote, nothing else. */
export function memberRole(owner: Owner): V1Role {
  const n = names(owner.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(owner, n.memberRole),
    rules: [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [n.genesis, n.chain],
        verbs: ['get'],
      },
    ],
  };
}

export function memberRoleBinding(owner: Owner): V1RoleBinding {
  const n = names(owner.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(owner, n.memberRole),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.memberRole },
    subjects: [{ kind: 'ServiceAccount', name: n.serviceAccount, namespace: owner.namespace }],
  };
}

/**
 * The bootstrap sturdyref Secret. Unlike a solo vat's, the operator fills it: the quorum's
 * sturdyref key is made outside the quorum (no member ever holds the secret, only its public
 * key in the genesis), so no pod writes here.
 */
export function quorumSturdyrefSecret(owner: Owner, sturdyref: string | undefined): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(owner, names(owner.name).secret),
    type: 'Opaque',
    ...(sturdyref ? { data: { [STURDYREF_KEY]: Buffer.from(sturdyref).toString('base64') } } : {}),
  };
}

/**
 * The members' StatefulSet: the vat node's pod template (common/workload.ts), made a member:
 *   - Parallel pod management: the first members start together (none can be ready before the
 *     genesis, which needs all their VatIDs); the planner still grows and shrinks it by one;
 *   - init containers (`quorumvat member-agent`, vat-node/src/cli/member-agent.ts):
 *     member-identity (its key on its volume; its VatID as the termination message), then
 *     await-genesis (copies the genesis and chain into /quorum once the chain admits it);
 *   - the node starts as a member: `quorumvat node --quorum-genesis /quorum/genesis.json
 *     --quorum-chain /quorum/chain.json` (the chain as the operator last saw it: a member added
 *     later, or restarted, starts from the configuration in force, not the genesis's);
 *   - no sturdyref publisher: a member mints no sturdyref of the quorum vat;
 *   - a readiness gate (caught-up.ts): Ready means voting and caught up.
 */
export function memberStatefulSet(
  base: V1StatefulSet,
  owner: Owner,
  image: string,
  pullPolicy: OperatorSettings['imagePullPolicy'],
): V1StatefulSet {
  const n = names(owner.name);
  const pod = base.spec!.template.spec!;
  const vat = pod.containers.find((c) => c.name === 'vat')!;
  // The steps are `quorumvat member-agent …` of the member's own image (its entry point).
  const small = { requests: { cpu: '5m', memory: '64Mi' }, limits: { memory: '256Mi' } };
  const init: V1Container[] = [
    {
      name: IDENTITY_CONTAINER,
      image,
      imagePullPolicy: pullPolicy,
      args: ['member-agent', 'identity'],
      env: [
        { name: 'QUORUMVAT_DATA_DIR', value: DATA },
        { name: 'QUORUMVAT_QUORUM_DIR', value: QUORUM_DIR },
      ],
      volumeMounts: [
        { name: 'data', mountPath: DATA },
        { name: 'quorum', mountPath: QUORUM_DIR },
      ],
      // The message is the VatID on success; the last log lines on a failure.
      terminationMessagePolicy: 'FallbackToLogsOnError',
      resources: small,
      securityContext: vat.securityContext!,
    },
    {
      name: 'await-genesis',
      image,
      imagePullPolicy: pullPolicy,
      args: ['member-agent', 'await-genesis'],
      env: [
        { name: 'QUORUMVAT_GENESIS_CONFIGMAP', value: n.genesis },
        { name: 'QUORUMVAT_CHAIN_CONFIGMAP', value: n.chain },
        { name: 'QUORUMVAT_QUORUM_DIR', value: QUORUM_DIR },
      ],
      volumeMounts: [{ name: 'quorum', mountPath: QUORUM_DIR }],
      terminationMessagePolicy: 'FallbackToLogsOnError',
      resources: small,
      securityContext: vat.securityContext!,
    },
  ];
  const member: V1Container = {
    ...vat,
    args: [
      'node',
      '--quorum-genesis',
      `${QUORUM_DIR}/genesis.json`,
      '--quorum-chain',
      `${QUORUM_DIR}/chain.json`,
    ],
    volumeMounts: [
      ...(vat.volumeMounts ?? []),
      { name: 'quorum', mountPath: QUORUM_DIR, readOnly: true },
    ],
  };
  return {
    ...base,
    spec: {
      ...base.spec!,
      podManagementPolicy: 'Parallel',
      template: {
        ...base.spec!.template,
        spec: {
          ...pod,
          // Ready = the node serves (probe) AND it votes, caught up (the operator's gate): a
          // rolling update moves to the next member only then.
          readinessGates: [{ conditionType: MEMBER_GATE }],
          initContainers: [...(pod.initContainers ?? []), ...init],
          containers: [member],
          volumes: [
            // No sturdyref publisher script: the member steps are in the image.
            ...(pod.volumes ?? []).filter((v) => v.name !== 'agent'),
            { name: 'quorum', emptyDir: { sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  };
}

export interface QuorumVatPlan {
  /** The StatefulSet's replicas as the planner decided. */
  statefulSetReplicas: number;
  /** The threshold in force (the committed configuration's, or the planned first one). */
  threshold: number;
  /** The bootstrap sturdyref, once the genesis exists. */
  sturdyref?: string;
}

export function desiredQuorumVat(
  qv: QuorumVat,
  contractSource: string,
  settings: OperatorSettings,
  p: QuorumVatPlan,
): KubernetesObject[] {
  const owner = ownerOf(qv);
  // Members mount the operator's ConfigMap with the source given (the pinned one once the
  // genesis exists), never the user's: its content may change under a running quorum.
  const spec = { ...qv.spec, contract: { source: contractSource } };
  const cm = configMap(owner, spec, '');
  const { 'publish-sturdyref.mjs': _unused, ...data } = cm.data ?? {};
  const image = qv.spec.image ?? settings.vatImage;
  return [
    serviceAccount(owner),
    quorumSturdyrefSecret(owner, p.sturdyref),
    memberRole(owner),
    memberRoleBinding(owner),
    { ...cm, data },
    headlessService(owner),
    disruptionBudget(owner, p.threshold),
    memberStatefulSet(
      statefulSet({
        owner,
        spec,
        replicas: p.statefulSetReplicas,
        settings,
        contractHash: contractHash(contractSource),
        // A member's pod goes only after it was voted out: its state is of no further use, and
        // a member added later starts afresh (a new key, joining as a learner).
        whenScaled: 'Delete',
      }),
      owner,
      image,
      settings.imagePullPolicy,
    ),
  ];
}
