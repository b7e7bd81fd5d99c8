// End to end on the real test cluster, as a user does it (npm run test:e2e): helm install the
// chart → operator Ready, CRDs established; kubectl apply -f examples/vat.yaml → the pod runs,
// the Vat is Ready with its VatID and its sturdyref Secret; a Job in the cluster redeems the
// sturdyref and calls the vat; kubectl delete pod → it comes back from its volume with the same
// VatID and state; kubectl logs -l quorumvat.dev/vat=NAME shows the node's JSON lines; a broken
// or missing contract is reported in a condition with a clear message; deleting the Vat keeps
// its volume (retention Keep); helm upgrade to a new image tag rolls the vat pod and loses no
// message; helm uninstall keeps the CRDs and leaves no Lease behind.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  apply,
  clusterReachable,
  crdsInstalled,
  eventually,
  helm,
  kubectl,
  repoRoot,
  sendJob,
} from '../operator/kube.ts';
import {
  image,
  installRelease,
  release,
  system,
  uninstallRelease,
  upgradeToNewTag,
} from './release.ts';

const ns = `e2e-vat-${Date.now().toString(36)}`;

// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const getJson = (...args: string[]): any => JSON.parse(kubectl(...args, '-o', 'json'));
const vat = (name: string) => getJson('-n', ns, 'get', 'vat', name);
const condition = (obj: { status?: { conditions?: { type: string }[] } }, type: string) =>
  // biome-ignore lint/suspicious/noExplicitAny: condition fields
  obj.status?.conditions?.find((c) => c.type === type) as any;

// The steps build on each other: after the first failure the rest are skipped, not timed out.
let broken = false;
function step(name: string, fn: () => void | Promise<void>): void {
  test(name, { timeout: 300_000 }, async (t) => {
    if (broken) {
      t.skip('an earlier step failed');
      return;
    }
    const started = Date.now();
    try {
      await fn();
    } catch (err) {
      broken = true;
      throw err;
    }
    t.diagnostic(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}

// helm uninstall keeps the CRDs (on purpose); this test removes them if it brought them.
let crdsBefore = false;

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  const images = kubectl('get', 'nodes', '-o', 'jsonpath={.items[*].status.images[*].names}');
  assert.ok(
    images.includes(image),
    `image ${image} is not in the cluster's containerd: test/container/build-image.sh --into-cluster`,
  );
  crdsBefore = crdsInstalled();
});

after(() => uninstallRelease(ns, crdsBefore));

step('helm install: the operator becomes Ready and the CRDs are established', async () => {
  installRelease();
  for (const crd of ['vats.quorumvat.dev', 'quorumvats.quorumvat.dev']) {
    const c = getJson('get', 'crd', crd);
    assert.equal(condition(c, 'Established')?.status, 'True', crd);
  }
  const dep = getJson('-n', system, 'get', 'deployment', release);
  assert.equal(dep.status.readyReplicas, 1);
  // Ready means up (a standby replica is healthy too); it leads once the lease is free (a
  // previous release's leader that vanished without releasing it holds it up to 15 s).
  await eventually('the operator to lead', 60_000, () =>
    /"msg":"leading"/.test(kubectl('-n', system, 'logs', `deployment/${release}`))
      ? true
      : undefined,
  );
});

step(
  'kubectl apply -f examples/vat.yaml: the pod runs, the Vat is Ready with its VatID and Secret',
  async () => {
    kubectl('create', 'namespace', ns);
    kubectl('-n', ns, 'apply', '-f', join(repoRoot, 'examples/vat.yaml'));
    const v = await eventually('Vat counter Ready', 240_000, () => {
      const x = vat('counter');
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    });
    assert.match(v.status.vatId, /^12D3KooW/);
    assert.ok(v.status.addresses.length > 0);
    assert.deepEqual(v.status.sturdyrefSecret, { name: 'counter-sturdyref', key: 'sturdyref' });
    assert.equal(v.status.observedGeneration, v.metadata.generation);
    assert.match(v.status.contractHash, /^[0-9a-f]{64}$/);
    const secret = getJson('-n', ns, 'get', 'secret', 'counter-sturdyref');
    assert.ok(Buffer.from(secret.data.sturdyref, 'base64').toString().length > 20);
    assert.ok(
      !JSON.stringify(v.status).includes(Buffer.from(secret.data.sturdyref, 'base64').toString()),
      'no secret in status',
    );
    const pvc = getJson('-n', ns, 'get', 'pvc', 'data-counter-0');
    assert.equal(pvc.status.phase, 'Bound');
    // kubectl get vat shows READY and VATID.
    assert.match(
      kubectl('-n', ns, 'get', 'vat', 'counter'),
      new RegExp(`counter\\s+True\\s+${v.status.vatId}`),
    );
  },
);

/** Starts `quorumvat send` in a Job with the vat's sturdyref from its Secret. */
function startSendJob(name: string, method: string, args: string[], timeout = '30s'): void {
  apply(ns, sendJob(name, image, 'counter-sturdyref', timeout, method, args));
}

/** Waits for a send Job; returns its result (the last line: one JSON value). */
async function sendResult(name: string): Promise<string> {
  await eventually(`Job ${name} to finish`, 240_000, () => {
    const j = getJson('-n', ns, 'get', 'job', name);
    if (j.status.failed)
      throw new Error(`Job ${name} failed: ${kubectl('-n', ns, 'logs', `job/${name}`)}`);
    return j.status.succeeded ? true : undefined;
  });
  const lines = kubectl('-n', ns, 'logs', `job/${name}`).trim().split('\n');
  return lines.at(-1)!;
}

/** Runs `quorumvat send` in a Job and returns its result. */
async function sendFromJob(name: string, method: string, ...args: string[]): Promise<string> {
  startSendJob(name, method, args);
  return sendResult(name);
}

step('a client Job in the cluster redeems the sturdyref and calls the vat', async () => {
  assert.equal(await sendFromJob('send-1', 'incr', '5'), '5');
  assert.equal(await sendFromJob('send-2', 'incr', '2'), '7');
});

step('kubectl delete pod: the vat comes back from its volume, same VatID, same state', async () => {
  const before = vat('counter');
  const uid = getJson('-n', ns, 'get', 'pod', 'counter-0').metadata.uid;
  kubectl('-n', ns, 'delete', 'pod', 'counter-0', '--wait=true');
  await eventually('a new pod counter-0, and the Vat Ready again', 240_000, () => {
    const pod = getJson('-n', ns, 'get', 'pod', 'counter-0');
    const v = vat('counter');
    return pod.metadata.uid !== uid && condition(v, 'Ready')?.status === 'True' && pod.status.podIP
      ? v
      : undefined;
  });
  assert.equal(vat('counter').status.vatId, before.status.vatId, 'the key stayed on the volume');
  assert.equal(await sendFromJob('send-3', 'read'), '7', 'the count survived on the volume');
});

step('kubectl logs -l quorumvat.dev/vat=counter --prefix shows the node as JSON lines', () => {
  const out = kubectl('-n', ns, 'logs', '-l', 'quorumvat.dev/vat=counter', '--prefix', '--tail=50');
  const lines = out.split('\n').filter(Boolean);
  assert.ok(lines.length > 0);
  for (const line of lines) {
    const m = /^\[pod\/counter-0\/vat\] (\{.*\})$/.exec(line);
    assert.ok(m, `not a prefixed JSON line: ${line}`);
    const rec = JSON.parse(m[1]!);
    assert.ok(rec.level !== undefined && rec.msg !== undefined, line);
  }
});

step(
  '(8) helm upgrade to a new image tag rolls the vat pods one at a time, and no message is lost',
  async () => {
    const before = vat('counter');
    const count = Number(await sendFromJob('roll-0', 'read'));
    const oldUid = getJson('-n', ns, 'get', 'pod', 'counter-0').metadata.uid;
    const newTag = upgradeToNewTag('e2e-upgrade', { wait: true });

    // The new operator rolls the vat's StatefulSet to the new image: one pod at a time
    // (RollingUpdate, no maxUnavailable: the next pod only once the previous one is Ready).
    const sts = await eventually('StatefulSet counter on the new image', 120_000, () => {
      const x = getJson('-n', ns, 'get', 'statefulset', 'counter');
      return x.spec.template.spec.containers[0].image === newTag ? x : undefined;
    });
    assert.equal(sts.spec.updateStrategy.type, 'RollingUpdate');
    assert.equal(sts.spec.updateStrategy.rollingUpdate?.maxUnavailable, undefined);
    // A message sent while the pod is being replaced: delivered once the new pod serves.
    startSendJob('roll-1', 'incr', ['1'], '180s');
    await eventually('the vat pod replaced on the new image and the Vat Ready', 240_000, () => {
      const pods = getJson('-n', ns, 'get', 'pods', '-l', 'quorumvat.dev/kind=Vat').items;
      const pod = pods.find((p: { metadata: { name: string } }) => p.metadata.name === 'counter-0');
      return pod &&
        pod.metadata.uid !== oldUid &&
        pod.spec.containers[0].image === newTag &&
        condition(vat('counter'), 'Ready')?.status === 'True'
        ? true
        : undefined;
    });
    assert.equal(await sendResult('roll-1'), String(count + 1), 'the message sent during the roll');
    // It was sent during the roll: its Job started before the new pod was Ready.
    const jobStart = Date.parse(getJson('-n', ns, 'get', 'job', 'roll-1').status.startTime);
    const readySince = Date.parse(
      getJson('-n', ns, 'get', 'pod', 'counter-0').status.conditions.find(
        (c: { type: string }) => c.type === 'Ready',
      ).lastTransitionTime,
    );
    assert.ok(jobStart <= readySince, 'the client Job started while the vat pod was replaced');
    assert.equal(await sendFromJob('roll-2', 'incr', '1'), String(count + 2));
    assert.equal(await sendFromJob('roll-3', 'read'), String(count + 2), 'nothing lost or doubled');
    assert.equal(vat('counter').status.vatId, before.status.vatId, 'same key, same vat');
    const pod = getJson('-n', ns, 'get', 'pod', 'counter-0');
    assert.equal(pod.status.containerStatuses[0].restartCount, 0, 'replaced once, not crashing');
  },
);

step(
  'a contract that does not load is reported in the Vat conditions, with the node’s words',
  async () => {
    apply(ns, {
      apiVersion: 'quorumvat.dev/v1alpha1',
      kind: 'Vat',
      metadata: { name: 'broken' },
      spec: {
        contract: { source: 'export function buildRootObject( {' },
        storage: { size: '64Mi' },
      },
    });
    const v = await eventually('Vat broken Degraded', 240_000, () => {
      const x = vat('broken');
      return condition(x, 'Degraded')?.status === 'True' ? x : undefined;
    });
    const degraded = condition(v, 'Degraded');
    assert.equal(degraded.reason, 'NodeFailing');
    assert.match(degraded.message, /vat node exited with code \d+: .+/);
    assert.equal(condition(v, 'Ready').status, 'False');
    const events = kubectl(
      '-n',
      ns,
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=broken,reason=NodeFailing',
    );
    assert.match(events, /NodeFailing/);
  },
);

step('a ConfigMap contract that is missing is reported as ContractNotFound', async () => {
  apply(ns, {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: 'Vat',
    metadata: { name: 'orphan' },
    spec: { contract: { configMapRef: { name: 'no-such-map' } } },
  });
  const v = await eventually('Vat orphan Degraded', 60_000, () => {
    const x = vat('orphan');
    return condition(x, 'Degraded')?.status === 'True' ? x : undefined;
  });
  assert.equal(condition(v, 'Ready').reason, 'ContractNotFound');
  assert.match(
    condition(v, 'Ready').message,
    /ConfigMap no-such-map \(the contract\) does not exist in namespace/,
  );
});

step(
  'deleting the Vat removes its pod, Service and Secret but keeps the volume (retention Keep)',
  async () => {
    kubectl('-n', ns, 'delete', 'vat', 'counter', '--wait=true');
    await eventually('the StatefulSet, Service and Secret gone', 120_000, () => {
      const left = kubectl(
        '-n',
        ns,
        'get',
        'statefulset,service,secret',
        '-l',
        'quorumvat.dev/vat=counter',
        '-o',
        'name',
      );
      return left.trim() === '' ? true : undefined;
    });
    const pvc = getJson('-n', ns, 'get', 'pvc', 'data-counter-0');
    assert.equal(pvc.status.phase, 'Bound', 'the data volume stays');
  },
);

step('helm uninstall removes the operator and its Lease, and keeps the CRDs', async () => {
  assert.ok(kubectl('-n', system, 'get', 'lease', `${release}-leader`, '-o', 'name').trim());
  helm('uninstall', release, '-n', system, '--wait');
  assert.equal(kubectl('-n', system, 'get', 'deployment', '-o', 'name').trim(), '');
  kubectl('get', 'crd', 'vats.quorumvat.dev', 'quorumvats.quorumvat.dev');
  // The Lease is owned by the leader's pod: it goes with it, though helm removed the operator's
  // right to release it (its Role) before the pod got SIGTERM.
  await eventually('the operator Lease gone', 60_000, () =>
    kubectl('-n', system, 'get', 'lease', '-o', 'name').trim() === '' ? true : undefined,
  );
});
