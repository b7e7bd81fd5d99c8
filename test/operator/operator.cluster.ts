// The operator process (node operator/src/main.ts, run on the host with the admin kubeconfig)
// against the real API server, without the vat image: it makes every object of a Vat with
// owner references, reports what stops the vat (an image that cannot be pulled, a missing
// contract ConfigMap) in conditions and Events, makes a QuorumVat's admin key once and no genesis
// before its members report their VatIDs,
// lets the garbage collector remove what a deleted Vat owned, and of two operator processes
// only the lease holder acts; when it stops, the other takes over.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  apply,
  clusterReachable,
  ensureCrds,
  eventually,
  kubeconfig,
  kubectl,
  repoRoot,
  uniqueNamespace,
} from './kube.ts';

let ns = '';
let removeCrds = () => {};
const procs: { name: string; child: ChildProcess; out: string[] }[] = [];

function startOperator(name: string) {
  const out: string[] = [];
  const child = spawn(process.execPath, [join(repoRoot, 'operator/src/main.ts')], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      POD_NAME: name,
      POD_NAMESPACE: ns,
      QUORUMVAT_OPERATOR_LEASE: 'test-operator-leader',
      QUORUMVAT_OPERATOR_LEASE_DURATION_S: '6',
      QUORUMVAT_OPERATOR_HTTP_PORT: '0',
      // An image no node has: the pods cannot start, which the operator must say.
      QUORUMVAT_OPERATOR_VAT_IMAGE: 'quorumvat.local/not-built:none',
      QUORUMVAT_OPERATOR_VAT_IMAGE_PULL_POLICY: 'Never',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => out.push(String(d)));
  child.stderr!.on('data', (d) => out.push(String(d)));
  const p = { name, child, out };
  procs.push(p);
  return p;
}
const logOf = (p: { out: string[] }) => p.out.join('');
// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const getJson = (...args: string[]): any =>
  JSON.parse(kubectl('-n', ns, 'get', ...args, '-o', 'json'));
// biome-ignore lint/suspicious/noExplicitAny: conditions
const cond = (o: any, type: string) => o.status?.conditions?.find((c: any) => c.type === type);

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  removeCrds = ensureCrds();
  ns = uniqueNamespace('operator');
});
after(() => {
  for (const p of procs) p.child.kill('SIGKILL');
  if (ns) kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=180s');
  removeCrds();
});

let a: ReturnType<typeof startOperator>;
let b: ReturnType<typeof startOperator>;

test('of two operator processes only the lease holder acts', async () => {
  a = startOperator('op-a');
  await eventually('op-a to lead', 30_000, () =>
    logOf(a).includes('"msg":"leading"') ? true : undefined,
  );
  b = startOperator('op-b');
  await eventually('op-b up', 30_000, () =>
    logOf(b).includes('waiting for the lease') ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(!logOf(b).includes('"msg":"leading"'), 'op-b waits');
});

test('a Vat: every object made, owned by the Vat; the image problem in its conditions', async () => {
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 'bank' },
    spec: { contract: { source: 'export function buildRootObject() {}' } },
  });
  const vat = getJson('vat', 'bank');
  for (const [kind, name] of [
    ['statefulset', 'bank'],
    ['service', 'bank'],
    ['service', 'quorumvat-dht'],
    ['secret', 'bank-sturdyref'],
    ['configmap', 'bank-vat'],
    ['serviceaccount', 'bank-vat'],
    ['role', 'bank-sturdyref-publisher'],
    ['rolebinding', 'bank-sturdyref-publisher'],
  ] as const) {
    const obj = await eventually(`${kind}/${name}`, 30_000, () => getJson(kind, name));
    assert.equal(
      obj.metadata.ownerReferences?.[0]?.uid,
      vat.metadata.uid,
      `${kind}/${name} owned by the Vat`,
    );
    if (name !== 'quorumvat-dht') {
      const managed = getJson(kind, name, '--show-managed-fields').metadata.managedFields;
      assert.ok(
        managed.some(
          (m: { manager: string; operation: string }) =>
            m.manager === 'quorumvat-operator' && m.operation === 'Apply',
        ),
      );
    }
  }
  const v = await eventually('Vat bank Degraded by the image', 120_000, () => {
    const x = getJson('vat', 'bank');
    return cond(x, 'Degraded')?.status === 'True' ? x : undefined;
  });
  assert.equal(cond(v, 'Degraded').reason, 'NodeFailing');
  assert.match(
    cond(v, 'Degraded').message,
    /image quorumvat\.local\/not-built:none cannot be pulled \(ErrImageNeverPull\)/,
  );
  assert.equal(cond(v, 'Ready').status, 'False');
  assert.equal(v.status.observedGeneration, v.metadata.generation);
  await eventually('a Warning Event', 30_000, () =>
    kubectl(
      '-n',
      ns,
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=bank,type=Warning',
    ).includes('NodeFailing')
      ? true
      : undefined,
  );
});

test('a missing contract ConfigMap is reported, and clears once it exists', async () => {
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 'byref' },
    spec: { contract: { configMapRef: { name: 'byref-src', key: 'main.js' } } },
  });
  const v = await eventually('ContractNotFound', 60_000, () => {
    const x = getJson('vat', 'byref');
    return cond(x, 'Ready')?.reason === 'ContractNotFound' ? x : undefined;
  });
  assert.match(
    cond(v, 'Ready').message,
    /ConfigMap byref-src \(the contract\) does not exist in namespace/,
  );
  apply(ns, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'byref-src' },
    data: { other: 'x' },
  });
  await eventually('the missing key named', 60_000, () =>
    /ConfigMap byref-src has no key main.js \(keys: other\)/.test(
      cond(getJson('vat', 'byref'), 'Ready')?.message ?? '',
    )
      ? true
      : undefined,
  );
  apply(ns, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'byref-src' },
    data: { 'main.js': 'export function buildRootObject() {}' },
  });
  const fixed = await eventually('the contract found', 60_000, () => {
    const x = getJson('vat', 'byref');
    return x.status?.contractHash ? x : undefined;
  });
  assert.notEqual(cond(fixed, 'Ready').reason, 'ContractNotFound');
  const sts = getJson('statefulset', 'byref');
  assert.deepEqual(
    sts.spec.template.spec.volumes.find((x: { name: string }) => x.name === 'contract').configMap
      .items,
    [{ key: 'main.js', path: 'contract.js' }],
  );
});

test('a QuorumVat whose members cannot start: members, PDB and admin key made, no genesis', async () => {
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'QuorumVat',
    metadata: { name: 'q' },
    spec: { contract: { source: 'x' } },
  });
  const sts = await eventually('StatefulSet q', 30_000, () => getJson('statefulset', 'q'));
  assert.equal(sts.spec.replicas, 3);
  assert.equal(sts.spec.podManagementPolicy, 'Parallel');
  const pdb = await eventually('PDB q', 30_000, () => getJson('pdb', 'q'));
  assert.equal(pdb.spec.minAvailable, 2);
  // (The first status may be written while the StatefulSet is still being made: "the first 3
  // members are starting"; then it waits for their VatIDs.)
  const q = await eventually('status of q waiting for VatIDs', 60_000, () => {
    const x = getJson('qvat', 'q');
    return x.status?.selector && /to report their VatID/.test(cond(x, 'Ready')?.message ?? '')
      ? x
      : undefined;
  });
  assert.equal(q.status.selector, 'quorumvat.dev/vat=q,quorumvat.dev/kind=QuorumVat');
  // The image cannot be pulled: no member reports its VatID, so no genesis is made.
  assert.equal(cond(q, 'Ready').reason, 'AwaitingMembers');
  assert.match(cond(q, 'Ready').message, /3 of the first 3 members to report their VatID/);
  assert.equal(q.status.vatId, undefined);
  const admin = getJson('secret', 'q-admin-key');
  assert.equal(admin.immutable, true);
  assert.equal(admin.metadata.ownerReferences[0].uid, q.metadata.uid);
  assert.deepEqual(Object.keys(admin.data).sort(), [
    'admin-public-key',
    'admin-seed',
    'sturdy-secret',
  ]);
  assert.throws(() => getJson('configmap', 'q-genesis'), /NotFound/);
  // Before any genesis nothing is committed: the first members follow the spec.
  kubectl('-n', ns, 'scale', 'qvat/q', '--replicas=5');
  await eventually('5 first members', 30_000, () =>
    getJson('statefulset', 'q').spec.replicas === 5 ? true : undefined,
  );
  assert.deepEqual(getJson('secret', 'q-admin-key').data, admin.data, 'the key is made once');
});

test('deleting a Vat: the garbage collector removes what it owned', async () => {
  kubectl('-n', ns, 'delete', 'vat', 'byref', '--wait=true');
  await eventually('byref objects gone', 120_000, () =>
    kubectl(
      '-n',
      ns,
      'get',
      'statefulset,service,secret,configmap,role,rolebinding,serviceaccount',
      '-l',
      'quorumvat.dev/vat=byref',
      '-o',
      'name',
    ).trim() === ''
      ? true
      : undefined,
  );
  // The shared DHT Service stays while other vats (bank, q) own it.
  assert.ok(getJson('service', 'quorumvat-dht'));
});

test('the leader stops (SIGTERM): it releases the lease and the other takes over and acts', async () => {
  a.child.kill('SIGTERM');
  await new Promise((r) => a.child.once('exit', r));
  assert.match(logOf(a), /"msg":"shutting down"/);
  await eventually('op-b to lead', 15_000, () =>
    logOf(b).includes('"msg":"leading"') ? true : undefined,
  );
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 'after' },
    spec: { contract: { source: 'x' } },
  });
  await eventually('op-b reconciles a new Vat', 60_000, () => getJson('statefulset', 'after'));
  // Killed outright (no release): a third process takes over only after the lease ran out.
  const c = startOperator('op-c');
  await eventually('op-c up', 30_000, () =>
    logOf(c).includes('waiting for the lease') ? true : undefined,
  );
  const t = Date.now();
  b.child.kill('SIGKILL');
  await eventually('op-c to lead', 30_000, () =>
    logOf(c).includes('"msg":"leading"') ? true : undefined,
  );
  assert.ok(Date.now() - t >= 4000, 'not before the lease could have expired');
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
});
