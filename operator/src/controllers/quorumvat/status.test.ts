import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plan } from './planner.ts';
import { contractDrift, quorumVatStatus, reportedVatId } from './status.ts';

const pods = [0, 1, 2].map((i) => ({ ordinal: i, name: `q-${i}`, ready: true, vatId: `v${i}` }));
const config = { epoch: 4, voters: ['v0', 'v1', 'v2'], learners: [], threshold: 2 };

test('a formed quorum: Ready, epoch, threshold, tolerates, members, selector for kubectl scale', () => {
  const input = { replicas: 3, config, statefulSetReplicas: 3, pods };
  const s = quorumVatStatus({
    generation: 1,
    previous: undefined,
    selector: 'quorumvat.dev/vat=q,quorumvat.dev/kind=QuorumVat',
    input,
    step: plan(input),
    pods: [],
    readyMembers: new Set(['q-0', 'q-1']),
    quorum: { vatId: 'quorumX', genesisConfigMap: 'q-genesis', sturdyrefSecret: 'q-sturdyref' },
    now: new Date(0),
  });
  const ready = s.conditions!.find((c) => c.type === 'Ready')!;
  assert.equal(ready.status, 'True', 'k = 2 of 3 members report ready');
  assert.equal(ready.reason, 'QuorumReady');
  assert.equal(s.vatId, 'quorumX');
  assert.equal(s.genesisConfigMap, 'q-genesis');
  assert.deepEqual(s.sturdyrefSecret, { name: 'q-sturdyref', key: 'sturdyref' });
  assert.deepEqual(
    s.members!.map((m) => m.ready),
    [true, true, false],
  );
  assert.equal(s.replicas, 3);
  assert.equal(s.epoch, 4);
  assert.equal(s.threshold, 2);
  assert.deepEqual(s.tolerates, { crashed: 1, byzantine: 0 });
  assert.deepEqual(
    s.members!.map((m) => m.state),
    ['voting', 'voting', 'voting'],
  );
  assert.equal(s.selector, 'quorumvat.dev/vat=q,quorumvat.dev/kind=QuorumVat');
});

test('a refused scale-down: Degraded with the why, Progressing False (Blocked)', () => {
  const down = pods.map((p) => (p.ordinal === 0 ? { ...p, ready: false } : p));
  const input = {
    replicas: 3,
    config: { ...config, voters: ['v0', 'v1', 'v2'], threshold: 3 },
    statefulSetReplicas: 3,
    pods: down,
  };
  const step = plan({ ...input, replicas: 3 });
  const s = quorumVatStatus({
    generation: 2,
    previous: undefined,
    selector: 's',
    input,
    step,
    pods: [],
    now: new Date(0),
  });
  assert.equal(step.kind, 'refuse');
  const d = s.conditions!.find((c) => c.type === 'Degraded')!;
  assert.equal(d.status, 'True');
  assert.equal(d.reason, 'QuorumLost');
  assert.equal(s.conditions!.find((c) => c.type === 'Progressing')!.reason, 'Blocked');
});

const observe = (over: Partial<Parameters<typeof quorumVatStatus>[0]>) => {
  const input = over.input ?? { replicas: 3, config, statefulSetReplicas: 3, pods };
  return quorumVatStatus({
    generation: 1,
    previous: undefined,
    selector: 's',
    input,
    step: plan(input),
    pods: [],
    now: new Date(0),
    ...over,
  });
};
const cond = (s: ReturnType<typeof quorumVatStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;

test('before the genesis: Ready False, AwaitingMembers, saying how many VatIDs are missing', () => {
  const input = {
    replicas: 3,
    config: undefined,
    statefulSetReplicas: 3,
    pods: pods.map((p, i) => (i === 2 ? { ...p, vatId: undefined } : p)),
  };
  const s = observe({ input, step: plan(input) });
  assert.equal(cond(s, 'Ready').reason, 'AwaitingMembers');
  assert.match(cond(s, 'Ready').message, /1 of the first 3 members/);
  assert.equal(s.epoch, undefined);
  assert.equal(s.vatId, undefined, 'no quorum VatID before the genesis');
});

test('genesis made, fewer than k members run it yet: GenesisCreated; later epochs: MembersNotReady', () => {
  const fresh = { ...config, epoch: 0 };
  const input = { replicas: 3, config: fresh, statefulSetReplicas: 3, pods };
  const s = observe({ input, step: plan(input), readyMembers: new Set(['q-0']) });
  assert.equal(cond(s, 'Ready').status, 'False');
  assert.equal(cond(s, 'Ready').reason, 'GenesisCreated');
  assert.match(cond(s, 'Ready').message, /1 of 3 voting members report ready, the quorum needs 2/);
  const later = observe({ readyMembers: new Set(['q-0']) });
  assert.equal(cond(later, 'Ready').reason, 'MembersNotReady');
});

test('a change in flight is in status (pendingChange) and in Progressing', () => {
  const pending = {
    epoch: 4,
    op: 'add-learner' as const,
    member: 'v3',
    pod: 'q-3',
    requestedAt: new Date(0).toISOString(),
    attempts: 1,
  };
  const s = observe({
    readyMembers: new Set(['q-0', 'q-1', 'q-2']),
    pendingChange: pending,
    change: { reason: 'ChangePending', message: 'waiting' },
  });
  assert.deepEqual(s.pendingChange, pending);
  assert.equal(cond(s, 'Progressing').status, 'True');
  assert.equal(cond(s, 'Progressing').reason, 'ChangePending');
  assert.equal(cond(s, 'Ready').status, 'True', 'the quorum serves during a change');
});

test('the VatID a member reported: its identity init container termination message, nothing else', () => {
  const vatId = '12D3KooWGPXauJLRFZeBCKtqthAWHCwGWsw1XCqNryQ3qPTos5Jb';
  const pod = (name: string, exitCode: number, message?: string) => ({
    status: {
      initContainerStatuses: [
        {
          name,
          image: 'i',
          imageID: '',
          ready: exitCode === 0,
          restartCount: 0,
          state: { terminated: { exitCode, ...(message !== undefined ? { message } : {}) } },
        },
      ],
    },
  });
  assert.equal(reportedVatId(pod('member-identity', 0, JSON.stringify({ vatId }))), vatId);
  assert.equal(reportedVatId(pod('member-identity', 1, JSON.stringify({ vatId }))), undefined);
  assert.equal(reportedVatId(pod('await-genesis', 0, JSON.stringify({ vatId }))), undefined);
  assert.equal(reportedVatId(pod('member-identity', 0, 'error: disk full')), undefined);
  assert.equal(reportedVatId(pod('member-identity', 0, '{"vatId":"quorumXYZ"}')), undefined);
  assert.equal(reportedVatId(pod('member-identity', 0)), undefined);
  assert.equal(reportedVatId({}), undefined);
});

test('a voting member whose ordering stalls: Degraded (OrderingStalled), saying which and why', () => {
  const input = { replicas: 3, config, statefulSetReplicas: 3, pods };
  const s = quorumVatStatus({
    generation: 1,
    previous: undefined,
    selector: 'x',
    input,
    step: plan(input),
    pods: [],
    readyMembers: new Set(['q-0', 'q-1', 'q-2']),
    stalled: ['q-0'],
    now: new Date(0),
  });
  const degraded = s.conditions!.find((c) => c.type === 'Degraded')!;
  assert.equal(degraded.status, 'True');
  assert.equal(degraded.reason, 'OrderingStalled');
  assert.match(degraded.message, /^q-0: inputs wait and nothing was decided/);
  assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'True', 'it still serves');
});

test('a contract that is not the pinned one: Degraded (ContractChanged), still Ready', () => {
  const pinned = 'export function buildRootObject() { return harden({ v: () => 1 }); }';
  assert.equal(contractDrift({ ok: true, source: pinned }, pinned), undefined);
  const changed = contractDrift({ ok: true, source: `${pinned}\n// v2` }, pinned)!;
  assert.equal(changed.reason, 'ContractChanged');
  assert.match(
    changed.message,
    /^the spec's contract \(sha256 [0-9a-f]{64}\) is not the one in force/,
  );
  assert.match(
    changed.message,
    /members keep running the contract the quorum vat was created with/,
  );
  const gone = contractDrift(
    {
      ok: false,
      reason: 'ContractNotFound',
      message: 'ConfigMap code (the contract) does not exist',
    },
    pinned,
  )!;
  assert.equal(gone.reason, 'ContractChanged');
  assert.match(
    gone.message,
    /^ConfigMap code \(the contract\) does not exist; the members keep running/,
  );
  const s = observe({ readyMembers: new Set(['q-0', 'q-1', 'q-2']), contractChanged: changed });
  assert.equal(cond(s, 'Degraded').status, 'True');
  assert.equal(cond(s, 'Degraded').reason, 'ContractChanged');
  assert.equal(cond(s, 'Ready').status, 'True', 'the quorum serves on with the pinned contract');
});
