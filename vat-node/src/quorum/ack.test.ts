import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced } from '../protocol/messages.ts';
import { AckCombiner, signAck, verifyAckProof } from './ack.ts';
import { applyChange } from './chain.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const [receiver, outsider] = await makeTestMembers(2);
const R = receiver!.vatId;
const [A, B, C, D] = q.members as [TestMember, TestMember, TestMember, TestMember];

function run(first: number, count: number): Sequenced[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: first + i,
    msg: { op: 'echoed', token: first + i },
  }));
}

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

test("the certified mark comes with a portable proof: k members' signed acks at or above it", () => {
  const sender = outsider!.vatId;
  const acks = new AckCombiner(sender, q.config);
  assert.equal(acks.proof(), undefined);
  for (const [m, n] of [
    [A, 9],
    [B, 7],
    [C, 3],
    [D, 8],
  ] as const) {
    acks.offer(m.vatId, n, signAck(m.sign, q.config.quorum, sender, n));
  }
  assert.equal(acks.certified, 7);
  const proof = acks.proof()!;
  assert.equal(proof.ack, 7);
  assert.equal(proof.acks.length, 3);
  assert.ok(proof.acks.every((a) => a.ack >= 7));
  assert.ok(verifyAckProof(q.config, proof));
  const bad: [string, typeof proof][] = [
    ['a higher claim', { ...proof, ack: 8 }],
    ['one ack short', { ...proof, acks: proof.acks.slice(1) }],
    ['a member twice', { ...proof, acks: [proof.acks[0]!, proof.acks[0]!, proof.acks[1]!] }],
    ['another peer', { ...proof, peer: R }],
    [
      'a tampered ack value',
      { ...proof, acks: proof.acks.map((a, i) => (i === 0 ? { ...a, ack: a.ack + 1 } : a)) },
    ],
    ['another quorum', { ...proof, quorum: 'quorum1' }],
  ];
  for (const [what, p] of bad) assert.equal(verifyAckProof(q.config, p), false, what);
  // After a member is removed, a proof leaning on its ack no longer holds.
  const withoutA = applyChange(q.config, { op: 'remove', member: A.vatId, threshold: 3 }, 5);
  const leansOnA = proof.acks.some((a) => a.signer === A.vatId);
  assert.equal(verifyAckProof(withoutA, proof), !leansOnA);
});
