// End to end on the real test cluster: a QuorumVat as a user makes it (npm run test:e2e).
// helm install → kubectl apply -f examples/quorumvat.yaml → each member pod makes its own key and
// reports only its VatID; the operator makes the genesis (its administrator key kept in a Secret,
// only the public key in the genesis), stores it in an immutable ConfigMap, fills the
// sturdyref Secret, and the members start from it with --quorum-genesis and report ready with
// their quorum fields; a client Job calls it; a member pod deleted comes back; helm upgrade to a
// new image tag rolls the members one at a time (each Ready = voting and caught up, the
// operator's readiness gate) while calls flow; --replicas=1 refused; kubectl scale 3 → 5 → 3
// while calls flow, the operator killed mid-way; a member that lost its volume replaced.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import { quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import {
  apply,
  clusterReachable,
  eventually,
  kubectl,
  refusal,
  repoRoot,
  sendJob,
  sendLoopJob,
  sendLoopResults,
  stopSendLoop,
} from '../operator/kube.ts';
import { image, installRelease, system, uninstallRelease, upgradeToNewTag } from './release.ts';

const ns = `e2e-qvat-${Date.now().toString(36)}`;
// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const getJson = (...args: string[]): any =>
  JSON.parse(kubectl('-n', ns, 'get', ...args, '-o', 'json'));
// biome-ignore lint/suspicious/noExplicitAny: conditions
const cond = (o: any, type: string) => o.status?.conditions?.find((c: any) => c.type === type);
let crdsBefore = false;

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  crdsBefore = installRelease();
  kubectl('create', 'namespace', ns);
});

after(() => uninstallRelease(ns, crdsBefore));

test('kubectl apply -f examples/quorumvat.yaml: members report VatIDs, the operator makes the genesis', {
  timeout: 300_000,
}, async () => {
  kubectl('-n', ns, 'apply', '-f', join(repoRoot, 'examples/quorumvat.yaml'));
  const q = await eventually('the genesis made', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    return x.status?.vatId ? x : undefined;
  });
  const cm = getJson('configmap', 'escrow-genesis');
  assert.equal(cm.immutable, true, 'a genesis never changes: the quorum VatID is its hash');
  assert.equal(cm.metadata.ownerReferences[0].uid, q.metadata.uid);
  const genesis = JSON.parse(cm.data['genesis.json']);
  assert.equal(quorumVatIdOf(genesis), q.status.vatId);
  assert.equal(cm.data.quorum, q.status.vatId);
  // The contract is pinned beside the genesis: the members run that one from now on, and the
  // genesis names it (sha256) with the gas limit, so a member node with others would not start.
  assert.equal(cm.data['contract.js'], getJson('configmap', 'escrow-contract').data['contract.js']);
  assert.deepEqual(genesis.vat, {
    contractSha256: createHash('sha256').update(cm.data['contract.js']).digest('hex'),
    gasLimit: q.spec.gasLimit,
  });
  assert.equal(genesis.threshold, 2);
  assert.equal(q.status.epoch, 0);
  assert.equal(q.status.threshold, 2);
  assert.deepEqual(q.status.tolerates, { crashed: 1, byzantine: 0 });
  assert.equal(q.status.genesisConfigMap, 'escrow-genesis');
  // The members are the VatIDs the pods reported (from their own volumes).
  const reported = [0, 1, 2].map((i) => {
    const pod = getJson('pod', `escrow-${i}`);
    const s = pod.status.initContainerStatuses.find(
      (c: { name: string }) => c.name === 'member-identity',
    );
    return JSON.parse(s.state.terminated.message).vatId as string;
  });
  assert.deepEqual([...reported].sort(), genesis.members);
  assert.deepEqual(
    q.status.members.map((m: { pod: string; vatId: string; state: string }) => [
      m.pod,
      m.vatId,
      m.state,
    ]),
    reported.map((v, i) => [`escrow-${i}`, v, 'voting']),
  );
  // The administrator key: in a Secret only the operator reads; its public key in the genesis.
  const admin = getJson('secret', 'escrow-admin-key');
  assert.equal(Buffer.from(admin.data['admin-public-key'], 'base64').toString(), genesis.admin);
  const seed = Buffer.from(admin.data['admin-seed'], 'base64');
  const everything = kubectl('-n', ns, 'get', 'pods,configmaps,statefulsets', '-o', 'json');
  for (const enc of ['hex', 'base64', 'base64url'] as const) {
    assert.ok(!everything.includes(seed.toString(enc)), 'the admin key is in no pod or ConfigMap');
  }
  const roles = kubectl('-n', ns, 'get', 'role', 'escrow-member', '-o', 'json');
  assert.doesNotMatch(roles, /secrets/, 'member pods may not read Secrets');
  // The bootstrap sturdyref: the quorum VatID, redeemable with a key the genesis lists.
  const secret = getJson('secret', 'escrow-sturdyref');
  const ref = parseSturdyRef(Buffer.from(secret.data.sturdyref, 'base64').toString());
  assert.equal(ref.vatId, q.status.vatId);
  assert.equal(ref.hints.length, 3);
  assert.deepEqual(q.status.sturdyrefSecret, { name: 'escrow-sturdyref', key: 'sturdyref' });
  // Every member pod got the genesis and starts its node from it.
  await eventually('every member past await-genesis', 120_000, () =>
    [0, 1, 2].every((i) =>
      getJson('pod', `escrow-${i}`).status.initContainerStatuses?.every(
        (c: { state: { terminated?: { exitCode: number } } }) => c.state.terminated?.exitCode === 0,
      ),
    )
      ? true
      : undefined,
  );
  const sts = getJson('statefulset', 'escrow');
  assert.deepEqual(sts.spec.template.spec.containers[0].args, [
    'node',
    '--quorum-genesis',
    '/quorum/genesis.json',
    '--quorum-chain',
    '/quorum/chain.json',
  ]);
  // The genesis is made once: a later reconcile leaves it (and the VatID) as it is.
  kubectl('-n', ns, 'annotate', 'qvat', 'escrow', 'poke=1');
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(getJson('qvat', 'escrow').status.vatId, q.status.vatId);
  assert.equal(
    getJson('configmap', 'escrow-genesis').metadata.resourceVersion,
    cm.metadata.resourceVersion,
  );
});

test('the members run the quorum: Ready (QuorumReady) with k members reporting ready', {
  timeout: 300_000,
}, async () => {
  const q = await eventually('escrow Ready', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    return cond(x, 'Ready')?.status === 'True' ? x : undefined;
  });
  assert.equal(cond(q, 'Ready').reason, 'QuorumReady');
  assert.ok(q.status.members.filter((m: { ready: boolean }) => m.ready).length >= 2);
});

/** `quorumvat send` in a Job with the quorum vat's sturdyref from its Secret; its result. */
async function sendFromJob(name: string, method: string, ...args: string[]): Promise<string> {
  apply(ns, sendJob(name, image, 'escrow-sturdyref', '120s', method, args));
  await eventually(`Job ${name} to finish`, 240_000, () => {
    const j = getJson('job', name);
    if (j.status.failed)
      throw new Error(`Job ${name} failed: ${kubectl('-n', ns, 'logs', `job/${name}`)}`);
    return j.status.succeeded ? true : undefined;
  });
  return kubectl('-n', ns, 'logs', `job/${name}`).trim().split('\n').at(-1)!;
}

test("a client Job redeems the quorum vat's sturdyref and calls it through its members", {
  timeout: 600_000,
}, async () => {
  assert.equal(await sendFromJob('append-1', 'append', '"hello"'), '1');
  assert.equal(await sendFromJob('append-2', 'append', '"world"'), '2');
  assert.equal(await sendFromJob('read-1', 'read'), '["hello","world"]');
});

test('the contract ConfigMap edited under the running quorum: Degraded (ContractChanged), no roll, the members serve with the pinned code; restored, it clears', {
  timeout: 600_000,
}, async () => {
  const template = JSON.stringify(getJson('statefulset', 'escrow').spec.template);
  const original = getJson('configmap', 'escrow-contract').data['contract.js'];
  const setContract = (source: string) =>
    kubectl(
      '-n',
      ns,
      'patch',
      'configmap',
      'escrow-contract',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { 'contract.js': source } }),
    );
  setContract(`${original}\n// v2: another contract\n`);
  const q = await eventually('Degraded (ContractChanged)', 240_000, () => {
    const x = getJson('qvat', 'escrow');
    return cond(x, 'Degraded')?.reason === 'ContractChanged' ? x : undefined;
  });
  assert.equal(cond(q, 'Degraded').status, 'True');
  assert.match(
    cond(q, 'Degraded').message,
    /^the spec's contract \(sha256 [0-9a-f]{64}\) is not the one in force; the members keep running the contract the quorum vat was created with/,
  );
  assert.equal(cond(q, 'Ready').status, 'True', 'the quorum serves on');
  assert.equal(
    JSON.stringify(getJson('statefulset', 'escrow').spec.template),
    template,
    'no member rolled to the new code',
  );
  assert.equal(await sendFromJob('read-pinned', 'read'), '["hello","world"]');
  setContract(original);
  await eventually('Degraded cleared', 240_000, () =>
    cond(getJson('qvat', 'escrow'), 'Degraded')?.status === 'False' ? true : undefined,
  );
});

test('kubectl delete pod of a member: the quorum keeps serving; the member comes back from its volume', {
  timeout: 600_000,
}, async () => {
  const before = getJson('qvat', 'escrow');
  const member = before.status.members.find((m: { pod: string }) => m.pod === 'escrow-2');
  kubectl('-n', ns, 'delete', 'pod', 'escrow-2', '--wait=false');
  // k = 2 of 3 remain: the quorum still answers while the member is away.
  assert.equal(await sendFromJob('append-3', 'append', '"while one is away"'), '3');
  const back = await eventually('escrow-2 back and ready', 300_000, () => {
    const x = getJson('qvat', 'escrow');
    const m = x.status.members.find((y: { pod: string }) => y.pod === 'escrow-2');
    return m?.ready ? m : undefined;
  });
  assert.equal(back.vatId, member.vatId, 'the same key, from its volume');
  assert.equal(getJson('qvat', 'escrow').status.vatId, before.status.vatId);
  assert.equal(
    await sendFromJob('read-2', 'read'),
    '["hello","world","while one is away"]',
    'nothing lost, order kept',
  );
});

/** The member pods of escrow, by name. */
// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const memberPods = (): any[] =>
  getJson('pods', '-l', 'quorumvat.dev/vat=escrow').items.filter(
    (p: { metadata: { deletionTimestamp?: string } }) => !p.metadata.deletionTimestamp,
  );
// biome-ignore lint/suspicious/noExplicitAny: a pod from kubectl
const podCondition = (p: any, type: string) =>
  p.status?.conditions?.find((c: { type: string }) => c.type === type);

test('helm upgrade to a new image tag rolls the members one at a time, each caught up before the next, with calls flowing', {
  timeout: 900_000,
}, async () => {
  const before = getJson('qvat', 'escrow');
  const k = before.status.threshold as number;
  const oldUids = new Map(memberPods().map((p) => [p.metadata.name, p.metadata.uid]));
  assert.equal(oldUids.size, 3);
  assert.equal(getJson('pdb', 'escrow').spec.minAvailable, k, 'evictions keep k voters');
  const readBefore = JSON.parse(await sendFromJob('roll-read-0', 'read')) as string[];
  // Calls flow during the whole roll: one client after another, nothing retried.
  apply(ns, sendLoopJob('roll-calls', image, 'escrow-sturdyref', 'append', 'roll-'));
  await eventually('the calls flowing', 240_000, () => {
    try {
      return sendLoopResults(ns, 'roll-calls').length >= 2 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  const newTag = upgradeToNewTag('e2e-upgrade', { wait: false });
  // Watch the roll: at every look at least k members are Ready (voting and caught up: the
  // readiness gate), and never two are down at once.
  const looks: { at: number; ready: number; down: string[] }[] = [];
  await eventually('all members replaced on the new image and Ready', 600_000, () => {
    const pods = memberPods();
    const ready = pods.filter((p) => podCondition(p, 'Ready')?.status === 'True');
    looks.push({
      at: Date.now(),
      ready: ready.length,
      down: [...oldUids.keys()].filter((n) => !ready.some((p) => p.metadata.name === n)),
    });
    const sts = getJson('statefulset', 'escrow');
    return sts.status.updateRevision === sts.status.currentRevision &&
      sts.status.updatedReplicas === 3 &&
      ready.length === 3 &&
      ready.every(
        (p) =>
          p.spec.containers[0].image === newTag && oldUids.get(p.metadata.name) !== p.metadata.uid,
      )
      ? true
      : undefined;
  });
  stopSendLoop(ns, 'roll-calls');
  await eventually('the calls finished', 240_000, () => {
    const j = getJson('job', 'roll-calls');
    if (j.status.failed)
      throw new Error(
        `a call failed during the roll: ${kubectl('-n', ns, 'logs', 'job/roll-calls')}`,
      );
    return j.status.succeeded ? true : undefined;
  });
  const calls = sendLoopResults(ns, 'roll-calls');
  const worst = Math.min(...looks.map((l) => l.ready));
  assert.ok(worst >= k, `at least k = ${k} members Ready at every look (worst ${worst})`);
  assert.ok(
    looks.every((l) => l.down.length <= 1),
    `one member at a time: ${JSON.stringify(looks.filter((l) => l.down.length > 1))}`,
  );
  const outage = looks.filter((l) => l.down.length === 1);
  assert.ok(
    calls.some((c) => outage.some((l) => c.start <= l.at && l.at <= c.end)),
    'some call was answered while a member was being replaced',
  );
  // Answered in order, one more entry each: nothing lost, nothing doubled.
  for (const [i, c] of calls.entries()) {
    assert.equal(Number(c.result), readBefore.length + i + 1, `call ${c.n}: ${c.result}`);
  }
  const log = JSON.parse(await sendFromJob('roll-read-1', 'read')) as string[];
  assert.deepEqual(log, [...readBefore, ...calls.map((c) => `roll-${c.n}`)], 'order kept');
  // The roll went 2, 1, 0, and each member was replaced only once the one before it was Ready
  // again: voting and caught up (the gate the operator sets), not merely started.
  const pods = new Map(memberPods().map((p) => [p.metadata.name, p]));
  for (const [next, prev] of [
    ['escrow-1', 'escrow-2'],
    ['escrow-0', 'escrow-1'],
  ] as const) {
    const created = Date.parse(pods.get(next).metadata.creationTimestamp);
    const readySince = Date.parse(podCondition(pods.get(prev), 'Ready').lastTransitionTime);
    assert.ok(created >= readySince, `${next} replaced only after ${prev} was Ready again`);
  }
  for (const p of pods.values()) {
    const gate = podCondition(p, 'quorumvat.dev/caught-up');
    assert.equal(gate?.status, 'True', `${p.metadata.name}: ${JSON.stringify(gate)}`);
    assert.equal(gate.reason, 'CaughtUp');
  }
  const after = getJson('qvat', 'escrow');
  assert.equal(after.status.vatId, before.status.vatId, 'same quorum VatID');
  assert.equal(after.status.epoch, before.status.epoch, 'no membership change');
  assert.deepEqual(
    after.status.members.map((m: { vatId: string }) => m.vatId),
    before.status.members.map((m: { vatId: string }) => m.vatId),
    'each member came back with its own key, from its volume',
  );
  assert.equal(cond(after, 'Ready').status, 'True');
});

test('kubectl scale qvat/escrow --replicas=1 is refused by the API server, with the reason', () => {
  const why = refusal(() => kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=1'));
  assert.match(why, /at least 3 replicas/);
  assert.equal(getJson('qvat', 'escrow').spec.replicas, 3);
});

/** What the status says of escrow's members: [pod, VatID, state] in pod order. */
const membersOf = (q: { status: { members: { pod: string; vatId: string; state: string }[] } }) =>
  q.status.members.map((m) => [m.pod, m.vatId, m.state]);

/** The VatID pod escrow-i reported (its identity init container's termination message). */
const reportedBy = (pod: string): string => {
  const s = getJson('pod', pod).status.initContainerStatuses.find(
    (c: { name: string }) => c.name === 'member-identity',
  );
  return JSON.parse(s.state.terminated.message).vatId;
};

test('kubectl scale qvat/escrow --replicas=5 (operator killed mid-way) and back to 3 while calls flow: one member at a time, nothing lost, same VatID', {
  timeout: 1_500_000,
}, async () => {
  const before = getJson('qvat', 'escrow');
  const vatId = before.status.vatId;
  const epoch0 = before.status.epoch as number;
  const first = membersOf(before);
  assert.equal(first.length, 3);
  const readBefore = JSON.parse(await sendFromJob('scale-read-0', 'read')) as string[];
  apply(ns, sendLoopJob('scale-calls', image, 'escrow-sturdyref', 'append', 'scale-'));
  await eventually('the calls flowing', 240_000, () => {
    try {
      return sendLoopResults(ns, 'scale-calls').length >= 2 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  // Every epoch the status passes through, as seen: each a configuration the planner allows.
  const seen = new Map<number, { replicas: number; threshold: number }>();
  const watch = () => {
    const x = getJson('qvat', 'escrow');
    if (x.status.epoch !== undefined && !seen.has(x.status.epoch)) {
      seen.set(x.status.epoch, { replicas: x.status.replicas, threshold: x.status.threshold });
    }
    assert.equal(x.status.vatId, vatId, 'the quorum VatID never changes');
    return x;
  };
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=5');
  // The operator pod is killed in the middle of the scale-up (a change requested, not yet seen
  // in the chain): the next one carries on from the quorum's own chain, the pods and status.
  const inFlight = await eventually('a membership change in flight', 240_000, () => {
    const x = watch();
    return x.status.pendingChange ? x : undefined;
  });
  const operatorPod = getJson('-n', system, 'pods', '-l', 'app.kubernetes.io/component=operator')
    .items[0].metadata.name;
  kubectl('-n', system, 'delete', 'pod', operatorPod, '--grace-period=0', '--force');
  const up = await eventually('5 voting members', 900_000, () => {
    const x = watch();
    return x.status.replicas === 5 && !x.status.pendingChange && cond(x, 'Ready')?.status === 'True'
      ? x
      : undefined;
  });
  const successor = getJson('-n', system, 'pods', '-l', 'app.kubernetes.io/component=operator')
    .items[0].metadata.name;
  assert.notEqual(successor, operatorPod, 'a new operator pod finished the scale-up');
  assert.ok(up.status.epoch > inFlight.status.epoch, 'it went on from the chain');
  // Learner, vote-in, learner, vote-in: four changes, none applied twice.
  assert.equal(up.status.epoch, epoch0 + 4);
  assert.equal(up.status.threshold, 3);
  assert.deepEqual(up.status.tolerates, { crashed: 2, byzantine: 0 });
  assert.deepEqual(
    membersOf(up),
    [0, 1, 2, 3, 4].map((i) => [`escrow-${i}`, reportedBy(`escrow-${i}`), 'voting']),
  );
  assert.deepEqual(membersOf(up).slice(0, 3), first, 'the first members stay as they were');
  assert.equal(getJson('pdb', 'escrow').spec.minAvailable, 3);
  kubectl('-n', ns, 'scale', 'qvat/escrow', '--replicas=3');
  const down = await eventually('3 voting members, 3 pods', 900_000, () => {
    const x = watch();
    return x.status.replicas === 3 &&
      !x.status.pendingChange &&
      getJson('statefulset', 'escrow').status.replicas === 3 &&
      memberPods().length === 3
      ? x
      : undefined;
  });
  assert.equal(down.status.epoch, epoch0 + 6, 'two vote-outs');
  assert.equal(down.status.threshold, 2);
  assert.deepEqual(membersOf(down), first, 'the highest ordinals left; the first three remain');
  // One member at a time: each epoch seen differs from the one before by at most one voter,
  // and always 2k > n (the planner's rule, as the quorum's chain recorded it).
  const epochs = [...seen.entries()].sort((a, b) => a[0] - b[0]);
  for (const [e, c] of epochs)
    assert.ok(2 * c.threshold > c.replicas, `epoch ${e}: ${JSON.stringify(c)}`);
  for (let i = 1; i < epochs.length; i++) {
    const [a, b] = [epochs[i - 1]![1], epochs[i]![1]];
    assert.ok(Math.abs(a.replicas - b.replicas) <= 1, `${JSON.stringify(epochs)}`);
  }
  stopSendLoop(ns, 'scale-calls');
  await eventually('the calls finished', 240_000, () => {
    const j = getJson('job', 'scale-calls');
    if (j.status.failed)
      throw new Error(
        `a call failed during the scale: ${kubectl('-n', ns, 'logs', 'job/scale-calls')}`,
      );
    return j.status.succeeded ? true : undefined;
  });
  const calls = sendLoopResults(ns, 'scale-calls');
  for (const [i, c] of calls.entries()) {
    assert.equal(Number(c.result), readBefore.length + i + 1, `call ${c.n}: ${c.result}`);
  }
  const log = JSON.parse(await sendFromJob('scale-read-1', 'read')) as string[];
  assert.deepEqual(
    log,
    [...readBefore, ...calls.map((c) => `scale-${c.n}`)],
    'nothing lost, order kept',
  );
  const events = kubectl(
    '-n',
    ns,
    'get',
    'events',
    '--field-selector',
    'reason=MembershipChange',
    '-o',
    'json',
  );
  assert.ok(JSON.parse(events).items.length >= 4, 'each change is an Event');
});

test('a member pod deleted with its volume: the operator votes the lost member out and admits the new key, one at a time', {
  timeout: 900_000,
}, async () => {
  const before = getJson('qvat', 'escrow');
  const members = membersOf(before);
  const lost = members.find(([pod]) => pod === 'escrow-1')!;
  const readBefore = JSON.parse(await sendFromJob('lost-read-0', 'read')) as string[];
  // What a lost disk looks like to Kubernetes: the claim and the pod go; the StatefulSet makes
  // a new pod with a new, empty volume, where the node makes a new key.
  kubectl('-n', ns, 'delete', 'pvc', 'data-escrow-1', '--wait=false');
  kubectl('-n', ns, 'delete', 'pod', 'escrow-1', '--wait=false');
  const replaced = await eventually('escrow-1 voting again under a new VatID', 600_000, () => {
    const x = getJson('qvat', 'escrow');
    const m = x.status.members.find((y: { pod: string }) => y.pod === 'escrow-1');
    return m && m.vatId !== lost[1] && m.state === 'voting' && !x.status.pendingChange
      ? x
      : undefined;
  });
  assert.equal(replaced.status.vatId, before.status.vatId, 'the same quorum vat');
  assert.equal(replaced.status.epoch, before.status.epoch + 3, 'vote-out, learner, vote-in');
  assert.equal(replaced.status.replicas, 3);
  assert.equal(replaced.status.threshold, 2);
  const now = membersOf(replaced);
  assert.deepEqual(
    now.filter(([pod]) => pod !== 'escrow-1'),
    members.filter(([pod]) => pod !== 'escrow-1'),
    'the other members are untouched',
  );
  assert.equal(now.find(([pod]) => pod === 'escrow-1')![1], reportedBy('escrow-1'));
  const events = JSON.parse(
    kubectl('-n', ns, 'get', 'events', '--field-selector', 'reason=MembershipChange', '-o', 'json'),
  ).items.map((e: { message: string }) => e.message);
  assert.ok(
    events.some((m: string) => /escrow-1 came back without its volume/.test(m)),
    `the Event says why: ${events.join(' | ')}`,
  );
  // The new member caught up from the others: the log is whole, and it goes on.
  assert.equal(
    await sendFromJob('lost-append', 'append', '"after the lost volume"'),
    String(readBefore.length + 1),
  );
  assert.deepEqual(JSON.parse(await sendFromJob('lost-read-1', 'read')), [
    ...readBefore,
    'after the lost volume',
  ]);
});
