import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PendingChange } from '../../api/v1alpha1/types.ts';
import { changeAction, changeOf, describePending, isChangeStep } from './change.ts';
import type { Step } from './planner.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const retryMs = 30_000;
const add: Step = { kind: 'addLearner', vatId: 'v3', pod: 'q-3' };
const promote: Step = { kind: 'promote', vatId: 'v3', pod: 'q-3', threshold: 3 };

test('every planner change step maps to the one chain change it stands for', () => {
  const steps: [Step, unknown][] = [
    [add, { op: 'add-learner', member: 'v3' }],
    [
      { kind: 'removeLearner', vatId: 'v3', pod: 'q-3' },
      { op: 'remove-learner', member: 'v3' },
    ],
    [promote, { op: 'add', member: 'v3', threshold: 3 }],
    [
      { kind: 'removeVoter', vatId: 'v4', pod: 'q-4', threshold: 3 },
      { op: 'remove', member: 'v4', threshold: 3 },
    ],
    [
      { kind: 'setThreshold', threshold: 4 },
      { op: 'threshold', threshold: 4 },
    ],
  ];
  for (const [step, change] of steps) {
    assert.ok(isChangeStep(step));
    assert.deepEqual(changeOf(step as never), change);
  }
  for (const s of [
    { kind: 'scale', replicas: 4, why: '' },
    { kind: 'wait', reason: 'x', message: '' },
    { kind: 'refuse', reason: 'x', message: '' },
    { kind: 'done' },
    { kind: 'genesis', voters: [], threshold: 1 },
  ] as Step[]) {
    assert.equal(isChangeStep(s), false, s.kind);
    assert.deepEqual(
      changeAction({ step: s, pending: undefined, epoch: 1, now: t0, retryMs }),
      { kind: 'none' },
      `${s.kind} proposes nothing`,
    );
  }
});

test('a first request is recorded (epoch, change, pod, time, attempt 1) and sent', () => {
  const a = changeAction({ step: add, pending: undefined, epoch: 4, now: t0, retryMs });
  assert.deepEqual(a, {
    kind: 'submit',
    pending: {
      epoch: 4,
      op: 'add-learner',
      member: 'v3',
      pod: 'q-3',
      requestedAt: t0.toISOString(),
      attempts: 1,
    },
  });
});

/** Drives the decision like reconciles would, over a world whose epoch moves when told. */
function pendingAfter(step: Step, epoch: number, now: Date, pending?: PendingChange) {
  return changeAction({ step, pending, epoch, now, retryMs });
}

test('sent and not yet ordered: wait; after retryMs the SAME request again (attempts + 1)', () => {
  const first = pendingAfter(add, 4, t0);
  assert.equal(first.kind, 'submit');
  const p = (first as { pending: PendingChange }).pending;
  const soon = pendingAfter(add, 4, at(10), p);
  assert.equal(soon.kind, 'wait');
  assert.match((soon as { message: string }).message, /q-3 joins as a learner at epoch 4/);
  const later = pendingAfter(add, 4, at(31), p);
  assert.equal(later.kind, 'submit');
  const again = (later as { pending: PendingChange }).pending;
  assert.equal(again.attempts, 2);
  assert.equal(again.requestedAt, at(31).toISOString());
  assert.equal(again.epoch, 4, 'the same epoch: the same request bytes');
});

test('the epoch moved (the change took effect): the next step is a new request', () => {
  const p = (pendingAfter(add, 4, t0) as { pending: PendingChange }).pending;
  const next = pendingAfter(promote, 5, at(5), p);
  assert.equal(next.kind, 'submit');
  assert.deepEqual((next as { pending: PendingChange }).pending, {
    epoch: 5,
    op: 'add',
    member: 'v3',
    threshold: 3,
    pod: 'q-3',
    requestedAt: at(5).toISOString(),
    attempts: 1,
  });
  assert.equal((next as { note?: string }).note, undefined);
  // Nothing left to do once the chain shows it: the record is cleared.
  assert.deepEqual(pendingAfter({ kind: 'done' }, 6, at(9), p), { kind: 'none' });
});

test('the spec changed before the quorum ordered it: the new request for the same epoch replaces it', () => {
  const p = (pendingAfter(add, 4, t0) as { pending: PendingChange }).pending;
  const undo: Step = { kind: 'removeLearner', vatId: 'v3', pod: 'q-3' };
  // (In the world the planner sees: the learner was admitted at epoch 4 → 5, so undoing it is a
  // request for epoch 5; if it was not, nothing needs undoing and the plan is done.)
  const r = pendingAfter(undo, 4, at(3), p);
  assert.equal(r.kind, 'submit');
  assert.match((r as { note?: string }).note ?? '', /replaces the unordered request/);
  assert.equal((r as { pending: PendingChange }).pending.op, 'remove-learner');
  assert.equal((r as { pending: PendingChange }).pending.attempts, 1);
});

test('an operator crash at any point: the next decision from status and the chain alone is safe', () => {
  // Crash before the status write-ahead landed: no record, same epoch → submitted (again).
  assert.equal(pendingAfter(add, 4, at(1)).kind, 'submit');
  // Crash after the write-ahead, before the POST: recorded, not ordered → waits, then re-sends.
  const p = (pendingAfter(add, 4, t0) as { pending: PendingChange }).pending;
  assert.equal(pendingAfter(add, 4, at(2), p).kind, 'wait');
  assert.equal(pendingAfter(add, 4, at(40), p).kind, 'submit');
  // Crash after the quorum ordered it: the epoch moved; the record is stale and ignored.
  assert.equal(pendingAfter(promote, 5, at(2), p).kind, 'submit');
  // A damaged timestamp never blocks progress: it is re-sent.
  assert.equal(pendingAfter(add, 4, at(2), { ...p, requestedAt: 'garbage' }).kind, 'submit');
});

test('descriptions say who and what', () => {
  const base = { epoch: 1, requestedAt: t0.toISOString(), attempts: 1 };
  assert.equal(
    describePending({ ...base, op: 'remove', member: 'v4', pod: 'q-4', threshold: 3 }),
    'q-4 is voted out (threshold 3)',
  );
  assert.equal(describePending({ ...base, op: 'threshold', threshold: 4 }), 'threshold becomes 4');
  assert.equal(
    describePending({ ...base, op: 'add-learner', member: 'v9' }),
    'v9 joins as a learner',
  );
});

test('while a request waits for its retry, the reason the last attempt was not taken stays in view', () => {
  const p = (pendingAfter(add, 4, t0) as { pending: PendingChange }).pending;
  const refused = { ...p, lastError: 'the members do not take membership changes (HTTP 501)' };
  const w = pendingAfter(add, 4, at(10), refused);
  assert.equal(w.kind, 'wait');
  assert.match(
    (w as { message: string }).message,
    /not taken: the members do not take .*HTTP 501.*sent again after 30 s/,
  );
  const again = pendingAfter(add, 4, at(40), refused);
  assert.equal(again.kind, 'submit');
  assert.equal((again as { pending: PendingChange }).pending.attempts, 2);
});
