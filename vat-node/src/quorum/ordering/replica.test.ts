// One Replica driven event by event: the voting rules, what it refuses and why, waiting for
// unseen inputs, evidence, idleness, determinism.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../../protocol/identity.ts';
import { publicKeyOfVatId } from '../../vattp/identity.ts';
import { verifySignature } from '../../vattp/signing.ts';
import { assembleCertificate, verifyCertificate } from '../certificate.ts';
import { makeTestQuorum } from '../testing.ts';
import { rootQC } from './certificates.ts';
import { decodeWire, encodeMessage, parseMessage } from './codec.ts';
import { checkEvidence } from './evidence.ts';
import { Replica, type ReplicaOptions } from './replica.ts';
import { prng } from './sim.ts';
import {
  blockIdOf,
  checkpointStatement,
  checkpointValue,
  genesisBlockId,
  inputDigest,
  proposalStatement,
  timeoutStatement,
  voteStatement,
} from './statements.ts';
import type { Block, Input, OrderingMessage, QC, ReplicaAction, TC } from './types.ts';

const q = await makeTestQuorum(4, 3);
const quorum = q.config.quorum;
const ids = q.config.members as VatId[];
const signer = (id: VatId) => q.signerOf.get(id)!;
const verify = (s: VatId, b: Uint8Array, sig: Uint8Array) => {
  try {
    return verifySignature(publicKeyOfVatId(s), b, sig);
  } catch {
    return false;
  }
};

function replica(self: VatId, extra: Partial<ReplicaOptions> = {}): Replica {
  return new Replica({
    self,
    genesis: q.config,
    crypto: { sign: signer(self), verify },
    viewTimeoutMs: 100,
    ...extra,
  });
}

/** Round r's leader is members[(r + epoch) mod n]. */
const leaderOf = (round: number) => ids[round % ids.length]!;
const ROOT_QC: QC = rootQC(q.config, genesisBlockId(quorum));

function input(from: string, seq: number, extra: Partial<Input> = {}): Input {
  return { kind: 'message', from, seq, body: Buffer.from(`${from}:${seq}`), ...extra };
}

function proposal(
  round: number,
  inputs: Input[],
  opts: { justify?: QC; height?: number; proposer?: VatId; badSig?: boolean } = {},
) {
  const justify = opts.justify ?? ROOT_QC;
  const proposer = opts.proposer ?? leaderOf(round);
  const block: Block = {
    epoch: 0,
    round,
    height: opts.height ?? 1,
    parent: justify.blockId,
    proposer,
    justify,
    inputs,
  };
  const id = blockIdOf(quorum, block, inputs.map(inputDigest));
  const sig = opts.badSig
    ? new Uint8Array(64)
    : signer(proposer)(proposalStatement(quorum, 0, round, id));
  const message: OrderingMessage = { type: 'proposal', block, sig };
  return { id, block, sig, message };
}

function vote(voter: VatId, round: number, blockId: string, proposalSig: Uint8Array) {
  return {
    type: 'vote' as const,
    epoch: 0,
    round,
    blockId,
    signer: voter,
    sig: signer(voter)(voteStatement(quorum, 0, round, blockId)),
    proposalSig,
  };
}

const of = <T extends ReplicaAction['type']>(actions: ReplicaAction[], type: T) =>
  actions.filter((a): a is Extract<ReplicaAction, { type: T }> => a.type === type);

const votesIn = (actions: ReplicaAction[]) =>
  of(actions, 'broadcast').filter((a) => a.message.type === 'vote');

// A follower of round 1 (not its leader).
const follower = ids.find((id) => id !== leaderOf(1))!;

test('votes once for the leader of round 1, after it saw the inputs', () => {
  const r = replica(follower);
  r.handle({ type: 'submit', input: input('alice', 1) });
  const p = proposal(1, [input('alice', 1)]);
  const out = r.handle({ type: 'message', from: leaderOf(1), message: p.message });
  const votes = votesIn(out);
  assert.equal(votes.length, 1);
  assert.equal(votes[0]!.message.type === 'vote' && votes[0]!.message.blockId, p.id);
  // The same proposal again: nothing (a replay).
  assert.deepEqual(r.handle({ type: 'message', from: leaderOf(1), message: p.message }), []);
});

test('waits for an input it has not received, then votes when it arrives', () => {
  const r = replica(follower);
  const p = proposal(1, [input('alice', 1), input('alice', 2)]);
  r.handle({ type: 'submit', input: input('alice', 1) });
  const first = r.handle({ type: 'message', from: leaderOf(1), message: p.message });
  assert.equal(votesIn(first).length, 0, 'no vote without alice #2');
  assert.equal(of(first, 'rejected').length, 0, 'not refused either');
  assert.equal(of(first, 'cancel-timer').length, 0, 'the round timer keeps running meanwhile');
  const second = r.handle({ type: 'submit', input: input('alice', 2) });
  assert.equal(votesIn(second).length, 1);
});

test('an unseen input with a valid sender signature needs no wait; a bad one refuses the block', () => {
  const signed = input('alice', 1, { auth: Buffer.from('good') });
  const forged = input('alice', 1, { auth: Buffer.from('bad!') });
  const authenticateInput = (i: Input) => Buffer.from(i.auth ?? []).toString() === 'good';
  const r1 = replica(follower, { authenticateInput });
  assert.equal(
    votesIn(
      r1.handle({ type: 'message', from: leaderOf(1), message: proposal(1, [signed]).message }),
    ).length,
    1,
  );
  const r2 = replica(follower, { authenticateInput });
  const out = r2.handle({
    type: 'message',
    from: leaderOf(1),
    message: proposal(1, [forged]).message,
  });
  assert.equal(votesIn(out).length, 0);
  assert.match(of(out, 'rejected')[0]!.reason, /its sender did not sign it/);
});

test('an unseen input whose auth the member cannot check yet waits, like an unseen input', () => {
  const signed = input('alice', 1, { auth: Buffer.from('part of a run') });
  const r = replica(follower, { authenticateInput: () => 'unknown' });
  const out = r.handle({
    type: 'message',
    from: leaderOf(1),
    message: proposal(1, [signed]).message,
  });
  assert.equal(votesIn(out).length, 0, 'no vote for what it cannot check');
  assert.equal(of(out, 'rejected').length, 0, 'not refused either');
  // The sender's own copy arrives: now it votes.
  assert.equal(votesIn(r.handle({ type: 'submit', input: signed })).length, 1);
});

test('refuses blocks that break a sender sequence: gaps, repeats, order', () => {
  for (const [inputs, why] of [
    [[input('alice', 2)], /alice #2 out of order \(expected #1\)/],
    [[input('alice', 1), input('alice', 1)], /alice #1 out of order \(expected #2\)/],
    [[input('alice', 1), input('alice', 3)], /alice #3 out of order/],
  ] as const) {
    const r = replica(follower);
    for (const i of inputs) r.handle({ type: 'submit', input: i });
    const out = r.handle({
      type: 'message',
      from: leaderOf(1),
      message: proposal(1, [...inputs]).message,
    });
    assert.equal(votesIn(out).length, 0);
    assert.match(of(out, 'rejected')[0]?.reason ?? '', why);
  }
});

test('refuses proposals from non-leaders, with bad signatures, relayed, or forged certificates', () => {
  const notLeader = ids.find((id) => id !== leaderOf(1))!;
  const cases: [VatId, OrderingMessage, RegExp][] = [
    [notLeader, proposal(1, [], { proposer: notLeader }).message, /not the leader of round 1/],
    [leaderOf(1), proposal(1, [], { badSig: true }).message, /bad proposal signature/],
    [notLeader, proposal(1, []).message, /proposal relayed by another peer/],
    [
      leaderOf(2),
      proposal(2, [], {
        justify: {
          ...assembleCertificate(
            q.config,
            ids.slice(0, 3).map((s) => [s, new Uint8Array(64)]),
          ),
          round: 1,
          blockId: 'cd'.repeat(32),
        },
      }).message,
      /proposal justify: bad signature/,
    ],
    [leaderOf(3), proposal(3, []).message, /proposal skips rounds without a timeout certificate/],
  ];
  for (const [from, message, why] of cases) {
    const r = replica(follower === from ? ids.find((x) => x !== from)! : follower);
    const out = r.handle({ type: 'message', from, message });
    assert.equal(votesIn(out).length, 0, String(why));
    assert.match(of(out, 'rejected')[0]?.reason ?? '(none)', why);
  }
});

test('an equivocating leader: the second proposal is refused and reported once, with both signatures', () => {
  const r = replica(follower);
  const a = proposal(1, []);
  r.handle({ type: 'submit', input: input('alice', 1) });
  const b = proposal(1, [input('alice', 1)]);
  const c = proposal(1, [input('alice', 1)], { height: 1, justify: ROOT_QC });
  r.handle({ type: 'message', from: leaderOf(1), message: a.message });
  const out = r.handle({ type: 'message', from: leaderOf(1), message: b.message });
  const ev = of(out, 'evidence');
  assert.equal(ev.length, 1);
  const e = ev[0]!.evidence;
  assert.equal(e.kind, 'proposal');
  assert.ok(e.kind === 'proposal');
  assert.equal(e.signer, leaderOf(1));
  assert.deepEqual([e.a.blockId, e.b.blockId], [a.id, b.id]);
  assert.ok(verify(e.signer, proposalStatement(quorum, 0, 1, e.a.blockId), e.a.sig));
  assert.ok(verify(e.signer, proposalStatement(quorum, 0, 1, e.b.blockId), e.b.sig));
  assert.equal(votesIn(out).length, 0, 'voted once (for the first)');
  assert.equal(c.id, b.id);
  const again = r.handle({ type: 'message', from: leaderOf(1), message: b.message });
  assert.equal(of(again, 'evidence').length, 0, 'reported once');
});

test('a member that votes twice in a round is reported; votes from non-members, relayed or forged are refused', async () => {
  const r = replica(follower);
  const voter = ids.find((x) => x !== follower)!;
  const p1 = proposal(1, []);
  const v1 = vote(voter, 1, p1.id, p1.sig);
  const v2 = vote(voter, 1, 'ee'.repeat(32), p1.sig);
  assert.deepEqual(of(r.handle({ type: 'message', from: voter, message: v1 }), 'rejected'), []);
  const out = r.handle({ type: 'message', from: voter, message: v2 });
  assert.equal(of(out, 'evidence')[0]?.evidence.kind, 'vote');
  assert.match(of(out, 'rejected')[0]!.reason, /second vote in round 1/);

  const [outsider] = (await makeTestQuorum(1, 1)).members;
  const nonMember = {
    ...v1,
    signer: outsider!.vatId,
    sig: outsider!.sign(voteStatement(quorum, 0, 1, p1.id)),
  };
  for (const [from, message, why] of [
    [outsider!.vatId, nonMember, /vote from a non-member of epoch 0/],
    [ids.find((x) => x !== voter && x !== follower)!, v1, /vote relayed by another peer/],
    [voter, { ...v1, round: 2, sig: v1.sig }, /bad vote signature/],
  ] as const) {
    const out2 = r.handle({ type: 'message', from, message });
    assert.match(of(out2, 'rejected')[0]?.reason ?? '(none)', why);
  }
});

test('malformed messages are refused with a reason and never throw', () => {
  const r = replica(follower);
  const samples: unknown[] = [
    null,
    undefined,
    0,
    'x',
    [],
    {},
    { type: 'proposal' },
    { type: 'vote', epoch: -1 },
    { type: 'vote', epoch: 0, round: 1.5 },
    { type: 'timeout', epoch: 0, round: 1, signer: 'x', highQC: {}, sig: 1 },
    { type: 'sync', fromHeight: 'a' },
    { type: 'sync-reply', segments: 'x' },
    { type: 'checkpoint', epoch: 0, height: 4, hash: 'zz', signer: 'x', sig: new Uint8Array(1) },
    decodeWire(Buffer.from('{"type":"vote","sig":{"$b":"!!"}}')),
    new Proxy(
      {},
      {
        get() {
          throw new Error('hostile getter');
        },
      },
    ),
  ];
  // Random mutations of a valid proposal.
  const base = JSON.parse(
    Buffer.from(encodeMessage(proposal(1, [input('a', 1)]).message)).toString(),
  );
  const rand = prng(1);
  for (let i = 0; i < 500; i++) {
    const copy = structuredClone(base);
    const paths: [Record<string, unknown>, string][] = [];
    const walk = (o: unknown) => {
      if (typeof o !== 'object' || o === null) return;
      for (const k of Object.keys(o)) {
        paths.push([o as Record<string, unknown>, k]);
        walk((o as Record<string, unknown>)[k]);
      }
    };
    walk(copy);
    const [o, k] = paths[Math.floor(rand() * paths.length)]!;
    o[k] = [null, -1, 'x', Number.POSITIVE_INFINITY, [], {}, 2 ** 60, true][Math.floor(rand() * 8)];
    samples.push(decodeWire(Buffer.from(JSON.stringify(copy))));
  }
  for (const message of samples) {
    const out = r.handle({ type: 'message', from: leaderOf(1), message });
    assert.ok(
      // (A mutation that changes nothing leaves a valid proposal: held, not yet voted for.)
      out.every((a) => ['rejected', 'set-timer', 'cancel-timer', 'persist-block'].includes(a.type)),
      JSON.stringify(out.map((a) => a.type)),
    );
  }
  assert.equal(r.status().round, 1, 'nothing moved');
});

test('an idle member sends nothing and runs no timer; an input arms the round timer', () => {
  const r = replica(follower);
  assert.deepEqual(r.handle({ type: 'start' }), []);
  const out = r.handle({ type: 'submit', input: input('bob', 1) });
  assert.deepEqual(of(out, 'set-timer'), [
    { type: 'set-timer', timer: 'round', delayMs: 100, epoch: 0, round: 1 },
  ]);
  // The timer fires: a signed timeout, and the next timer doubles.
  const fired = r.handle({ type: 'timer', timer: 'round', epoch: 0, round: 1 });
  const timeout = of(fired, 'broadcast').find((a) => a.message.type === 'timeout');
  assert.ok(timeout);
  assert.equal(of(fired, 'set-timer')[0]?.delayMs, 200);
  // A stale timer event does nothing.
  assert.deepEqual(r.handle({ type: 'timer', timer: 'round', epoch: 0, round: 7 }), []);
});

test('the leader batches what it has and proposes once per round', () => {
  const r = replica(leaderOf(1), { maxBatch: 3 });
  const actions: ReplicaAction[] = [];
  for (let i = 1; i <= 5; i++)
    actions.push(...r.handle({ type: 'submit', input: input('carol', i) }));
  const proposals = of(actions, 'broadcast').filter((a) => a.message.type === 'proposal');
  assert.equal(proposals.length, 1, 'one proposal in round 1');
  const p = proposals[0]!.message;
  assert.ok(p.type === 'proposal');
  assert.deepEqual(
    p.block.inputs.map((i) => i.seq),
    [1],
    'proposed as soon as it had something',
  );
});

test('a configuration where two quorums need not intersect (2k ≤ n) or k > n is refused', () => {
  for (const [members, threshold] of [
    [ids, 2],
    [ids, 5],
    [ids.slice(0, 2), 1],
  ] as const) {
    assert.throws(
      () => replica(ids[0]!, { genesis: { ...q.config, members, threshold } }),
      /2k ≤ n|nothing could ever be decided/,
    );
  }
});

test('deterministic: the same events give the same actions', () => {
  const events = [
    { type: 'submit' as const, input: input('alice', 1) },
    {
      type: 'message' as const,
      from: leaderOf(1),
      message: proposal(1, [input('alice', 1)]).message,
    },
    { type: 'timer' as const, timer: 'round' as const, epoch: 0, round: 2 },
    { type: 'submit' as const, input: input('alice', 2) },
  ];
  const run = () => {
    const r = replica(follower);
    return events.flatMap((e) => r.handle(e));
  };
  assert.deepEqual(run(), run());
});

test('after a view change a member votes only for a block extending the highest QC in the TC (R2)', () => {
  const b1 = proposal(1, []);
  const qc1: QC = {
    ...assembleCertificate(
      q.config,
      ids.slice(0, 3).map((s) => [s, vote(s, 1, b1.id, b1.sig).sig]),
    ),
    round: 1,
    blockId: b1.id,
  };
  const tc2: TC = {
    epoch: 0,
    round: 2,
    timeouts: ids.slice(0, 3).map((s, i) => {
      const highQcRound = i === 0 ? 1 : 0;
      return {
        signer: s,
        highQcRound,
        sig: signer(s)(timeoutStatement(quorum, 0, 2, highQcRound)),
      };
    }),
  };
  const voter = ids.find((id) => id !== leaderOf(3) && id !== leaderOf(1))!;
  const withTC = (justify: QC, height: number) => {
    const block: Block = {
      epoch: 0,
      round: 3,
      height,
      parent: justify.blockId,
      proposer: leaderOf(3),
      justify,
      tc: tc2,
      inputs: [],
    };
    const id = blockIdOf(quorum, block, []);
    const sig = signer(leaderOf(3))(proposalStatement(quorum, 0, 3, id));
    return { type: 'proposal' as const, block, sig };
  };
  // Extending the root (round 0) although a TC signer held QC(1): refused.
  const r = replica(voter);
  r.handle({ type: 'message', from: leaderOf(1), message: b1.message });
  const stale = r.handle({ type: 'message', from: leaderOf(3), message: withTC(ROOT_QC, 1) });
  assert.equal(votesIn(stale).length, 0);
  assert.equal(r.currentRound, 3, 'the TC moved it to round 3');
  // Extending QC(1): voted.
  const r2 = replica(voter);
  r2.handle({ type: 'message', from: leaderOf(1), message: b1.message });
  const good = r2.handle({ type: 'message', from: leaderOf(3), message: withTC(qc1, 2) });
  assert.equal(votesIn(good).length, 1);
});

test('two transcript hashes from one member at one height are evidence; codec round-trips', () => {
  const r = replica(follower, { checkpointInterval: 4 });
  const other = ids.find((x) => x !== follower)!;
  const cp = (hash: string) => ({
    type: 'checkpoint' as const,
    epoch: 0,
    height: 4,
    hash,
    signer: other,
    sig: signer(other)(checkpointStatement(quorum, 0, 4, hash)),
  });
  r.handle({ type: 'message', from: other, message: cp('a'.repeat(64)) });
  const out = r.handle({ type: 'message', from: other, message: cp('b'.repeat(64)) });
  const ev = of(out, 'evidence')[0]?.evidence;
  assert.equal(ev?.kind, 'checkpoint');
  assert.match(of(out, 'rejected')[0]!.reason, /two transcript hashes at height 4/);
  // Every message kind survives encode → decode → parse unchanged.
  const p = proposal(1, [input('alice', 1, { auth: new Uint8Array([1, 2]) })]);
  for (const m of [p.message, vote(other, 1, p.id, p.sig), cp('c'.repeat(64))]) {
    const back = parseMessage(decodeWire(encodeMessage(m)));
    assert.ok(back.ok, back.ok ? '' : back.reason);
    assert.deepEqual(Buffer.from(encodeMessage(back.message)), Buffer.from(encodeMessage(m)));
    assert.equal(JSON.stringify(Object.keys(back.message)), JSON.stringify(Object.keys(m)));
  }
});

test('a vote claiming an unsigned proposal does not make the real proposal look like equivocation', () => {
  const r = replica(follower);
  const voter = ids.find((x) => x !== follower && x !== leaderOf(1))!;
  const fake = 'ab'.repeat(32);
  const lie = { ...vote(voter, 1, fake, new Uint8Array(64)) };
  r.handle({ type: 'message', from: voter, message: lie });
  const real = proposal(1, []);
  const out = r.handle({ type: 'message', from: leaderOf(1), message: real.message });
  assert.equal(of(out, 'evidence').length, 0);
  assert.equal(of(out, 'rejected').length, 0);
  assert.equal(votesIn(out).length, 1);
});

test('sync: a repeated request gets a logarithmic trickle of replies; non-members are refused', async () => {
  const r = replica(follower);
  const peer = ids.find((x) => x !== follower)!;
  const ask = () =>
    r.handle({ type: 'message', from: peer, message: { type: 'sync', fromHeight: 1 } });
  const answered = Array.from({ length: 64 }, () => of(ask(), 'send').length);
  // Answered the 1st, 2nd, 4th, 8th, 16th, 32nd, 64th time only.
  assert.deepEqual(
    answered.flatMap((n, i) => (n > 0 ? [i + 1] : [])),
    [1, 2, 4, 8, 16, 32, 64],
  );
  const [outsider] = (await makeTestQuorum(1, 1)).members;
  const out = r.handle({
    type: 'message',
    from: outsider!.vatId,
    message: { type: 'sync', fromHeight: 1 },
  });
  assert.match(of(out, 'rejected')[0]?.reason ?? '', /sync from a peer that is not a member/);
});

test('the highest voted round is persisted before the vote leaves, and honoured after a restart', () => {
  const r = replica(follower);
  const a = proposal(1, []);
  const out = r.handle({ type: 'message', from: leaderOf(1), message: a.message });
  const persisted = out.findIndex((x) => x.type === 'persist-safety');
  const voted = out.findIndex((x) => x.type === 'broadcast' && x.message.type === 'vote');
  assert.ok(persisted >= 0 && persisted < voted, 'persist first, then vote');
  assert.deepEqual(out[persisted], {
    type: 'persist-safety',
    state: { epoch: 0, highestVotedRound: 1, highQC: ROOT_QC },
  });
  // The leader equivocates; the member restarted in between with its state: no second vote.
  r.handle({ type: 'submit', input: input('alice', 1) });
  const b = proposal(1, [input('alice', 1)]);
  const restarted = replica(follower, {
    safety: { epoch: 0, highestVotedRound: 1, highQC: ROOT_QC },
  });
  restarted.handle({ type: 'submit', input: input('alice', 1) });
  assert.equal(
    votesIn(restarted.handle({ type: 'message', from: leaderOf(1), message: b.message })).length,
    0,
  );
  // Without it, it would have voted a second time in round 1 (what the state is for).
  const amnesiac = replica(follower);
  amnesiac.handle({ type: 'submit', input: input('alice', 1) });
  assert.equal(
    votesIn(amnesiac.handle({ type: 'message', from: leaderOf(1), message: b.message })).length,
    1,
  );
});

test('a resumed member keeps naming its highest certificate in view changes', () => {
  const held: QC = {
    ...assembleCertificate(
      q.config,
      ids.slice(0, 3).map((s) => [s, new Uint8Array(64)]),
    ),
    round: 6,
    blockId: 'cd'.repeat(32),
  };
  const r = replica(follower, {
    resume: {
      configs: [q.config],
      tip: { id: 'ab'.repeat(32), epoch: 0, round: 4, height: 3 },
      next: new Map([['message\u0000alice', 4]]),
    },
    safety: { epoch: 0, highestVotedRound: 7, highQC: held },
  });
  assert.equal(r.decidedHeight, 3);
  assert.equal(r.currentRound, 7);
  // alice #1..3 are decided: ignored; #4 is kept.
  r.handle({ type: 'submit', input: input('alice', 2) });
  assert.equal(r.status().pendingInputs, 0);
  r.handle({ type: 'submit', input: input('alice', 4) });
  assert.equal(r.status().pendingInputs, 1);
  const out = r.handle({ type: 'timer', timer: 'round', epoch: 0, round: 7 });
  const timeout = of(out, 'broadcast').find((a) => a.message.type === 'timeout');
  assert.ok(timeout !== undefined && timeout.message.type === 'timeout');
  assert.equal(timeout.message.highQC.round, 6);
  assert.equal(votesIn(out).length, 0);
});

test('a QC is a certificate of vote statements only: signatures of another kind, round or quorum make no QC', async () => {
  const other = await makeTestQuorum(4, 3);
  const b1 = proposal(1, []);
  const qcOf = (statement: (s: VatId) => Uint8Array): QC => ({
    ...assembleCertificate(
      q.config,
      ids.slice(0, 3).map((s) => [s, signer(s)(statement(s))]),
    ),
    round: 1,
    blockId: b1.id,
  });
  const good = qcOf(() => voteStatement(quorum, 0, 1, b1.id));
  const forged: [string, QC][] = [
    ['proposal statements', qcOf(() => proposalStatement(quorum, 0, 1, b1.id))],
    ['timeout statements', qcOf(() => timeoutStatement(quorum, 0, 1, 0))],
    ['checkpoint statements', qcOf(() => checkpointStatement(quorum, 0, 1, b1.id))],
    ['votes of another round', qcOf(() => voteStatement(quorum, 0, 2, b1.id))],
    ['votes of another epoch', qcOf(() => voteStatement(quorum, 1, 1, b1.id))],
    ['votes in another quorum', qcOf(() => voteStatement(other.config.quorum, 0, 1, b1.id))],
  ];
  const to = ids.find((x) => x !== leaderOf(2))!;
  for (const [what, justify] of [['votes', good] as [string, QC], ...forged]) {
    const r = replica(to);
    r.handle({ type: 'message', from: leaderOf(1), message: b1.message });
    const p2 = proposal(2, [], { justify, height: 2 });
    const out = r.handle({ type: 'message', from: leaderOf(2), message: p2.message });
    const refused = of(out, 'rejected').map((a) => a.reason);
    if (justify === good) assert.deepEqual(refused, [], what);
    else assert.match(refused[0] ?? '(none)', /proposal justify: bad signature/, what);
  }
});

test('a transcript lie is evidence carrying the k-of-n checkpoint certificate; anyone can check it', () => {
  const r = replica(follower, { checkpointInterval: 4 });
  const others = ids.filter((x) => x !== follower);
  const cp = (from: VatId, hash: string) => ({
    type: 'checkpoint' as const,
    epoch: 0,
    height: 4,
    hash,
    signer: from,
    sig: signer(from)(checkpointStatement(quorum, 0, 4, hash)),
  });
  const actions: ReplicaAction[] = [];
  actions.push(
    ...r.handle({ type: 'message', from: others[0]!, message: cp(others[0]!, 'a'.repeat(64)) }),
  );
  actions.push(
    ...r.handle({ type: 'message', from: others[1]!, message: cp(others[1]!, 'a'.repeat(64)) }),
  );
  actions.push(
    ...r.handle({ type: 'message', from: others[2]!, message: cp(others[2]!, 'b'.repeat(64)) }),
  );
  actions.push(...r.handle({ type: 'executed', height: 4, hash: 'a'.repeat(64) }));
  const stable = of(actions, 'stable-checkpoint')[0];
  assert.ok(stable !== undefined, 'three of four agree on a');
  assert.deepEqual(
    verifyCertificate(q.config, checkpointStatement(quorum, 0, 4, stable.hash), stable.certificate),
    { ok: true, signers: [follower, others[0]!, others[1]!].sort() },
  );
  const transcript = of(actions, 'evidence')
    .map((a) => a.evidence)
    .find((e) => e.kind === 'transcript');
  assert.ok(transcript !== undefined && transcript.kind === 'transcript');
  assert.equal(transcript.signer, others[2]);
  assert.equal(checkEvidence(q.config, transcript, verify), undefined);
  // The same evidence with a certificate that does not hold k valid signatures is refused.
  const sigs = Buffer.from(transcript.agreed.certificate.signatures, 'base64url');
  sigs[0]! ^= 1;
  const broken = {
    ...transcript,
    agreed: {
      ...transcript.agreed,
      certificate: { ...transcript.agreed.certificate, signatures: sigs.toString('base64url') },
    },
  };
  assert.match(checkEvidence(q.config, broken, verify) ?? '', /only 2 valid signatures/);
});

test('with a state digest, a checkpoint signs the transcript hash and the state together', () => {
  const hash = 'a'.repeat(64);
  const cp = (from: VatId, state: string) => {
    const value = checkpointValue(hash, state);
    return {
      type: 'checkpoint' as const,
      epoch: 0,
      height: 4,
      hash: value,
      signer: from,
      sig: signer(from)(checkpointStatement(quorum, 0, 4, value)),
    };
  };
  const others = ids.filter((x) => x !== follower);
  // Same transcript, same state as two others: stable, certified on the combined value.
  const asked: number[] = [];
  const r = replica(follower, {
    checkpointInterval: 4,
    stateDigest: (h) => {
      asked.push(h);
      return 'c'.repeat(64);
    },
  });
  const actions = [
    ...r.handle({ type: 'executed', height: 3, hash }),
    ...r.handle({ type: 'executed', height: 4, hash }),
    ...r.handle({ type: 'message', from: others[0]!, message: cp(others[0]!, 'c'.repeat(64)) }),
    ...r.handle({ type: 'message', from: others[1]!, message: cp(others[1]!, 'c'.repeat(64)) }),
  ];
  assert.deepEqual(asked, [4], 'the state is asked for at checkpoint heights only');
  const mine = of(actions, 'broadcast')[0]!.message;
  assert.equal(mine.type === 'checkpoint' && mine.hash, checkpointValue(hash, 'c'.repeat(64)));
  const stable = of(actions, 'stable-checkpoint')[0];
  assert.equal(stable?.hash, checkpointValue(hash, 'c'.repeat(64)));
  assert.equal(of(actions, 'diverged').length, 0);
  // Same transcript, another state than the k that agree: this member has diverged.
  const d = replica(follower, { checkpointInterval: 4, stateDigest: () => 'd'.repeat(64) });
  const out = [
    ...d.handle({ type: 'message', from: others[0]!, message: cp(others[0]!, 'c'.repeat(64)) }),
    ...d.handle({ type: 'message', from: others[1]!, message: cp(others[1]!, 'c'.repeat(64)) }),
    ...d.handle({ type: 'message', from: others[2]!, message: cp(others[2]!, 'c'.repeat(64)) }),
    ...d.handle({ type: 'executed', height: 4, hash }),
  ];
  assert.equal(of(out, 'diverged').length, 1);
  assert.notEqual(checkpointValue(hash, 'c'.repeat(64)), checkpointValue(hash, 'd'.repeat(64)));
});
