// The operator runtime against the real API server (npm run test:e2e): the informer wrapper
// restarts client-node's informer after a real non-410 error (403 until RBAC is granted) and
// then sees every object; server-side apply keeps other managers' fields and owns its own;
// status goes only through /status; two leader electors never lead at once, a released lease
// moves at once, an abandoned one only after its duration.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { OperatorApi } from '../../operator/src/runtime/api.ts';
import { ResilientInformer } from '../../operator/src/runtime/informer.ts';
import { LeaderElector } from '../../operator/src/runtime/lease.ts';
import {
  apply,
  clusterReachable,
  ensureCrds,
  eventually,
  kubeconfig,
  kubectl,
  uniqueNamespace,
} from './kube.ts';

let ns = '';
let removeCrds = () => {};
const kc = new KubeConfig();

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  kc.loadFromFile(kubeconfig);
  ns = uniqueNamespace('runtime');
  removeCrds = ensureCrds();
});
after(() => {
  if (ns) kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=120s');
  removeCrds();
});

/** A KubeConfig for a ServiceAccount of the test namespace (its own token, its own rights). */
function serviceAccountConfig(sa: string): KubeConfig {
  kubectl('-n', ns, 'create', 'serviceaccount', sa);
  const token = kubectl('-n', ns, 'create', 'token', sa, '--duration=1h').trim();
  const cluster = kc.getCurrentCluster()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: cluster.server,
        caData: cluster.caData,
        caFile: cluster.caFile,
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: ns }],
    currentContext: 'x',
  });
  return out;
}

test('an informer stopped by a real 403 is restarted and fills its cache once access is granted', async () => {
  const saKc = serviceAccountConfig('watcher');
  const core = saKc.makeApiClient(CoreV1Api);
  apply(ns, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'before' },
    data: { a: '1' },
  });
  const problems: string[] = [];
  const seen = new Set<string>();
  const inf = new ResilientInformer<V1ConfigMap>(saKc, {
    path: `/api/v1/namespaces/${ns}/configmaps`,
    list: () => core.listNamespacedConfigMap({ namespace: ns }),
    onChange: (o, why) => {
      if (why !== 'delete') seen.add(o.metadata!.name!);
    },
    onProblem: (what) => problems.push(what),
    restartBaseMs: 200,
    restartMaxMs: 1000,
  });
  await inf.start();
  await eventually('the informer to report it stopped', 10_000, () =>
    problems.some((p) => p.endsWith('stopped')) ? true : undefined,
  );
  const startsWhileForbidden = inf.starts;
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(
    inf.starts > startsWhileForbidden,
    'it keeps restarting (client-node alone would stay stopped)',
  );
  assert.equal(
    problems.filter((p) => p.endsWith('stopped')).length,
    1,
    'told once per failure streak',
  );
  kubectl('-n', ns, 'create', 'role', 'read-cm', '--verb=get,list,watch', '--resource=configmaps');
  kubectl(
    '-n',
    ns,
    'create',
    'rolebinding',
    'read-cm',
    '--role=read-cm',
    `--serviceaccount=${ns}:watcher`,
  );
  await inf.synced;
  await eventually('the ConfigMap made before access', 20_000, () =>
    seen.has('before') ? true : undefined,
  );
  apply(ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' }, data: { a: '2' } });
  await eventually('a ConfigMap made after recovery, through the watch', 20_000, () =>
    seen.has('after') ? true : undefined,
  );
  assert.ok(problems.some((p) => p.includes('recovered')));
  assert.ok(inf.get('after', ns));
  await inf.stop();
});

test('server-side apply: one field manager; fields of other managers stay; conflicts forced', async () => {
  const api = new OperatorApi(kc);
  const cm = (data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'ssa', namespace: ns },
    data,
  });
  await api.apply(cm({ ours: '1' }));
  kubectl(
    '-n',
    ns,
    'patch',
    'configmap',
    'ssa',
    '--type=merge',
    '-p',
    '{"data":{"theirs":"x"}}',
    '--field-manager=someone-else',
  );
  await api.apply(cm({ ours: '2' }));
  const after = await api.core.readNamespacedConfigMap({ namespace: ns, name: 'ssa' });
  assert.deepEqual(after.data, { ours: '2', theirs: 'x' });
  const managers = after.metadata!.managedFields!.map((m) => `${m.manager}:${m.operation}`);
  assert.ok(managers.includes('quorumvat-operator:Apply'), managers.join(' '));
  // Dropping a field from the applied object removes it (we own it); theirs stays.
  await api.apply(cm({ ours2: 'y' }));
  const last = await api.core.readNamespacedConfigMap({ namespace: ns, name: 'ssa' });
  assert.deepEqual(last.data, { ours2: 'y', theirs: 'x' });
});

test('status only through /status: it changes status and never spec', async () => {
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 's' },
    spec: { contract: { source: 'x' } },
  });
  const api = new OperatorApi(kc);
  const ref = {
    group: 'quorumvat.dev',
    version: 'v1alpha1',
    plural: 'vats',
    kind: 'Vat',
    namespace: ns,
    name: 's',
  };
  await api.applyStatus(ref, { vatId: '12D3KooWtest', observedGeneration: 1 });
  const v = JSON.parse(kubectl('-n', ns, 'get', 'vat', 's', '-o', 'json'));
  assert.equal(v.status.vatId, '12D3KooWtest');
  assert.equal(v.spec.contract.source, 'x');
  assert.equal(v.metadata.generation, 1, 'a status write does not bump the generation');
  await api.event({ ...ref, uid: v.metadata.uid }, 'Warning', 'TestReason', 'a test event');
  await eventually('the event in kubectl describe', 10_000, () =>
    kubectl('-n', ns, 'describe', 'vat', 's').includes('a test event') ? true : undefined,
  );
});

test('two leader electors never lead at once; a released lease moves at once, an abandoned one after its duration', async (t) => {
  const log = pino({ level: 'silent' });
  const leading = new Map<string, boolean>();
  let overlap = 0;
  const make = (id: string) =>
    new LeaderElector(kc, {
      namespace: ns,
      name: 'op',
      identity: id,
      leaseDurationS: 6,
      renewDeadlineMs: 4000,
      retryMs: 500,
      onStartedLeading: () => {
        if ([...leading.values()].some(Boolean)) overlap++;
        leading.set(id, true);
      },
      onStoppedLeading: () => leading.set(id, false),
      onProblem: (what) => log.warn(what),
    });
  const a = make('a');
  const b = make('b');
  a.start();
  await eventually('a to lead', 10_000, () => (leading.get('a') ? true : undefined));
  b.start();
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(leading.get('b') ?? false, false, 'b waits while a renews');
  // Released: b takes over within a few retries.
  const t0 = Date.now();
  await a.stop();
  await eventually('b to lead after a released', 10_000, () =>
    leading.get('b') ? true : undefined,
  );
  const releasedMs = Date.now() - t0;
  assert.ok(releasedMs < 4000, `took ${releasedMs} ms after a release`);
  // Abandoned (as by a crash): c takes over only once it saw the lease unchanged for 6 s.
  const c = make('c');
  c.start();
  await new Promise((r) => setTimeout(r, 1500));
  const t1 = Date.now();
  await b.stop({ release: false });
  await eventually('c to lead after b vanished', 20_000, () =>
    leading.get('c') ? true : undefined,
  );
  const abandonedMs = Date.now() - t1;
  assert.ok(
    abandonedMs >= 4000,
    `c took over ${abandonedMs} ms after b stopped: before the lease could expire`,
  );
  assert.equal(overlap, 0, 'never two leaders');
  t.diagnostic(
    `take-over after a release: ${releasedMs} ms; after an abandoned 6 s lease: ${abandonedMs} ms`,
  );
  const lease = JSON.parse(kubectl('-n', ns, 'get', 'lease', 'op', '-o', 'json'));
  assert.equal(lease.spec.holderIdentity, 'c');
  assert.equal(lease.spec.leaseTransitions, 2);
  await c.stop();
});
