import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Role,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { DEFAULTS } from '../../api/v1alpha1/spec.ts';
import type { Vat, VatSpec } from '../../api/v1alpha1/types.ts';
import { dhtService } from '../common/workload.ts';
import { contractHash, desiredVat, ownerOf } from './desired.ts';

const settings = {
  vatImage: 'quorumvat.local/quorumvat:dev',
  imagePullPolicy: 'IfNotPresent' as const,
};

function vat(spec: Partial<VatSpec> = {}): Vat {
  return {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 'bank', namespace: 'ns1', uid: 'u-1', generation: 1 },
    spec: {
      contract: { source: 'export const buildRootObject = () => ({});' },
      storage: { size: DEFAULTS.storageSize, retention: 'Keep' },
      gasLimit: DEFAULTS.gasLimit,
      memoryLimitMiB: DEFAULTS.memoryLimitMiB,
      logLevel: 'info',
      ...spec,
    },
  };
}

const byKind = <T>(objs: KubernetesObject[], kind: string): T =>
  objs.find((o) => o.kind === kind) as T;
const env = (sts: V1StatefulSet, name: string) =>
  sts.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === name)?.value;

test('a Vat becomes one StatefulSet pod with its data volume, a headless Service, Secret, RBAC', () => {
  const objs = desiredVat(vat(), 'src', settings, '// agent');
  assert.deepEqual(
    objs.map((o) => `${o.kind}/${o.metadata?.name}`),
    [
      'ServiceAccount/bank-vat',
      'Secret/bank-sturdyref',
      'Role/bank-sturdyref-publisher',
      'RoleBinding/bank-sturdyref-publisher',
      'ConfigMap/bank-vat',
      'Service/bank',
      'StatefulSet/bank',
    ],
    'the StatefulSet comes last: its pod needs the others',
  );
  for (const o of objs) {
    assert.equal(o.metadata?.namespace, 'ns1');
    assert.deepEqual(o.metadata?.ownerReferences?.[0], {
      apiVersion: 'quorumvat.dev/v1alpha1',
      kind: 'Vat',
      name: 'bank',
      uid: 'u-1',
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.equal(o.metadata?.labels?.['quorumvat.dev/vat'], 'bank');
    assert.equal(o.metadata?.labels?.['app.kubernetes.io/managed-by'], 'quorumvat-operator');
  }
  const sts = byKind<V1StatefulSet>(objs, 'StatefulSet');
  assert.equal(sts.spec!.replicas, 1);
  assert.equal(sts.spec!.serviceName, 'bank');
  const claim = sts.spec!.volumeClaimTemplates![0]!;
  assert.equal(claim.spec!.resources!.requests!['storage'], '1Gi');
  assert.equal(claim.spec!.storageClassName, undefined, "the cluster's default class");
  assert.deepEqual(sts.spec!.persistentVolumeClaimRetentionPolicy, {
    whenDeleted: 'Retain',
    whenScaled: 'Retain',
  });
  const svc = byKind<V1Service>(objs, 'Service');
  assert.equal(svc.spec!.clusterIP, 'None');
  assert.equal(svc.spec!.publishNotReadyAddresses, true);
  assert.deepEqual(svc.spec!.selector, sts.spec!.selector!.matchLabels);
});

test('the vat container: image, probes on /healthz and /readyz, settings from the spec, no root', () => {
  const sts = byKind<V1StatefulSet>(
    desiredVat(
      vat({ gasLimit: 777, logLevel: 'debug', bootstrapPeers: ['/dns4/far/tcp/4001'] }),
      'src',
      settings,
      '',
    ),
    'StatefulSet',
  );
  const pod = sts.spec!.template.spec!;
  const c = pod.containers[0]!;
  assert.equal(c.name, 'vat');
  assert.equal(c.image, settings.vatImage);
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.equal(c.readinessProbe!.httpGet!.path, '/readyz');
  assert.equal(c.livenessProbe!.httpGet!.path, '/healthz');
  assert.equal(c.startupProbe!.httpGet!.path, '/healthz');
  assert.equal(env(sts, 'QUORUMVAT_GAS'), '777');
  assert.equal(env(sts, 'QUORUMVAT_LOG_LEVEL'), 'debug');
  assert.equal(env(sts, 'QUORUMVAT_DATA_DIR'), '/data');
  assert.equal(
    env(sts, 'QUORUMVAT_BOOTSTRAP'),
    '/dns4/quorumvat-dht.ns1.svc.cluster.local/tcp/4001,/dns4/far/tcp/4001',
  );
  assert.equal(
    env(sts, 'QUORUMVAT_ANNOUNCE'),
    '/dns4/$(POD_NAME).bank.ns1.svc.cluster.local/tcp/4001',
  );
  assert.equal(c.terminationMessagePolicy, 'FallbackToLogsOnError');
  for (const container of pod.containers) {
    assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
  }
  assert.equal(pod.securityContext!.runAsNonRoot, true);
  assert.equal(sts.spec!.template.metadata!.labels!['quorumvat.dev/dht'], 'true');
  assert.equal(
    sts.spec!.template.metadata!.annotations!['kubectl.kubernetes.io/default-container'],
    'vat',
    'kubectl logs -l quorumvat.dev/vat=NAME shows the node',
  );
  // The publisher sees the data volume read-only: it can read root.sturdyref, change nothing.
  const publisher = pod.containers[1]!;
  assert.equal(publisher.volumeMounts!.find((m) => m.name === 'data')!.readOnly, true);
  assert.equal(
    byKind<V1StatefulSet>(desiredVat(vat({ image: 'x:1' }), '', settings, ''), 'StatefulSet').spec!
      .template.spec!.containers[0]!.image,
    'x:1',
  );
});

test('storage class, size and retention Delete follow the spec', () => {
  const sts = byKind<V1StatefulSet>(
    desiredVat(
      vat({ storage: { size: '5Gi', storageClassName: 'fast', retention: 'Delete' } }),
      '',
      settings,
      '',
    ),
    'StatefulSet',
  );
  const claim = sts.spec!.volumeClaimTemplates![0]!;
  assert.equal(claim.spec!.storageClassName, 'fast');
  assert.equal(claim.spec!.resources!.requests!['storage'], '5Gi');
  assert.equal(sts.spec!.persistentVolumeClaimRetentionPolicy!.whenDeleted, 'Delete');
});

test('an inline contract goes into the vat ConfigMap; a ConfigMap reference is mounted as is', () => {
  const inline = desiredVat(vat(), 'src', settings, '// agent');
  const cm = byKind<V1ConfigMap>(inline, 'ConfigMap');
  assert.equal(cm.data!['contract.js'], 'export const buildRootObject = () => ({});');
  assert.equal(cm.data!['publish-sturdyref.mjs'], '// agent');
  const ref = desiredVat(
    vat({ contract: { configMapRef: { name: 'bank-src', key: 'bank.js' } } }),
    'src',
    settings,
    '',
  );
  assert.equal(byKind<V1ConfigMap>(ref, 'ConfigMap').data!['contract.js'], undefined);
  const vol = byKind<V1StatefulSet>(ref, 'StatefulSet').spec!.template.spec!.volumes!.find(
    (v) => v.name === 'contract',
  )!;
  assert.deepEqual(vol.configMap, {
    name: 'bank-src',
    items: [{ key: 'bank.js', path: 'contract.js' }],
  });
});

test('a contract change rolls the pod (its hash is in the pod template)', () => {
  const a = byKind<V1StatefulSet>(desiredVat(vat(), 'one', settings, ''), 'StatefulSet');
  const b = byKind<V1StatefulSet>(desiredVat(vat(), 'two', settings, ''), 'StatefulSet');
  assert.equal(
    a.spec!.template.metadata!.annotations!['quorumvat.dev/contract-hash'],
    contractHash('one'),
  );
  assert.notDeepEqual(a.spec!.template, b.spec!.template);
});

test('the Secret carries no data from the operator, and the pod may touch only that Secret', () => {
  const objs = desiredVat(vat(), 'src', settings, '');
  const secret = byKind<V1Secret>(objs, 'Secret');
  assert.equal(secret.data, undefined, 'the publisher in the pod fills it; apply never clears it');
  const role = byKind<V1Role>(objs, 'Role');
  assert.deepEqual(role.rules, [
    {
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['bank-sturdyref'],
      verbs: ['get', 'patch'],
    },
  ]);
});

test('the shared DHT Service selects every vat pod of the namespace and is owned by all vats', () => {
  const a = ownerOf(vat());
  const b = { ...a, name: 'alice', uid: 'u-0', kind: 'QuorumVat' as const };
  const svc = dhtService('ns1', [a, b]);
  assert.deepEqual(svc.spec!.selector, { 'quorumvat.dev/dht': 'true' });
  assert.equal(svc.spec!.publishNotReadyAddresses, true);
  assert.deepEqual(
    svc.metadata!.ownerReferences!.map((r) => [r.uid, r.controller]),
    [
      ['u-0', false],
      ['u-1', false],
    ],
  );
});

test('volume permissions: off by default; when on, a root init container with only CAP_CHOWN', () => {
  const plain = byKind<V1StatefulSet>(desiredVat(vat(), '', settings, ''), 'StatefulSet');
  assert.equal(plain.spec!.template.spec!.initContainers, undefined);
  const fixed = byKind<V1StatefulSet>(
    desiredVat(vat(), '', { ...settings, volumePermissionsInit: true }, ''),
    'StatefulSet',
  );
  const init = fixed.spec!.template.spec!.initContainers![0]!;
  assert.deepEqual(init.securityContext!.capabilities, { drop: ['ALL'], add: ['CHOWN'] });
  assert.equal(init.securityContext!.runAsUser, 0);
  assert.deepEqual(init.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
});
