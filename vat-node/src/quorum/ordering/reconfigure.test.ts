// Membership changes through the order: an administrator's signed request is decided like any
// input and switches the epoch right after its height; learners follow by sync, verifying each
// segment against its epoch's configuration, and become voters when added; a removed member's
// signatures stop counting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestChange } from '../chain.ts';
import { equivocatingLeader } from './faults.ts';
import { reconfigureFromChain, reconfigureInput } from './reconfigure.ts';
import { type Behaviour, checkInvariants, Sim, type SimMember } from './sim.ts';
import { voteStatement } from './statements.ts';
import type { ReplicaAction } from './types.ts';

const SENDERS = ['alice', 'bob'];

function inputsOf(m: SimMember): string[] {
  return m.decided.flatMap((d) => d.inputs.map((i) => `${i.kind}|${i.from}#${i.seq}`));
}

function epochActions(m: SimMember) {
  return m.actions.filter(
    (a): a is Extract<ReplicaAction, { type: 'epoch' }> => a.type === 'epoch',
  );
}

test('(3,2) + learner: add it as a voter (4,3), then remove a founder (3,2), while inputs flow', async () => {
  const sim = await Sim.create({
    seed: 21,
    n: 3,
    k: 2,
    learners: 1,
    crypto: 'ed25519',
    keepActions: true,
    replica: { reconfigure: reconfigureFromChain, syncIntervalMs: 50 },
  });
  const [a, b, c, learner] = sim.ids as [string, string, string, string];
  assert.ok(!sim.member(learner).replica.isMember, 'starts as a learner');
  sim.start();
  sim.stream(SENDERS, 600, 3);
  const probe = sim.member(a);
  assert.ok(sim.run(30_000, () => inputsOf(probe).length >= 300));

  // The administrator asks to add the learner, threshold 3.
  const add = requestChange(sim.quorum.admin.sign, probe.replica.configuration, {
    op: 'add',
    member: learner,
    threshold: 3,
  });
  const addInput = reconfigureInput(add.request, add.admin, 'admin', 1);
  sim.submit('admin', 1, addInput.body, 'reconfigure');
  assert.ok(
    sim.run(30_000, () => sim.member(learner).replica.isMember),
    'learner voted in',
  );
  const [e1] = epochActions(probe);
  assert.ok(e1 !== undefined);
  assert.equal(e1.config.epoch, 1);
  assert.deepEqual([...e1.config.members].sort(), [a, b, c, learner].sort());
  const decidedAt = probe.decided.find((d) => d.inputs.some((i) => i.kind === 'reconfigure'))!;
  assert.equal(e1.since, decidedAt.height + 1, 'in force right after the deciding height');
  assert.equal(decidedAt.inputs.at(-1)!.kind, 'reconfigure', 'a change ends its batch');

  // Then remove founder c, threshold 2.
  const remove = requestChange(sim.quorum.admin.sign, probe.replica.configuration, {
    op: 'remove',
    member: c,
    threshold: 2,
  });
  sim.submit(
    'admin',
    2,
    reconfigureInput(remove.request, remove.admin, 'admin', 2).body,
    'reconfigure',
  );
  assert.ok(
    sim.run(30_000, () => probe.replica.epoch === 2),
    'epoch 2',
  );
  assert.ok(
    sim.run(60_000, () => sim.allDecided([sim.member(a), sim.member(b), sim.member(learner)])),
  );
  sim.run(500);

  // Everyone agrees, including the new member and the removed one (now a learner following).
  const all = [a, b, c, learner].map((id) => sim.member(id));
  const v = checkInvariants(sim, all);
  assert.ok(v.ok, v.problems.join('; '));
  assert.deepEqual(inputsOf(sim.member(learner)), inputsOf(probe));
  assert.equal(sim.member(c).replica.isMember, false);
  assert.ok(sim.run(30_000, () => inputsOf(sim.member(c)).length === inputsOf(probe).length));
  for (const m of all) {
    assert.deepEqual(
      epochActions(m).map((e) => [e.config.epoch, e.since]),
      epochActions(probe).map((e) => [e.config.epoch, e.since]),
      'every member switched at the same heights',
    );
  }

  // A vote signed by the removed member no longer counts.
  const round = probe.replica.currentRound;
  const blockId = 'ab'.repeat(32);
  const statement = voteStatement(sim.quorum.config.quorum, 2, round, blockId);
  const before = probe.rejected.length;
  sim.send(c, a, {
    type: 'vote',
    epoch: 2,
    round,
    blockId,
    signer: c,
    sig: sim.member(c).sign(statement),
    proposalSig: new Uint8Array(64),
  });
  sim.run(100);
  assert.match(probe.rejected.at(before)?.reason ?? '', /non-member of epoch 2/);
  // A member's signed vote of an earlier epoch no longer counts either.
  const old = voteStatement(sim.quorum.config.quorum, 0, round, blockId);
  sim.send(b, a, {
    type: 'vote',
    epoch: 0,
    round,
    blockId,
    signer: b,
    sig: sim.member(b).sign(old),
    proposalSig: new Uint8Array(64),
  });
  sim.run(100);
  assert.match(probe.rejected.at(before + 1)?.reason ?? '', /vote of old epoch 0/);
});

test('a change the administrator did not sign is decided but changes nothing', async () => {
  const sim = await Sim.create({
    seed: 22,
    n: 4,
    k: 3,
    crypto: 'fake',
    keepActions: true,
    replica: { reconfigure: reconfigureFromChain },
  });
  const probe = sim.member(sim.ids[0]!);
  const forged = requestChange(sim.quorum.admin.sign, probe.replica.configuration, {
    op: 'threshold',
    threshold: 4,
  });
  const bad = reconfigureInput(
    { ...forged.request, change: { op: 'threshold', threshold: 2 } },
    forged.admin,
    'mallory',
    1,
  );
  sim.start();
  sim.submit('mallory', 1, bad.body, 'reconfigure');
  sim.stream(SENDERS, 50, 2);
  assert.ok(sim.run(30_000, () => sim.allDecided()));
  assert.ok(inputsOf(probe).includes('reconfigure|mallory#1'), 'ordered like any input');
  for (const m of sim.members.values()) {
    assert.equal(m.replica.epoch, 0);
    assert.equal(epochActions(m).length, 0);
  }
});

test('a learner that joins late catches up from genesis, verifying every segment', async () => {
  const sim = await Sim.create({
    seed: 23,
    n: 4,
    k: 3,
    learners: 1,
    crypto: 'ed25519',
    replica: { syncIntervalMs: 50 },
  });
  const learner = sim.member(sim.ids[4]!);
  learner.crashed = true; // not there yet
  sim.start();
  sim.stream(SENDERS, 400, 1);
  const members = sim.ids.slice(0, 4).map((id) => sim.member(id));
  assert.ok(sim.run(30_000, () => sim.allDecided(members)));
  learner.crashed = false;
  sim.deliver(learner, { type: 'start' });
  assert.ok(sim.run(30_000, () => inputsOf(learner).length === 800));
  assert.deepEqual(inputsOf(learner), inputsOf(members[0]!));
  assert.ok(checkInvariants(sim, [...members, learner]).ok);
});

test('a learner whose heights are no longer kept is told to restore a checkpoint (once)', async () => {
  const sim = await Sim.create({
    seed: 24,
    n: 3,
    k: 2,
    learners: 1,
    crypto: 'fake',
    keepActions: true,
    replica: { syncIntervalMs: 50, keepDecided: 5 },
  });
  const learner = sim.member(sim.ids[3]!);
  learner.crashed = true;
  sim.start();
  sim.stream(SENDERS, 300, 5);
  const members = sim.ids.slice(0, 3).map((id) => sim.member(id));
  assert.ok(sim.run(30_000, () => sim.allDecided(members)));
  assert.ok(members[0]!.decided.length > 5);
  learner.crashed = false;
  sim.deliver(learner, { type: 'start' });
  sim.run(1000);
  const asks = learner.actions.filter((a) => a.type === 'state-transfer-needed');
  assert.equal(asks.length, 1);
  assert.deepEqual(asks[0], {
    type: 'state-transfer-needed',
    fromHeight: 1,
    oldestKept: members[0]!.decided.length - 4,
  });
  assert.equal(learner.decided.length, 0, 'it decides nothing it cannot verify from its state');
});

test('randomized: membership changes under drops and partitions keep one order and one epoch schedule', async () => {
  const seeds = Number(process.env.ORDERING_SEEDS ?? 40) / 2;
  for (let seed = 500; seed < 500 + seeds; seed++) {
    const sim = await Sim.create({
      seed,
      n: 4,
      k: 3,
      learners: 1,
      crypto: 'fake',
      keepActions: true,
      dropRate: 0.15,
      gstMs: 2500,
      maxDelayMs: 25,
      replica: { reconfigure: reconfigureFromChain, syncIntervalMs: 80 },
    });
    const r = sim.rand;
    const ids = sim.ids;
    const learner = ids[4]!;
    const probe = sim.member(ids[0]!);
    sim.schedule(r() * 800, () => {
      const cut = 1 + Math.floor(r() * 3);
      sim.partition([ids.slice(0, cut), ids.slice(cut)]);
      sim.schedule(r() * 1000, () => sim.heal());
    });
    sim.start();
    sim.stream(SENDERS, 150, 8);
    // Add the learner (5,4) at a random time, then remove a random founder (4,3).
    sim.schedule(200 + r() * 600, () => {
      const add = requestChange(sim.quorum.admin.sign, probe.replica.configuration, {
        op: 'add',
        member: learner,
        threshold: 4,
      });
      sim.submit(
        'admin',
        1,
        reconfigureInput(add.request, add.admin, 'admin', 1).body,
        'reconfigure',
      );
    });
    const removed = ids[1 + Math.floor(r() * 3)]!;
    // Half the runs have a Byzantine founder (equivocating leader) that stays a member.
    const liar = r() < 0.5 ? ids.slice(1, 4).find((id) => id !== removed) : undefined;
    if (liar !== undefined) {
      sim.member(liar).byzantine = true;
      sim.member(liar).behaviour = equivocatingLeader(sim.quorum.config.quorum);
    }
    const live = ids.filter((id) => id !== removed && id !== liar).map((id) => sim.member(id));
    assert.ok(
      sim.run(60_000, () => probe.replica.epoch === 1),
      `seed ${seed}: epoch 1`,
    );
    const remove = requestChange(sim.quorum.admin.sign, probe.replica.configuration, {
      op: 'remove',
      member: removed,
      threshold: 3,
    });
    sim.submit(
      'admin',
      2,
      reconfigureInput(remove.request, remove.admin, 'admin', 2).body,
      'reconfigure',
    );
    const done = sim.run(
      120_000,
      () => sim.allDecided(live) && live.every((m) => m.replica.epoch === 2),
    );
    const all = ids.filter((id) => id !== liar).map((id) => sim.member(id));
    const v = checkInvariants(sim, all);
    assert.ok(v.ok, `seed ${seed}: ${v.problems.join('; ')}`);
    assert.ok(
      done,
      `seed ${seed}: not finished: ${live.map((m) => `${m.id.slice(-4)} e${m.replica.epoch} ${inputsOf(m).length}`).join(' ')}`,
    );
    const schedule = (m: SimMember) => epochActions(m).map((e) => `${e.config.epoch}@${e.since}`);
    for (const m of all) {
      const mine = schedule(m);
      assert.deepEqual(
        mine,
        schedule(probe).slice(0, mine.length),
        `seed ${seed}: epochs of ${m.id}`,
      );
    }
  }
});

test('one Byzantine member saying a learner is too far behind does not halt it; f + 1 members do', async () => {
  /** Answers every sync as if it kept nothing below a height nobody reached. */
  const liar: Behaviour = (_sim, _m, a) =>
    a.type === 'send' && a.message.type === 'sync-reply'
      ? [
          {
            ...a,
            message: { ...a.message, segments: [], pending: [], highQC: null, oldestKept: 1e9 },
          },
        ]
      : [a];
  for (const keepDecided of [10_000, 5]) {
    const sim = await Sim.create({
      seed: 25,
      n: 4,
      k: 3, // f = 1
      learners: 1,
      crypto: 'fake',
      keepActions: true,
      replica: { syncIntervalMs: 50, keepDecided },
    });
    const liarMember = sim.member(sim.ids[0]!);
    liarMember.byzantine = true;
    liarMember.behaviour = liar;
    const learner = sim.member(sim.ids[4]!);
    learner.crashed = true;
    sim.start();
    sim.stream(SENDERS, 100, 5);
    const members = sim.ids.slice(1, 4).map((id) => sim.member(id));
    assert.ok(sim.run(30_000, () => sim.allDecided(members)));
    learner.crashed = false;
    sim.deliver(learner, { type: 'start' });
    const asks = () => learner.actions.filter((a) => a.type === 'state-transfer-needed');
    if (keepDecided > 1_000) {
      // The honest members still keep everything: it catches up, the liar notwithstanding.
      assert.ok(sim.run(30_000, () => inputsOf(learner).length === 200));
      assert.deepEqual(inputsOf(learner), inputsOf(members[0]!));
      assert.equal(asks().length, 0, 'the lie alone halts nothing');
    } else {
      // The honest members pruned too: two claims (f + 1), so it is told, once, with an
      // honest member's oldest kept height, not the liar's.
      sim.run(2_000);
      assert.equal(asks().length, 1);
      const ask = asks()[0] as { oldestKept: number; fromHeight: number };
      assert.equal(ask.fromHeight, 1);
      assert.equal(ask.oldestKept, members[0]!.decided.length - 4);
      assert.equal(learner.decided.length, 0);
    }
  }
});
