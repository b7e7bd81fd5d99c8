import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plan } from './planner.ts';
import { quorumVatStatus } from './status.ts';

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
    now: new Date(0),
  });
  assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
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
