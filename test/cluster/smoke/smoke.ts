// Smoke test for the running test cluster (npm run test:cluster, or node --test this file after
// npm run cluster:up). Not named *.test.ts so that `npm test`, which has no cluster, skips it.
// Installs the chart in ./chart (a StatefulSet of the locally built Node image with a volume
// claim), reads its logs, deletes a pod and sees it come back with its volume's data, scales it
// with kubectl scale, and resolves one pod from another by Service name.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const toolsDir =
  process.env['QUORUMVAT_KUBE_TOOLS'] ?? '/var/cache/quorumvat/kubectl-layer/current';
const kubeconfig = process.env['KUBECONFIG'] ?? '/var/lib/quorumvat-cluster/admin.kubeconfig';
const nodeVersion = readFileSync(join(here, '../../../.node-version'), 'utf8').trim();
const image = `quorumvat.local/node:${nodeVersion}`; // built and imported by cluster:up
const ns = 'smoke';
const release = 'echo';

function run(tool: 'kubectl' | 'helm', args: string[], timeoutMs = 180_000): string {
  try {
    return execFileSync(join(toolsDir, tool), ['--kubeconfig', kubeconfig, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}
const kubectl = (...args: string[]): string => run('kubectl', args);

async function eventually<T>(what: string, timeoutMs: number, fn: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

// The steps build on each other: after the first failure the rest are skipped, not timed out.
let broken = false;
function step(name: string, fn: () => void | Promise<void>): void {
  test(name, { timeout: 240_000 }, async (t) => {
    if (broken) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn();
    } catch (err) {
      broken = true;
      throw err;
    }
  });
}

const podUid = (pod: string): string =>
  kubectl('-n', ns, 'get', 'pod', pod, '-o', 'jsonpath={.metadata.uid}');

function ready(pod: string): boolean {
  const status = kubectl(
    '-n',
    ns,
    'get',
    'pod',
    pod,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  );
  return status === 'True';
}

/** Runs a Node snippet in a pod and returns its output. */
const nodeIn = (pod: string, code: string): string =>
  kubectl('-n', ns, 'exec', pod, '--', 'node', '-e', code).trim();

before(() => {
  assert.ok(existsSync(kubeconfig), `no kubeconfig at ${kubeconfig}: run npm run cluster:up`);
  kubectl('get', '--raw', '/readyz');
  // A leftover from an interrupted run would make helm install fail.
  run('helm', ['uninstall', release, '-n', ns, '--ignore-not-found', '--wait']);
  kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true');
});

after(() => {
  if (process.env['SMOKE_KEEP']) return;
  run('helm', ['uninstall', release, '-n', ns, '--ignore-not-found', '--wait']);
  kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true');
});

step('helm installs the chart and the StatefulSet pod runs the local Node image', () => {
  run('helm', [
    'install',
    release,
    join(here, 'chart'),
    '-n',
    ns,
    '--create-namespace',
    '--set',
    `image=${image}`,
    '--wait',
    '--timeout',
    '150s',
  ]);
  const pvc = kubectl(
    '-n',
    ns,
    'get',
    'pvc',
    `data-${release}-0`,
    '-o',
    'jsonpath={.status.phase}',
  );
  assert.equal(pvc, 'Bound');
  assert.ok(ready(`${release}-0`));
});

step('kubectl logs shows the first boot', async () => {
  const logs = await eventually('boot 1 in the logs', 30_000, () => {
    const out = kubectl('-n', ns, 'logs', `${release}-0`);
    return out.includes('boot 1 ') ? out : undefined;
  });
  assert.match(logs, new RegExp(`boot 1 on ${release}-0`));
});

step('a deleted pod comes back with its volume data', async () => {
  const uid = podUid(`${release}-0`);
  kubectl('-n', ns, 'delete', 'pod', `${release}-0`, '--wait=true');
  await eventually('the pod to come back ready', 120_000, () =>
    podUid(`${release}-0`) !== uid && ready(`${release}-0`) ? true : undefined,
  );
  const logs = kubectl('-n', ns, 'logs', `${release}-0`);
  assert.match(logs, new RegExp(`boot 2 on ${release}-0`));
});

step('kubectl scale adds a replica with its own bound volume', async () => {
  kubectl('-n', ns, 'scale', `statefulset/${release}`, '--replicas=2');
  kubectl('-n', ns, 'rollout', 'status', `statefulset/${release}`, '--timeout=120s');
  await eventually(`${release}-1 ready`, 60_000, () => (ready(`${release}-1`) ? true : undefined));
  const pvc = kubectl(
    '-n',
    ns,
    'get',
    'pvc',
    `data-${release}-1`,
    '-o',
    'jsonpath={.status.phase}',
  );
  assert.equal(pvc, 'Bound');
  assert.match(kubectl('-n', ns, 'logs', `${release}-1`), new RegExp(`boot 1 on ${release}-1`));
});

step('one pod resolves and reaches another by Service name', async () => {
  // Headless Service: the pod's own DNS name, answered by CoreDNS.
  const viaPodName = await eventually('echo-0.echo to answer', 30_000, () =>
    nodeIn(
      `${release}-1`,
      `require('node:http').get('http://${release}-0.${release}:8080/', (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(b)); });`,
    ),
  );
  assert.match(viaPodName, new RegExp(`^${release}-0 boot 2`));
  // ClusterIP Service: resolved by name, then DNAT'ed by kube-proxy to a pod.
  const address = nodeIn(
    `${release}-1`,
    `require('node:dns').lookup('${release}-svc.${ns}.svc.cluster.local', (e, a) => { if (e) throw e; console.log(a); });`,
  );
  const clusterIP = kubectl(
    '-n',
    ns,
    'get',
    'svc',
    `${release}-svc`,
    '-o',
    'jsonpath={.spec.clusterIP}',
  );
  assert.equal(address, clusterIP);
  const viaService = nodeIn(
    `${release}-1`,
    `require('node:http').get('http://${release}-svc/', (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(b)); });`,
  );
  assert.match(viaService, new RegExp(`^${release}-[01] boot`));
});

step('names outside the cluster do not resolve (no upstream DNS)', () => {
  const out = nodeIn(
    `${release}-1`,
    `require('node:dns').lookup('registry.npmjs.org', (e) => console.log(e ? e.code : 'resolved'));`,
  );
  assert.notEqual(out, 'resolved');
});
