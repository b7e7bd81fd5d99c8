import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import { applyChange } from './chain.ts';
import { DEFAULT_PARAMS, type QuorumConfig } from './config.ts';
import {
  type Evidence,
  evidenceFromJson,
  evidenceToJson,
  MAX_RUN,
  OutboundCombiner,
  type SignedOutbound,
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

test('after a restart from the committed mark: earlier seqs are duplicates, the next one delivers', () => {
  const c = new OutboundCombiner({ receiver: R });
  assert.deepEqual(c.setConfig(q.config, 5), []);
  assert.equal(c.delivered(q.config.quorum), 5);
  const old = run(1, 5);
  for (const m of [A, B, C]) assert.equal(c.offer(signed(m, old), old).outcome, 'duplicate');
  const both = run(4, 4); // 4..7: 4 and 5 already delivered before the restart
  c.offer(signed(A, both), both);
  c.offer(signed(B, both), both);
  assert.deepEqual(seqs(c.offer(signed(C, both), both).delivered), [6, 7]);
});

test('a vote is the signed digest: once content is held, other copies are not needed', () => {
  const c = combiner();
  const msgs = run(1, 2);
  c.offer(signed(A, msgs), msgs);
  // B's and C's copies are garbled in transit, but their signed digests match what A sent.
  const garbled = run(1, 2, 'garbled');
  assert.equal(c.offer(signed(B, msgs), garbled).outcome, 'accepted');
  const r = c.offer(signed(C, msgs), garbled);
  assert.deepEqual(
    r.delivered,
    msgs,
    'the content that matches the digests, never the garbled copy',
  );
  // Content no one has sent yet must match its digest.
  const next = run(3, 1);
  assert.equal(c.offer(signed(A, next), run(3, 1, 'garbled')).outcome, 'content-mismatch');
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
  assert.ok(
    verifyEvidence(evidenceFromJson(JSON.parse(JSON.stringify(evidenceToJson(e))))!),
    'after a JSON trip',
  );
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
  const json = evidenceToJson(e);
  for (const v of [
    null,
    {},
    { ...json, seq: 'x' },
    { ...json, statements: [json.statements[0]] },
  ]) {
    assert.equal(evidenceFromJson(v), undefined);
  }
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
    ['another receiver', signed(A, msgs, outsider!.vatId), msgs, 'wrong-receiver'],
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

test('full byte budgets never stall delivery: the next seq is always taken, the rest retransmitted', () => {
  const c = combiner(q.config, { memberBytes: 300 });
  const later = run(2, 10);
  for (const m of [A, B, C]) c.offer(signed(m, later), later);
  assert.ok(
    c.pendingCount(q.config.quorum) < 10,
    `budgets cut what was taken: ${c.pendingCount(q.config.quorum)}`,
  );
  const first = run(1, 1);
  let delivered = 0;
  for (const m of [A, B, C]) delivered += c.offer(signed(m, first), first).delivered.length;
  assert.ok(delivered >= 1);
  // Members retransmit what is not acknowledged: everything arrives, in order, once.
  for (let round = 0; round < 20 && c.delivered(q.config.quorum)! < 11; round++) {
    const d = c.delivered(q.config.quorum)!;
    const rest = run(d + 1, 11 - d);
    for (const m of [A, B, C]) {
      const r = c.offer(signed(m, rest), rest);
      for (const x of r.delivered) assert.equal(x.seq, ++delivered);
    }
  }
  assert.equal(c.delivered(q.config.quorum), 11);
  assert.equal(delivered, 11);
});

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('randomized: honest content exactly once and in order, whatever f Byzantine members send', async () => {
  const shapes: [number, number][] = [
    [4, 3],
    [7, 5],
    [5, 4],
  ];
  let convicted = 0;
  for (const [n, k] of shapes) {
    const t = await makeTestQuorum(n, k);
    const f = Math.min(2 * k - n - 1, n - k);
    const byzantine = t.members.slice(0, f);
    const honest = t.members.slice(f);
    for (let seed = 1; seed <= 6; seed++) {
      const rnd = prng(seed * 1000 + n);
      const N = 40;
      const c = new OutboundCombiner({ receiver: R });
      c.setConfig(t.config);
      const sign = (m: TestMember, msgs: Sequenced[]) =>
        signOutbound(m.sign, m.vatId, t.config.quorum, R, msgs);
      const got: Sequenced[] = [];
      const take = (r: { delivered: readonly Sequenced[] }) => got.push(...r.delivered);
      const randomRun = (tag: string) => {
        const first = 1 + Math.floor(rnd() * N);
        const len = 1 + Math.floor(rnd() * Math.min(8, N - first + 1));
        return run(first, len, tag);
      };
      for (let step = 0; step < 300; step++) {
        if (byzantine.length > 0 && rnd() < 0.4) {
          const b = byzantine[Math.floor(rnd() * byzantine.length)]!;
          const kind = rnd();
          const tag = kind < 0.3 ? 'ok' : kind < 0.6 ? 'forged' : `forged${step}`;
          const msgs = randomRun(tag);
          take(c.offer(sign(b, msgs), msgs));
          // Sometimes a lie about content: the signed digests differ from the messages sent.
          if (rnd() < 0.2) take(c.offer(sign(b, msgs), run(msgs[0]!.seq, msgs.length, 'ok')));
        } else {
          const h = honest[Math.floor(rnd() * honest.length)]!;
          const msgs = randomRun('ok');
          take(c.offer(sign(h, msgs), msgs));
        }
      }
      // Finally every honest member sends everything (retransmission until acked).
      for (const h of honest) {
        for (let first = 1; first <= N; first += 8) {
          const msgs = run(first, Math.min(8, N - first + 1));
          take(c.offer(sign(h, msgs), msgs));
        }
      }
      assert.deepEqual(got, run(1, N), `n=${n} k=${k} seed=${seed}`);
      for (const e of c.evidence(t.config.quorum)) {
        assert.ok(verifyEvidence(e));
        assert.ok(
          byzantine.some((b) => b.vatId === e.member),
          'only Byzantine members are blamed',
        );
        convicted++;
      }
      assert.equal(c.pendingCount(t.config.quorum), 0);
    }
  }
  assert.ok(convicted > 0, 'the runs did exercise equivocation');
});
