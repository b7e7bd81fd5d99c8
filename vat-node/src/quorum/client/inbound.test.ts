import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../protocol/messages.ts';
import { encodeFrame } from '../../vattp/codec.ts';
import { genesisConfig, makeGenesis, type QuorumConfig } from '../config.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from '../testing.ts';
import { FrameCombiner, type FrameProof, verifyFrameEvidence } from './inbound.ts';

const q4 = await makeTestQuorum(4, 3);
const Q = q4.config.quorum;
const [receiver, outsider] = await makeTestMembers(2);
const SESSION = '00112233445566778899aabbccddeeff';

function msg(tag: string): VatMessage {
  return {
    op: 'deliver',
    target: 'o-1',
    method: tag,
    args: { body: '#[]', slots: [] },
    result: null,
  };
}

function run(first: number, n: number, tag = 'ok'): Sequenced[] {
  return Array.from({ length: n }, (_, i) => ({ seq: first + i, msg: msg(`${tag}${first + i}`) }));
}

/** A member's real signed frame carrying `messages` to the receiver. */
function frame(m: TestMember, messages: readonly Sequenced[]): FrameProof {
  const signed = encodeFrame({
    from: m.vatId,
    to: receiver!.vatId,
    session: SESSION,
    ack: 0,
    messages,
  });
  return { signed, signature: m.sign(signed) };
}

/** Offers every message of a frame, as the client port does; returns what was delivered. */
function send(c: FrameCombiner, m: TestMember, messages: readonly Sequenced[]) {
  const proof = frame(m, messages);
  const delivered: Sequenced[] = [];
  const outcomes: string[] = [];
  let evidence: ReturnType<FrameCombiner['offer']>['evidence'];
  for (const { seq, msg } of messages) {
    const r = c.offer(Q, m.vatId, seq, msg, proof);
    delivered.push(...r.delivered);
    outcomes.push(r.outcome);
    evidence ??= r.evidence;
  }
  return { delivered, outcomes, evidence };
}

function combiner(config: QuorumConfig = q4.config, delivered = 0, budget?: number): FrameCombiner {
  const c = new FrameCombiner(budget);
  c.setConfig(config, delivered);
  return c;
}

const [a, b, c3, d] = q4.members as TestMember[];

test('delivers each seq exactly once, in order, when k members sent identical content', () => {
  const c = combiner();
  assert.deepEqual(send(c, a!, run(1, 5)).delivered, []);
  assert.deepEqual(send(c, b!, run(1, 5)).delivered, []);
  const third = send(c, c3!, run(1, 5));
  assert.deepEqual(third.delivered, run(1, 5));
  // The fourth member's copies and any retransmission are duplicates.
  assert.deepEqual(send(c, d!, run(1, 5)).outcomes, Array(5).fill('duplicate'));
  assert.deepEqual(send(c, a!, run(1, 5)).delivered, []);
  assert.equal(c.delivered(Q), 5);
  assert.equal(c.pendingCount(Q), 0);
  for (const m of [a, b, c3, d]) assert.equal(c.heldBytes(Q, m!.vatId), 0, 'frames released');
});

test('order: a certified later seq waits for the earlier one; frames of any shape combine', () => {
  const c = combiner();
  for (const m of [a, b, c3]) send(c, m!, run(3, 2));
  assert.equal(c.delivered(Q), 0);
  send(c, a!, run(1, 2));
  send(c, b!, run(1, 1));
  assert.deepEqual(
    send(c, c3!, run(1, 2)).delivered.map((s) => s.seq),
    [1],
  );
  assert.deepEqual(
    send(c, b!, run(2, 1)).delivered.map((s) => s.seq),
    [2, 3, 4],
  );
});

test('after a restart from the committed mark: earlier seqs are duplicates, the next one delivers', () => {
  const c = combiner(q4.config, 10);
  for (const m of [a, b, c3]) assert.equal(send(c, m!, run(10, 2)).outcomes[0], 'duplicate');
  assert.deepEqual(c.delivered(Q), 11);
});

test('a forging member is outvoted; forged content is never delivered; fewer than k deliver nothing', () => {
  const c = combiner();
  send(c, d!, run(1, 3, 'forged'));
  send(c, a!, run(1, 3));
  assert.deepEqual(send(c, b!, run(1, 3)).delivered, [], 'two honest of k=3: nothing yet');
  const out = send(c, c3!, run(1, 3)).delivered;
  assert.deepEqual(out, run(1, 3));
  assert.ok(
    out.every(
      (s) => !s.msg.op.includes('forged') && (s.msg as { method: string }).method.startsWith('ok'),
    ),
  );
  // Two forgers (beyond f = 1) still cannot reach k = 3 with a forgery.
  const c2 = combiner();
  send(c2, d!, run(1, 1, 'x'));
  send(c2, a!, run(1, 1, 'x'));
  assert.equal(c2.delivered(Q), 0);
});

test('equivocation: both signed frames kept as portable evidence, once; the member ignored after', () => {
  const c = combiner();
  send(c, d!, run(1, 3));
  const second = send(c, d!, run(2, 1, 'other'));
  assert.equal(second.outcomes[0], 'equivocation');
  const e = second.evidence!;
  assert.equal(e.member, d!.vatId);
  assert.equal(e.seq, 2);
  assert.ok(verifyFrameEvidence(e), 'anyone can check it');
  assert.equal(c.evidence(Q).length, 1);
  assert.ok(c.isEquivocator(Q, d!.vatId));
  // Its earlier votes were dropped and it counts no more: a and b alone (k=3) deliver nothing.
  assert.equal(c.heldBytes(Q, d!.vatId), 0);
  assert.deepEqual(send(c, d!, run(1, 3)).outcomes, Array(3).fill('equivocator'));
  send(c, a!, run(1, 3));
  assert.deepEqual(send(c, b!, run(1, 3)).delivered, []);
  assert.deepEqual(send(c, c3!, run(1, 3)).delivered, run(1, 3));
  assert.equal(c.evidence(Q).length, 1, 'reported once');
});

test('evidence that proves nothing is refused', () => {
  const c = combiner();
  send(c, d!, run(1, 1));
  const e = send(c, d!, run(1, 1, 'other')).evidence!;
  assert.ok(verifyFrameEvidence(e));
  assert.equal(
    verifyFrameEvidence({ ...e, frames: [e.frames[0]!, e.frames[0]!] }),
    false,
    'same content',
  );
  assert.equal(verifyFrameEvidence({ ...e, member: a!.vatId }), false, 'other signer');
  assert.equal(verifyFrameEvidence({ ...e, seq: 2 }), false, 'seq not in the frames');
  const forged = { ...e.frames[1]!, signature: a!.sign(e.frames[1]!.signed) };
  assert.equal(
    verifyFrameEvidence({ ...e, frames: [e.frames[0]!, forged] }),
    false,
    'bad signature',
  );
  const garbage = { signed: new Uint8Array([1, 2, 3]), signature: new Uint8Array(64) };
  assert.equal(verifyFrameEvidence({ ...e, frames: [e.frames[0]!, garbage] }), false, 'garbage');
});

test('non-members and unknown quorums do not count', () => {
  const c = combiner();
  const o = outsider!;
  const proof = frame(o, run(1, 1));
  assert.equal(c.offer(Q, o.vatId, 1, run(1, 1)[0]!.msg, proof).outcome, 'not-a-member');
  const other = makeGenesis({
    name: 'x',
    nonce: '0'.repeat(32),
    members: q4.config.members,
    threshold: 3,
    admin: q4.admin.publicKey,
  });
  const otherQ = genesisConfig(other).quorum;
  assert.equal(c.offer(otherQ, a!.vatId, 1, run(1, 1)[0]!.msg, proof).outcome, 'unknown-quorum');
});

test('a removed member no longer counts; a lower threshold delivers what it already certifies', () => {
  const c = combiner();
  send(c, a!, run(1, 1));
  send(c, d!, run(1, 1));
  const removed: QuorumConfig = {
    ...q4.config,
    epoch: 1,
    members: q4.config.members.filter((m) => m !== d!.vatId),
    threshold: 2,
  };
  // d's vote is dropped; a alone is not 2.
  assert.deepEqual(c.setConfig(removed), []);
  assert.equal(c.heldBytes(Q, d!.vatId), 0);
  assert.equal(send(c, d!, run(1, 1)).outcomes[0], 'not-a-member');
  assert.deepEqual(send(c, b!, run(1, 1)).delivered, run(1, 1));
  // An older configuration is ignored.
  assert.deepEqual(c.setConfig(q4.config), []);
  send(c, a!, run(2, 1));
  const lower: QuorumConfig = { ...removed, epoch: 2, threshold: 1 };
  assert.deepEqual(c.setConfig(lower), run(2, 1));
});

test('bounded memory: a window of seqs, and each member pays for the frames its votes hold', () => {
  const window = q4.config.params.maxPendingPerSender;
  const c = combiner();
  assert.equal(send(c, d!, run(window + 1, 1)).outcomes[0], 'ahead');
  assert.equal(send(c, d!, run(window, 1)).outcomes[0], 'accepted');
  // A small budget: a Byzantine member fills its own, the honest members still deliver.
  const big = (tag: string): Sequenced[] =>
    Array.from({ length: 20 }, (_, i) => ({
      seq: 2 + i,
      msg: { ...msg(tag), args: { body: `#"${'x'.repeat(2000)}"`, slots: [] } },
    }));
  const small = combiner(q4.config, 0, 30_000);
  for (const m of big('junk')) {
    const r = small.offer(Q, d!.vatId, m.seq, m.msg, frame(d!, [m]));
    if (r.outcome === 'over-budget') break;
  }
  assert.ok(small.heldBytes(Q, d!.vatId) <= 30_000);
  const honest = big('ok');
  for (const m of [a, b, c3]) {
    send(small, m!, run(1, 1));
    for (const s of honest) small.offer(Q, m!.vatId, s.seq, s.msg, frame(m!, [s]));
  }
  // Each honest member is held to its own budget too: what did not fit is retransmitted later,
  // but the next seq is always taken, so delivery never stalls.
  assert.ok(small.delivered(Q)! >= 2);
  let rounds = 0;
  while (small.delivered(Q)! < 21 && rounds++ < 100) {
    for (const m of [a, b, c3]) {
      for (const s of honest) small.offer(Q, m!.vatId, s.seq, s.msg, frame(m!, [s]));
    }
  }
  assert.equal(small.delivered(Q), 21);
  for (const m of [a, b, c3]) assert.equal(small.heldBytes(Q, m!.vatId), 0);
});

test('randomized: honest content exactly once and in order, whatever one Byzantine member sends', async () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let trial = 0; trial < 20; trial++) {
    const c = combiner();
    const honest = run(1, 30);
    const got: Sequenced[] = [];
    const cursor = new Map<VatId, number>([a, b, c3].map((m) => [m!.vatId, 0]));
    let steps = 0;
    while (got.length < 30 && steps++ < 10_000) {
      const pick = Math.floor(rand() * 4);
      if (pick === 3) {
        // The Byzantine member: forged or equivocating content at random seqs.
        const seq = 1 + Math.floor(rand() * 35);
        const m = { seq, msg: msg(rand() < 0.5 ? `forged${seq}` : `ok${seq}`) };
        got.push(...send(c, d!, [m]).delivered);
        continue;
      }
      const m = [a, b, c3][pick]!;
      const at = cursor.get(m.vatId)!;
      if (at >= 30) continue;
      const n = 1 + Math.floor(rand() * 4);
      got.push(...send(c, m, honest.slice(at, at + n)).delivered);
      cursor.set(m.vatId, at + n);
    }
    assert.deepEqual(got, honest, `trial ${trial}`);
    assert.ok(c.evidence(Q).length <= 1);
  }
});
