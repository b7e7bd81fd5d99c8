// The pieces a Vat and a QuorumVat share: the vat node's StatefulSet (pod template, data volume
// claim, probes), its headless Service, the ConfigMap with the contract and the publisher
// script, the per-vat ServiceAccount and Role that let the pod write its one Secret, and the
// namespace's shared DHT bootstrap Service. Pure functions of the resource: unit tested.
import type {
  V1ConfigMap,
  V1Container,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ServiceAccount,
  V1StatefulSet,
  V1Volume,
} from '@kubernetes/client-node';
import type { VatSpec } from '../../api/v1alpha1/types.ts';
import {
  DHT_SERVICE,
  LABEL,
  labels,
  names,
  type Owner,
  ownerReference,
  PORTS,
  STURDYREF_KEY,
  selector,
  serviceDns,
} from './names.ts';

export interface OperatorSettings {
  /** Image for vats whose spec names none. */
  vatImage: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * For storage that ignores fsGroup (hostPath and local volumes): an init container, root with
   * only CAP_CHOWN, gives the data volume to the node's user before it starts. Off by default.
   */
  volumePermissionsInit?: boolean;
}

export const DATA = '/data';
const CONTRACT_DIR = '/contract';
export const AGENT_DIR = '/quorumvat-agent';
export const AGENT_FILE = 'publish-sturdyref.mjs';

const meta = (owner: Owner, name: string) => ({
  name,
  namespace: owner.namespace,
  labels: labels(owner),
  ownerReferences: [ownerReference(owner)],
});

/** The ConfigMap holding the publisher script and, for an inline contract, the contract. */
export function configMap(owner: Owner, spec: VatSpec, agentSource: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(owner, names(owner.name).configMap),
    data: {
      [AGENT_FILE]: agentSource,
      ...(spec.contract.source !== undefined ? { 'contract.js': spec.contract.source } : {}),
    },
  };
}

/** The Secret the pod's publisher fills with the root sturdyref (the operator owns no data). */
export function sturdyrefSecret(owner: Owner): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(owner, names(owner.name).secret),
    type: 'Opaque',
  };
}

export function serviceAccount(owner: Owner): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(owner, names(owner.name).serviceAccount),
    automountServiceAccountToken: true,
  };
}

/** get + patch on the vat's own Secret, nothing else. */
export function publisherRole(owner: Owner): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(owner, names(owner.name).role),
    rules: [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [names(owner.name).secret],
        verbs: ['get', 'patch'],
      },
    ],
  };
}

export function publisherRoleBinding(owner: Owner): V1RoleBinding {
  const n = names(owner.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(owner, n.role),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.role },
    subjects: [{ kind: 'ServiceAccount', name: n.serviceAccount, namespace: owner.namespace }],
  };
}

/** Headless Service of the vat's pods: stable DNS per pod, reachable before it is Ready. */
export function headlessService(owner: Owner): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(owner, names(owner.name).service),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selector(owner),
      ports: [
        { name: 'p2p', port: PORTS.p2p, targetPort: 'p2p', protocol: 'TCP' },
        { name: 'http', port: PORTS.http, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  };
}

/**
 * The namespace's shared DHT bootstrap Service: every vat pod (label quorumvat.dev/dht) behind
 * one name, so a new vat joins the DHT and finds any other by VatID. Owned by every vat in the
 * namespace (not as controller): it goes when the last one does.
 */
export function dhtService(namespace: string, owners: Owner[]): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: DHT_SERVICE,
      namespace,
      labels: {
        'app.kubernetes.io/name': 'quorumvat-dht',
        'app.kubernetes.io/part-of': 'quorumvat',
        'app.kubernetes.io/managed-by': 'quorumvat-operator',
      },
      ownerReferences: [...owners]
        .sort((a, b) => a.uid.localeCompare(b.uid))
        .map((o) => ({ ...ownerReference(o), controller: false, blockOwnerDeletion: false })),
    },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { [LABEL.dht]: 'true' },
      ports: [{ name: 'p2p', port: PORTS.p2p, targetPort: 'p2p', protocol: 'TCP' }],
    },
  };
}

export interface StatefulSetInput {
  owner: Owner;
  spec: VatSpec;
  replicas: number;
  settings: OperatorSettings;
  /** sha256 of the contract source: a change rolls the pods. */
  contractHash: string;
  /** What happens to a removed member's volume on scale-down. */
  whenScaled: 'Retain' | 'Delete';
  /** Extra environment (quorum membership settings). */
  env?: { name: string; value: string }[];
}

export function statefulSet(input: StatefulSetInput): V1StatefulSet {
  const { owner, spec, settings } = input;
  const n = names(owner.name);
  const podLabels = { ...labels(owner), [LABEL.dht]: 'true' };
  const contractVolume: V1Volume = spec.contract.configMapRef
    ? {
        name: 'contract',
        configMap: {
          name: spec.contract.configMapRef.name,
          items: [{ key: spec.contract.configMapRef.key, path: 'contract.js' }],
        },
      }
    : {
        name: 'contract',
        configMap: { name: n.configMap, items: [{ key: 'contract.js', path: 'contract.js' }] },
      };
  const bootstrap = [
    `/dns4/${serviceDns(DHT_SERVICE, owner.namespace)}/tcp/${PORTS.p2p}`,
    ...(spec.bootstrapPeers ?? []),
  ];
  const securityContext = {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  const vat: V1Container = {
    name: 'vat',
    image: spec.image ?? settings.vatImage,
    imagePullPolicy: settings.imagePullPolicy,
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'QUORUMVAT_NAME', value: owner.name },
      { name: 'QUORUMVAT_DATA_DIR', value: DATA },
      { name: 'QUORUMVAT_CONTRACT', value: `${CONTRACT_DIR}/contract.js` },
      { name: 'QUORUMVAT_LISTEN', value: `/ip4/0.0.0.0/tcp/${PORTS.p2p}` },
      {
        name: 'QUORUMVAT_ANNOUNCE',
        value: `/dns4/$(POD_NAME).${serviceDns(n.service, owner.namespace)}/tcp/${PORTS.p2p}`,
      },
      { name: 'QUORUMVAT_BOOTSTRAP', value: bootstrap.join(',') },
      { name: 'QUORUMVAT_GAS', value: String(spec.gasLimit) },
      { name: 'QUORUMVAT_HEAP_MB', value: String(spec.memoryLimitMiB) },
      { name: 'QUORUMVAT_HTTP', value: `0.0.0.0:${PORTS.http}` },
      { name: 'QUORUMVAT_LOG_LEVEL', value: spec.logLevel },
      ...(input.env ?? []),
    ],
    ports: [
      { name: 'p2p', containerPort: PORTS.p2p, protocol: 'TCP' },
      { name: 'http', containerPort: PORTS.http, protocol: 'TCP' },
    ],
    // Start-up may replay a transcript: the startup probe gives it up to 5 minutes, after which
    // liveness (the process answers) and readiness (the vat serves) take over.
    startupProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 2,
      failureThreshold: 150,
    },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: '/readyz', port: 'http' },
      periodSeconds: 3,
      timeoutSeconds: 2,
      failureThreshold: 2,
    },
    // A node that exits (a contract that does not load, a bad setting) leaves its last log
    // lines in the pod status: the operator reports them in the resource's conditions.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [
      { name: 'data', mountPath: DATA },
      { name: 'contract', mountPath: CONTRACT_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    securityContext,
    ...(spec.resources ? { resources: spec.resources as V1Container['resources'] } : {}),
  };
  const publisher: V1Container = {
    name: 'sturdyref-publisher',
    image: spec.image ?? settings.vatImage,
    imagePullPolicy: settings.imagePullPolicy,
    command: ['node', `${AGENT_DIR}/${AGENT_FILE}`],
    env: [
      { name: 'STURDYREF_FILE', value: `${DATA}/root.sturdyref` },
      { name: 'STURDYREF_SECRET', value: n.secret },
      { name: 'STURDYREF_KEY', value: STURDYREF_KEY },
    ],
    volumeMounts: [
      { name: 'data', mountPath: DATA, readOnly: true },
      { name: 'agent', mountPath: AGENT_DIR, readOnly: true },
    ],
    resources: { requests: { cpu: '5m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    securityContext,
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(owner, n.statefulSet),
    spec: {
      replicas: input.replicas,
      serviceName: n.service,
      selector: { matchLabels: selector(owner) },
      // Members start and stop one at a time, in ordinal order.
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: {
        whenDeleted: spec.storage.retention === 'Delete' ? 'Delete' : 'Retain',
        whenScaled: input.whenScaled,
      },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            'kubectl.kubernetes.io/default-container': 'vat',
            'quorumvat.dev/contract-hash': input.contractHash,
          },
        },
        spec: {
          serviceAccountName: n.serviceAccount,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(settings.volumePermissionsInit
            ? {
                initContainers: [
                  {
                    name: 'data-permissions',
                    image: spec.image ?? settings.vatImage,
                    imagePullPolicy: settings.imagePullPolicy,
                    command: [
                      'node',
                      '-e',
                      // Only a volume not yet handed over: chmod while root still owns it (no
                      // CAP_FOWNER), then chown. At a restart it is the node's already.
                      `if (fs.statSync('${DATA}').uid !== 1000) { fs.chmodSync('${DATA}', 0o700); fs.chownSync('${DATA}', 1000, 1000); }`,
                    ],
                    securityContext: {
                      runAsUser: 0,
                      runAsNonRoot: false,
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ['ALL'], add: ['CHOWN'] },
                    },
                    volumeMounts: [{ name: 'data', mountPath: DATA }],
                    terminationMessagePolicy: 'FallbackToLogsOnError',
                    resources: { limits: { memory: '64Mi' } },
                  },
                ],
              }
            : {}),
          containers: [vat, publisher],
          volumes: [
            contractVolume,
            {
              name: 'agent',
              configMap: { name: n.configMap, items: [{ key: AGENT_FILE, path: AGENT_FILE }] },
            },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: 'data', labels: labels(owner) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.storage.size } },
            ...(spec.storage.storageClassName
              ? { storageClassName: spec.storage.storageClassName }
              : {}),
          },
        },
      ],
    },
  };
}
