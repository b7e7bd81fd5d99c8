import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced, VatMessage } from '../kernel/messages.ts';
import { applyChange } from './chain.ts';
import { DEFAULT_PARAMS, type QuorumConfig } from './config.ts';
import {
  AckCombiner,
  type Evidence,
  MAX_RUN,
  OutboundCombiner,
  type SignedOutbound,
  signAck,
  signOutbound,
  verifyEvidence,
} from './outbound.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const [receiver, outsider, newcomer] = await makeTestMembers(3);
const R = receiver!.vatId;
const [A, B, C, D] = q.members as [TestMember, TestMember, TestMember, TestMember];

function deliver(i: number, tag = 'ok'): VatMessage {
  return {
    op: 'deliver',
    target: 'o-1',
    method: 'note',
    args: { body: `#[${i},"${tag}"]`, slots: [] },
    result: null,
  };
}

function run(first: number, count: number, tag = 'ok'): Sequenced[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: first + i,
    msg: deliver(first + i, tag),
  }));
}

function signed(
  m: TestMember,
  msgs: readonly Sequenced[],
  to = R,
  quorum = q.config.quorum,
): SignedOutbound {
  return signOutbound(m.sign, m.vatId, quorum, to, msgs);
}

function combiner(config: QuorumConfig = q.config, options: { memberBytes?: number } = {}) {
  const c = new OutboundCombiner({ receiver: R, ...options });
  c.setConfig(config);
  return c;
}

const seqs = (xs: readonly Sequenced[]) => xs.map((x) => x.seq);

test('delivers exactly once, when k members signed identical content', () => {
  const c = combiner();
  const msgs = run(1, 1);
  assert.deepEqual(c.offer(signed(A, msgs), msgs).delivered, []);
  assert.deepEqual(c.offer(signed(B, msgs), msgs).delivered, []);
  const third = c.offer(signed(C, msgs), msgs);
  assert.equal(third.outcome, 'accepted');
  assert.deepEqual(third.delivered, msgs);
  const fourth = c.offer(signed(D, msgs), msgs);
  assert.equal(fourth.outcome, 'duplicate');
  assert.deepEqual(fourth.delivered, []);
  assert.equal(c.offer(signed(A, msgs), msgs).outcome, 'duplicate', 'a retransmission');
  assert.equal(c.delivered(q.config.quorum), 1);
  assert.equal(c.pendingCount(q.config.quorum), 0, 'nothing kept after delivery');
});

test('in seq order: a certified later seq waits for the earlier one', () => {
  const c = combiner();
  const one = run(1, 1);
  const two = run(2, 1);
  for (const m of [A, B, C]) assert.deepEqual(c.offer(signed(m, two), two).delivered, []);
  c.offer(signed(A, one), one);
  c.offer(signed(B, one), one);
  assert.deepEqual(seqs(c.offer(signed(D, one), one).delivered), [1, 2]);
});

test('batches: one signature covers a run; overlapping runs of different members combine', () => {
  const c = combiner();
  const all = run(1, 100);
  c.offer(signed(A, all.slice(0, 64)), all.slice(0, 64));
  c.offer(signed(B, all.slice(0, 40)), all.slice(0, 40));
  c.offer(signed(B, all.slice(40, 100)), all.slice(40, 100));
  const r = c.offer(signed(C, all.slice(10, 74)), all.slice(10, 74));
  assert.deepEqual(seqs(r.delivered), []);
  const r2 = c.offer(signed(D, all.slice(0, 64)), all.slice(0, 64));
  assert.deepEqual(seqs(r2.delivered), seqs(all.slice(0, 64)));
  const r3 = c.offer(signed(A, all.slice(64, 100)), all.slice(64, 100));
  assert.deepEqual(seqs(r3.delivered), seqs(all.slice(64, 74)), 'C covered 64..73 only');
  assert.throws(() => signed(A, run(1, MAX_RUN + 1)), RangeError);
  assert.throws(() => signed(A, [...run(1, 2), ...run(4, 1)]), /consecutive/);
});

test('a forging member is outvoted; fewer than k honest signatures deliver nothing', () => {
  const c = combiner();
  const good = run(1, 5);
  const forged = run(1, 5, 'forged');
  c.offer(signed(D, forged), forged);
  c.offer(signed(A, good), good);
  assert.deepEqual(c.offer(signed(B, good), good).delivered, [], 'two honest of k = 3');
  const r = c.offer(signed(C, good), good);
  assert.deepEqual(r.delivered, good, 'the honest content, never the forged one');
  // A forgery signed by fewer than k members never delivers, however often it is sent.
  const c2 = combiner();
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(c2.offer(signed(D, forged), forged).delivered, []);
    assert.deepEqual(c2.offer(signed(A, forged), forged).delivered, []);
  }
  assert.equal(c2.delivered(q.config.quorum), 0);
});

test('equivocation: both signed statements kept as evidence, reported once, the member ignored after', () => {
  const c = combiner();
  const good = run(1, 3);
  const other = run(1, 3, 'other');
  c.offer(signed(A, good), good);
  c.offer(signed(B, good), good);
  c.offer(signed(D, good.slice(1)), good.slice(1)); // D votes for seqs 2, 3 honestly ...
  const r = c.offer(signed(D, other), other); // ... then signs other contents for 1..3
  assert.equal(r.outcome, 'equivocation');
  assert.equal(r.evidence.length, 1);
  const e = r.evidence[0]!;
  assert.equal(e.member, D.vatId);
  assert.equal(e.seq, 2);
  assert.ok(verifyEvidence(e), 'portable: anyone can check it');
  assert.ok(verifyEvidence(JSON.parse(JSON.stringify(e), revive) as Evidence), 'after a JSON trip');
  // D's earlier honest votes no longer count: A and B alone (2 < 3) deliver nothing.
  assert.deepEqual(r.delivered, []);
  assert.equal(c.delivered(q.config.quorum), 0);
  // Repeats: no new evidence, no verification, nothing counted.
  for (let i = 0; i < 10; i++) {
    const again = c.offer(signed(D, run(1, 3, `x${i}`)), run(1, 3, `x${i}`));
    assert.equal(again.outcome, 'equivocator');
    assert.deepEqual(again.evidence, []);
    assert.equal(c.offer(signed(D, good), good).outcome, 'equivocator');
  }
  assert.equal(c.evidence(q.config.quorum).length, 1);
  // The honest third member completes the quorum.
  assert.deepEqual(c.offer(signed(C, good), good).delivered, good);
});

function revive(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (Object.keys(o).every((k) => /^\d+$/.test(k)) && Object.keys(o).length > 0) {
      return Uint8Array.from(Object.values(o) as number[]);
    }
  }
  return value;
}

test('evidence that proves nothing is refused', () => {
  const c = combiner();
  const good = run(1, 1);
  c.offer(signed(D, good), good);
  const e = c.offer(signed(D, run(1, 1, 'x')), run(1, 1, 'x')).evidence[0]!;
  assert.ok(verifyEvidence(e));
  const [s1, s2] = e.statements;
  const tampered = Uint8Array.from(s2.statement);
  tampered[tampered.length - 3]! ^= 1;
  const bad: [string, Evidence][] = [
    ['same statement twice', { ...e, statements: [s1, s1] }],
    ['blamed on another member', { ...e, member: A.vatId }],
    ['another seq', { ...e, seq: 2 }],
    ['another receiver', { ...e, to: outsider!.vatId }],
    ['tampered statement', { ...e, statements: [s1, { ...s2, statement: tampered }] }],
    [
      'signatures swapped',
      {
        ...e,
        statements: [
          { ...s1, signature: s2.signature },
          { ...s2, signature: s1.signature },
        ],
      },
    ],
  ];
  for (const [what, ev] of bad) assert.equal(verifyEvidence(ev), false, what);
});

test('non-members, outsiders posing as members, wrong receivers and bad input do not count', () => {
  const c = combiner();
  const msgs = run(1, 2);
  const table: [string, SignedOutbound, readonly Sequenced[], string][] = [
    ['a non-member', signed(outsider!, msgs), msgs, 'not-a-member'],
    [
      'an outsider signing as a member',
      { ...signed(outsider!, msgs), signer: A.vatId },
      msgs,
      'bad-signature',
    ],
    ['another receiver', signed(A, msgs, outsider!.vatId), msgs, 'malformed'],
    ['an unknown quorum', { ...signed(A, msgs), quorum: 'quorum1111' }, msgs, 'unknown-quorum'],
    [
      'content differs from the signed digest',
      signed(A, msgs),
      run(1, 2, 'other'),
      'content-mismatch',
    ],
    ['fewer messages than digests', signed(A, msgs), msgs.slice(1), 'malformed'],
    ['seq 0', { ...signed(A, msgs), first: 0 }, msgs, 'malformed'],
    ['short signature', { ...signed(A, msgs), signature: new Uint8Array(63) }, msgs, 'malformed'],
    ['a digest not hex', { ...signed(A, msgs), digests: ['x', 'y'] }, msgs, 'malformed'],
    ['signed for other seqs', { ...signed(A, msgs), first: 2 }, run(2, 2), 'content-mismatch'],
  ];
  for (const [what, s, m, outcome] of table) {
    const r = c.offer(s, m);
    assert.equal(r.outcome, outcome, what);
    assert.deepEqual(r.delivered, []);
  }
  assert.equal(c.pendingCount(q.config.quorum), 0, 'nothing of it kept');
});

test('a removed member no longer counts; a lower threshold delivers what it already certifies', () => {
  const c = combiner();
  const msgs = run(1, 1);
  c.offer(signed(A, msgs), msgs);
  c.offer(signed(D, msgs), msgs);
  // Epoch 1: D removed, (3, 2).
  const e1 = applyChange(q.config, { op: 'remove', member: D.vatId, threshold: 2 }, 10);
  assert.deepEqual(c.setConfig(e1), [], "D's vote dropped: only A's remains");
  assert.equal(c.offer(signed(D, run(2, 1)), run(2, 1)).outcome, 'not-a-member');
  assert.deepEqual(c.offer(signed(B, msgs), msgs).delivered, msgs);
  // A threshold change that makes pending votes enough delivers on setConfig.
  const c2 = combiner();
  c2.offer(signed(A, msgs), msgs);
  c2.offer(signed(B, msgs), msgs);
  const lower = applyChange(
    applyChange(q.config, { op: 'add', member: newcomer!.vatId, threshold: 3 }, 5),
    { op: 'remove', member: D.vatId, threshold: 3 },
    6,
  );
  assert.deepEqual(c2.setConfig(lower), []);
  const n3 = applyChange(lower, { op: 'remove', member: newcomer!.vatId, threshold: 2 }, 7);
  assert.deepEqual(c2.setConfig(n3), msgs);
  // An older configuration never replaces a newer one.
  assert.deepEqual(c2.setConfig(q.config), []);
  assert.equal(c2.offer(signed(D, run(2, 1)), run(2, 1)).outcome, 'not-a-member');
});

test('bounded memory: a window of seqs per sender, and a byte budget per member', async () => {
  const small = await makeTestQuorum(4, 3, {
    params: { ...DEFAULT_PARAMS, maxPendingPerSender: 100 },
  });
  const [a, , , d] = small.members as [TestMember, TestMember, TestMember, TestMember];
  const c = new OutboundCombiner({ receiver: R, memberBytes: 4000 });
  c.setConfig(small.config);
  const sign = (m: TestMember, msgs: Sequenced[]) =>
    signOutbound(m.sign, m.vatId, small.config.quorum, R, msgs);
  // Far ahead of the window: dropped (it will come again once earlier seqs are delivered).
  const far = run(101, 10);
  assert.equal(c.offer(sign(a, far), far).outcome, 'duplicate');
  assert.equal(c.pendingCount(small.config.quorum), 0);
  // A Byzantine member filling seqs 1..100 with junk uses only its own byte budget.
  let kept = 0;
  for (let first = 1; first <= 100; first += 10) {
    const junk = run(first, 10, 'j'.repeat(200));
    if (c.offer(sign(d, junk), junk).outcome === 'accepted') kept++;
  }
  assert.ok(c.pendingCount(small.config.quorum) <= 100);
  assert.ok(kept > 0);
  // Honest members' content is still taken and delivered.
  const good = run(1, 20);
  for (const m of small.members.slice(0, 3)) c.offer(sign(m, good), good);
  assert.equal(c.delivered(small.config.quorum), 20);
});

test('acks: certified only when k current members acknowledged; the sender keeps messages until then', () => {
  const sender = outsider!.vatId;
  const acks = new AckCombiner(sender, q.config);
  const outbox = new Map(run(1, 10).map((m) => [m.seq, m]));
  const ack = (m: TestMember, n: number) => {
    const r = acks.offer(m.vatId, n, signAck(m.sign, q.config.quorum, sender, n));
    for (const seq of [...outbox.keys()]) if (seq <= r.certified) outbox.delete(seq);
    return r;
  };
  assert.deepEqual(ack(A, 9), { outcome: 'stale', certified: 0 });
  assert.deepEqual(ack(B, 7), { outcome: 'stale', certified: 0 });
  assert.equal(outbox.size, 10, 'two members committing is not enough');
  assert.deepEqual(ack(C, 3), { outcome: 'raised', certified: 3 });
  assert.deepEqual([...outbox.keys()], [4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(
    ack(D, 10),
    { outcome: 'raised', certified: 7 },
    'the third highest of 10, 9, 7, 3',
  );
  assert.deepEqual([...outbox.keys()], [8, 9, 10]);
  // Bad acks.
  const forOther = signAck(A.sign, q.config.quorum, R, 12);
  assert.equal(
    acks.offer(A.vatId, 12, forOther).outcome,
    'bad-signature',
    'an ack to another sender',
  );
  assert.equal(
    acks.offer(A.vatId, 12, signAck(B.sign, q.config.quorum, sender, 12)).outcome,
    'bad-signature',
  );
  assert.equal(
    acks.offer(outsider!.vatId, 12, signAck(outsider!.sign, q.config.quorum, sender, 12)).outcome,
    'not-a-member',
  );
  assert.equal(
    acks.offer(A.vatId, 5, signAck(A.sign, q.config.quorum, sender, 5)).outcome,
    'stale',
  );
  assert.equal(acks.offer(A.vatId, -1, new Uint8Array(64)).outcome, 'malformed');
  // A removed member's ack stops counting; the certified mark never goes back.
  const e1 = applyChange(q.config, { op: 'remove', member: A.vatId, threshold: 3 }, 10);
  assert.equal(acks.setConfig(e1), 7, 'B 7, C 3, D 10 would give 3: the mark stays at 7');
  assert.equal(ack(A, 12).outcome, 'not-a-member');
  assert.equal(ack(B, 11).certified, 7);
  assert.equal(ack(C, 11).certified, 10, 'B 11, C 11, D 10');
  assert.equal(outbox.size, 0);
});
