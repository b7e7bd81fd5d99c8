import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { type GateDecision, gateChange, gates, MEMBER_GATE } from './caught-up.ts';
import type { MemberReadiness } from './members.ts';

const Q = 'quorumQ';
const probe = (
  height: number,
  role = 'member',
  extra: Partial<MemberReadiness> & { halted?: string } = {},
): MemberReadiness => ({
  ready: extra.ready ?? true,
  ...(extra.reason ? { reason: extra.reason } : {}),
  quorum: {
    quorum: extra.halted === 'other' ? 'quorumOther' : Q,
    role,
    ordering: { height },
    halted: extra.halted && extra.halted !== 'other' ? extra.halted : null,
  },
});
const judge = (probes: Record<string, MemberReadiness | undefined>, k = 2) =>
  Object.fromEntries(
    [...gates(new Map(Object.entries(probes)), Q, k)].map(([p, d]) => [
      p,
      `${d.status} ${d.reason}`,
    ]),
  );

test('forming: every voter at the same height is caught up; an unreachable pod is not judged', () => {
  assert.deepEqual(judge({ a: probe(0), b: probe(0), c: probe(0), d: undefined }), {
    a: 'True CaughtUp',
    b: 'True CaughtUp',
    c: 'True CaughtUp',
  });
});

test('a restarted member is Ready only once it is within the lag of the highest other voter', () => {
  assert.deepEqual(judge({ a: probe(120), b: probe(118), c: probe(40) }), {
    a: 'True CaughtUp',
    b: 'True CaughtUp',
    c: 'False CatchingUp',
  });
  assert.equal(judge({ a: probe(120), b: probe(118), c: probe(118) }).c, 'True CaughtUp');
  // Compared with the HIGHEST other voter, not the lowest: a lagging peer is no excuse.
  assert.equal(judge({ a: probe(120), b: probe(40), c: probe(41) }, 2).c, 'False CatchingUp');
});

test('judged only against k − 1 other ready voters: alone (or with too few) it waits', () => {
  assert.equal(judge({ c: probe(10) }).c, 'False CatchingUp');
  assert.equal(
    judge({ a: probe(10, 'member', { ready: false }), c: probe(10) }).c,
    'False CatchingUp',
  );
  assert.equal(judge({ a: probe(10), c: probe(10) }, 3).c, 'False CatchingUp');
  assert.equal(judge({ a: probe(10), b: probe(10), c: probe(10) }, 3).c, 'True CaughtUp');
  // A learner's or a halted member's height is no reference either.
  assert.equal(judge({ a: probe(90, 'learner'), c: probe(10) }).c, 'False CatchingUp');
  assert.equal(
    judge({ a: probe(90, 'member', { halted: 'diverged' }), c: probe(10) }).c,
    'False CatchingUp',
  );
});

test('learners, removed members, halted or not-ready nodes and other quorums are never Ready', () => {
  assert.deepEqual(
    judge({
      a: probe(5),
      b: probe(5),
      l: probe(5, 'learner'),
      r: probe(5, 'none'),
      h: probe(5, 'member', { halted: 'transcript diverged at 4' }),
      n: probe(5, 'member', { ready: false, reason: 'starting' }),
      o: probe(5, 'member', { halted: 'other' }),
    }),
    {
      a: 'True CaughtUp',
      b: 'True CaughtUp',
      l: 'False Learner',
      r: 'False NotAMember',
      h: 'False Halted',
      n: 'False NodeNotReady',
      o: 'False NotAMember',
    },
  );
});

const pod = (gate?: { status: string; reason: string; at: string }, startedAt?: string): V1Pod => ({
  metadata: { name: 'q-2', namespace: 'ns' },
  status: {
    ...(gate
      ? {
          conditions: [
            {
              type: MEMBER_GATE,
              status: gate.status,
              reason: gate.reason,
              lastTransitionTime: new Date(gate.at),
            },
          ],
        }
      : {}),
    ...(startedAt
      ? {
          containerStatuses: [
            {
              name: 'vat',
              ready: true,
              restartCount: 0,
              image: 'x',
              imageID: 'x',
              state: { running: { startedAt: new Date(startedAt) } },
            },
          ],
        }
      : {}),
  },
});
const d = (status: 'True' | 'False', reason: string): GateDecision => ({
  status,
  reason,
  message: 'm',
});

test('the gate is written when it changes, and does not flap under load', () => {
  assert.deepEqual(gateChange(pod(), d('True', 'CaughtUp')), d('True', 'CaughtUp'), 'a new pod');
  assert.deepEqual(gateChange(pod(), d('False', 'CatchingUp')), d('False', 'CatchingUp'));
  const t = '2026-12-01T10:00:00Z';
  assert.equal(
    gateChange(pod({ status: 'True', reason: 'CaughtUp', at: t }), d('True', 'CaughtUp')),
    undefined,
  );
  assert.equal(
    gateChange(pod({ status: 'False', reason: 'CatchingUp', at: t }), d('False', 'CatchingUp')),
    undefined,
    'one write per state, not one per height',
  );
  // Caught up once, a few heights behind now under load: stays Ready...
  assert.equal(
    gateChange(
      pod({ status: 'True', reason: 'CaughtUp', at: t }, '2026-12-01T09:59:00Z'),
      d('False', 'CatchingUp'),
    ),
    undefined,
  );
  // ...unless its node restarted since: a restarted node is judged afresh.
  assert.deepEqual(
    gateChange(
      pod({ status: 'True', reason: 'CaughtUp', at: t }, '2026-12-01T10:05:00Z'),
      d('False', 'CatchingUp'),
    ),
    d('False', 'CatchingUp'),
  );
  // Not voting any more, halted, or not ready: at once.
  for (const reason of ['Learner', 'NotAMember', 'Halted', 'NodeNotReady']) {
    assert.deepEqual(
      gateChange(
        pod({ status: 'True', reason: 'CaughtUp', at: t }, '2026-12-01T09:59:00Z'),
        d('False', reason),
      ),
      d('False', reason),
    );
  }
});
