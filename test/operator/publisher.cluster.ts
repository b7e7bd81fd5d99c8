// The sturdyref publisher (operator/src/agent/publish-sturdyref.mjs) against the real API
// server, with exactly the Role the operator gives a vat pod (publisherRole): it copies
// root.sturdyref into the vat's Secret, follows a changed file, and that ServiceAccount can
// touch no other Secret (least privilege, checked by the API server itself).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import {
  publisherRole,
  publisherRoleBinding,
  serviceAccount,
  sturdyrefSecret,
} from '../../operator/src/controllers/common/workload.ts';
import {
  apply,
  clusterReachable,
  eventually,
  kubeconfig,
  kubectl,
  refusal,
  repoRoot,
  uniqueNamespace,
} from './kube.ts';

let ns = '';
let agent: ChildProcess | undefined;
const owner = () => ({ kind: 'Vat' as const, name: 'pub', namespace: ns, uid: 'not-a-real-owner' });
const strip = <T extends { metadata?: { ownerReferences?: unknown } }>(o: T): T => {
  // No real Vat owns these here: without the owner reference the GC leaves them alone.
  delete o.metadata!.ownerReferences;
  return o;
};

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  ns = uniqueNamespace('publisher');
});
after(() => {
  agent?.kill('SIGTERM');
  if (ns) kubectl('delete', 'namespace', ns, '--wait=false');
});

test('the publisher copies root.sturdyref into its Secret with only its own rights', async () => {
  for (const obj of [
    serviceAccount(owner()),
    sturdyrefSecret(owner()),
    publisherRole(owner()),
    publisherRoleBinding(owner()),
  ]) {
    apply(ns, strip(obj));
  }
  apply(ns, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'someone-elses' },
    stringData: { k: 'v' },
  });
  const token = kubectl('-n', ns, 'create', 'token', 'pub-vat', '--duration=1h').trim();
  // The pod's view: a ServiceAccount directory and a data directory.
  const saDir = mkdtempSync(join(tmpdir(), 'qv-sa-'));
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  writeFileSync(join(saDir, 'token'), token);
  writeFileSync(join(saDir, 'namespace'), ns);
  writeFileSync(join(saDir, 'ca.crt'), cluster.caData ? Buffer.from(cluster.caData, 'base64') : '');
  const server = new URL(cluster.server);
  const dataDir = mkdtempSync(join(tmpdir(), 'qv-data-'));
  const output: string[] = [];
  agent = spawn(process.execPath, [join(repoRoot, 'operator/src/agent/publish-sturdyref.mjs')], {
    env: {
      ...process.env,
      SERVICEACCOUNT_DIR: saDir,
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port || '443',
      STURDYREF_FILE: join(dataDir, 'root.sturdyref'),
      STURDYREF_SECRET: 'pub-sturdyref',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  agent.stdout!.on('data', (d) => output.push(String(d)));
  const secretValue = () => {
    const data = JSON.parse(kubectl('-n', ns, 'get', 'secret', 'pub-sturdyref', '-o', 'json')).data;
    return data?.sturdyref ? Buffer.from(data.sturdyref, 'base64').toString() : undefined;
  };
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(secretValue(), undefined, 'nothing to publish before the node wrote the file');
  writeFileSync(join(dataDir, 'root.sturdyref'), 'quorumvat://12D3KooWfirst/s/abc\n');
  assert.equal(
    await eventually('the sturdyref in the Secret', 20_000, secretValue),
    'quorumvat://12D3KooWfirst/s/abc',
  );
  assert.match(output.join(''), /"msg":"sturdyref published"/);
  assert.ok(!output.join('').includes('abc'), 'the sturdyref itself is never logged');

  // Least privilege, as the API server judges it.
  const as = ['--as', `system:serviceaccount:${ns}:pub-vat`];
  assert.equal(
    kubectl('-n', ns, 'auth', 'can-i', 'patch', 'secret/pub-sturdyref', ...as).trim(),
    'yes',
  );
  for (const [verb, what] of [
    ['get', 'secret/someone-elses'],
    ['list', 'secrets'],
    ['patch', 'secret/someone-elses'],
    ['create', 'secrets'],
    ['get', 'pods'],
    ['delete', 'secret/pub-sturdyref'],
  ]) {
    assert.match(
      refusal(() => kubectl('-n', ns, 'auth', 'can-i', verb!, what!, ...as)),
      /no/,
      `${verb} ${what}`,
    );
  }
});
