// The ordering core in the simulated network: normal ordering, a crashed leader, Byzantine
// members (equivocation, forgery, lying transcripts), partitions, and randomized runs checking
// agreement, validity, integrity and liveness after GST. Every failure message names the seed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publicKeyOfVatId } from '../../vattp/identity.ts';
import { verifySignature } from '../../vattp/signing.ts';
import { checkEvidence } from './evidence.ts';
import {
  equivocatingLeader,
  invalidBatches,
  silent,
  staleTimeouts,
  startForger,
  twoFaced,
} from './faults.ts';
import { checkInvariants, Sim, type SimMember } from './sim.ts';

const CONFIGS = [
  [3, 2],
  [4, 3],
  [7, 5],
] as const;
const SENDERS = ['alice', 'bob', 'carol'];

const ed25519 = (signer: string, bytes: Uint8Array, sig: Uint8Array) =>
  verifySignature(publicKeyOfVatId(signer), bytes, sig);

function countInputs(m: SimMember): number {
  let n = 0;
  for (const d of m.decided) n += d.inputs.length;
  return n;
}

function assertSound(sim: Sim, seed: number, members?: SimMember[]): void {
  const v = checkInvariants(sim, members);
  assert.ok(v.ok, `seed ${seed}: ${v.problems.join('; ')}`);
  for (const m of sim.members.values()) {
    if (m.byzantine) continue;
    const halted = m.replica.halted;
    assert.equal(halted, undefined, `seed ${seed}: ${m.id} halted: ${halted}`);
  }
}

for (const [n, k] of CONFIGS) {
  test(`(${n},${k}) orders 6,000 inputs from 3 senders: same order everywhere, each once`, async () => {
    const sim = await Sim.create({ seed: 7, n, k, crypto: 'fake' });
    sim.start();
    sim.stream(SENDERS, 2000, 0.5);
    assert.ok(
      sim.run(60_000, () => sim.allDecided()),
      'all inputs decided',
    );
    assertSound(sim, 7);
    const [first] = sim.honest();
    assert.equal(countInputs(first!), 6000);
    // Batching: far fewer decisions than inputs, and no timeouts in a healthy run.
    assert.ok(first!.decided.length < 6000 / 10, `${first!.decided.length} decisions`);
    for (const m of sim.members.values()) {
      assert.deepEqual(m.rejected, [], `${m.id} rejected something in a healthy run`);
      assert.equal(m.evidence.length, 0);
      assert.deepEqual(m.liveness, [], 'never stalled');
    }
  });
}

for (const [n, k] of CONFIGS) {
  test(`(${n},${k}) the leader crashes mid-stream: nothing lost, order kept, progress after the timeout`, async () => {
    const seed = 11;
    const sim = await Sim.create({ seed, n, k, crypto: 'fake', keepActions: true });
    sim.start();
    sim.stream(SENDERS, 1000, 1);
    const probe = sim.honest()[0]!;
    assert.ok(sim.run(30_000, () => countInputs(probe) >= 1500));
    const leader = probe.replica.leaderOf(probe.replica.currentRound);
    sim.crash(leader);
    const crashedAt = sim.now;
    // Also crash further members up to n - k (the crash tolerance), at other times.
    const others = sim.ids.filter((id) => id !== leader).slice(0, n - k - 1);
    for (const id of others) sim.schedule(50, () => sim.crash(id));
    assert.ok(
      sim.run(60_000, () => sim.allDecided()),
      `seed ${seed}: everything decided`,
    );
    assertSound(sim, seed);
    for (const m of sim.honest()) assert.equal(countInputs(m), 3000);
    assert.ok(sim.now > crashedAt + 100, 'progress needed at least one view timeout');
    // Once its turn ended without a proposal, the dead leader's later turns time out in a
    // quarter of the view timeout (100 ms here).
    for (const m of sim.honest()) {
      const quarter = m.actions.filter((a) => a.type === 'set-timer' && a.delayMs === 25);
      assert.ok(quarter.length > 0, 'a suspected leader gets a short timer');
    }
  });
}

for (const [n, k, byz] of [
  [4, 3, 1],
  [7, 5, 2],
] as const) {
  test(`(${n},${k}) ${byz} equivocating leader(s): honest members never decide differently, evidence reported once`, async () => {
    for (const seed of [1, 2, 3]) {
      const sim = await Sim.create({ seed, n, k, crypto: seed === 1 ? 'ed25519' : 'fake' });
      const liars = sim.ids.slice(0, byz);
      for (const id of liars) {
        const m = sim.member(id);
        m.byzantine = true;
        m.behaviour = equivocatingLeader(sim.quorum.config.quorum);
      }
      sim.start();
      sim.stream(SENDERS, 500, 1);
      assert.ok(
        sim.run(120_000, () => sim.allDecided()),
        `seed ${seed}: everything decided`,
      );
      assertSound(sim, seed);
      const evidence = sim.honest().flatMap((m) => m.evidence);
      assert.ok(evidence.length > 0, `seed ${seed}: some honest member holds evidence`);
      for (const e of evidence) {
        assert.ok(liars.includes(e.signer), `seed ${seed}: evidence only against liars`);
        assert.ok(e.kind === 'proposal' || e.kind === 'vote');
        if (seed === 1) {
          // Real signatures: anyone holding the configuration can check it.
          assert.equal(checkEvidence(sim.quorum.config, e, ed25519), undefined);
          const tampered = { ...e, b: { ...e.b, blockId: e.a.blockId } } as typeof e;
          assert.match(String(checkEvidence(sim.quorum.config, tampered, ed25519)), /same/);
        }
      }
      for (const m of sim.honest()) {
        const keys = m.evidence.map(
          (e) => `${e.kind}|${e.signer}|${e.epoch}|${'round' in e ? e.round : ''}`,
        );
        assert.equal(new Set(keys).size, keys.length, 'each piece of evidence reported once');
      }
    }
  });
}

test('(4,3) a member that forges, mis-attributes, replays and sends garbage changes nothing; each is rejected with a reason', async () => {
  const seed = 5;
  const sim = await Sim.create({ seed, n: 4, k: 3, crypto: 'ed25519' });
  const forger = sim.member(sim.ids[0]!);
  forger.byzantine = true;
  // It also lies about its transcript hash.
  forger.transcriptHash = () => 'f'.repeat(64);
  startForger(sim, forger, 2, 5000);
  sim.start();
  sim.stream(SENDERS, 600, 2);
  assert.ok(
    sim.run(60_000, () => sim.allDecided()),
    `seed ${seed}: everything decided`,
  );
  sim.run(1000);
  assertSound(sim, seed);
  const reasons = new Set(
    sim.honest().flatMap((m) => m.rejected.map((r) => r.reason.replace(/[0-9a-f]{8,}|\d+/g, '#'))),
  );
  for (const expected of [
    /^malformed: message: not an object$/,
    /^malformed: message.type: unknown$/,
    /bad vote signature/,
    /vote relayed by another peer/,
    /timeout highQC: bad signature|bad timeout signature/,
    /not the leader|bad proposal signature/,
    /bad checkpoint signature/,
    /sync: /,
  ]) {
    assert.ok(
      [...reasons].some((r) => expected.test(r)),
      `no rejection matching ${expected}; got ${[...reasons].join(' | ')}`,
    );
  }
  // Every rejection is about the forger.
  for (const m of sim.honest()) {
    for (const r of m.rejected) assert.equal(r.from, forger.id, `${r.reason}`);
  }
  // Its lying checkpoints are reported, once per height, and no honest member diverged.
  const transcript = sim.honest().flatMap((m) => m.evidence.filter((e) => e.kind === 'transcript'));
  assert.ok(transcript.length > 0, 'transcript evidence');
  assert.ok(transcript.every((e) => e.signer === forger.id));
  for (const e of transcript) {
    assert.equal(checkEvidence(sim.quorum.config, e, ed25519), undefined);
    const framed = { ...e, signer: sim.ids[1]! };
    assert.match(String(checkEvidence(sim.quorum.config, framed, ed25519)), /does not verify/);
  }
});

test('(4,3) an honest member whose execution diverges stops and says so; the others go on', async () => {
  const seed = 9;
  const sim = await Sim.create({ seed, n: 4, k: 3, crypto: 'fake', keepActions: true });
  const odd = sim.member(sim.ids[2]!);
  odd.transcriptHash = (h, honest) => (h >= 8 ? `${'0'.repeat(63)}1` : honest);
  sim.start();
  sim.stream(SENDERS, 500, 2);
  const others = sim.honest().filter((m) => m !== odd);
  assert.ok(sim.run(60_000, () => sim.allDecided(others)));
  const diverged = odd.actions.filter((a) => a.type === 'diverged');
  assert.equal(diverged.length, 1);
  assert.equal(diverged[0]!.type === 'diverged' && diverged[0]!.height, 8);
  assert.match(String(odd.replica.halted), /transcript diverged at height 8/);
  const decidedAfter = odd.decided.filter((d) => d.height > 8).length;
  assert.ok(decidedAfter <= 2, 'the diverged member stopped deciding');
  assert.ok(checkInvariants(sim, others).ok);
  for (const m of others) {
    assert.equal(m.replica.halted, undefined);
    assert.ok(m.evidence.some((e) => e.kind === 'transcript' && e.signer === odd.id));
  }
});

for (const [n, k, groups] of [
  [
    4,
    3,
    [
      [0, 1],
      [2, 3],
    ],
  ],
  [3, 2, [[0], [1], [2]]],
  [
    7,
    5,
    [
      [0, 1, 2, 3],
      [4, 5, 6],
    ],
  ],
] as const) {
  test(`(${n},${k}) a partition leaving fewer than k: no decision at all, then resumes on heal without duplicates`, async () => {
    const seed = 13;
    const sim = await Sim.create({ seed, n, k, crypto: 'fake' });
    sim.start();
    sim.stream(SENDERS, 1000, 2);
    const probe = sim.honest()[0]!;
    assert.ok(sim.run(30_000, () => countInputs(probe) >= 300));
    sim.partition(groups.map((g) => g.map((i) => sim.ids[i]!)));
    sim.run(100); // messages already in flight settle
    const heights = sim.honest().map((m) => m.decided.length);
    sim.run(5000);
    assert.deepEqual(
      sim.honest().map((m) => m.decided.length),
      heights,
      'nothing decided while partitioned',
    );
    // Each member said once that it is stalled (not once per retry)…
    for (const m of sim.honest()) {
      assert.deepEqual(
        m.liveness.map((a) => a.type),
        ['stalled'],
        `${m.id}: ${JSON.stringify(m.liveness)}`,
      );
      const stalled = m.liveness[0]!;
      assert.ok(stalled.type === 'stalled');
      assert.match(stalled.reason, new RegExp(`fewer than ${k} of ${n} members reachable`));
    }
    sim.heal();
    assert.ok(
      sim.run(120_000, () => sim.allDecided()),
      `seed ${seed}: resumed after heal`,
    );
    assertSound(sim, seed);
    for (const m of sim.honest()) assert.equal(countInputs(m), 3000);
    // …and once that it resumed.
    for (const m of sim.honest()) {
      assert.deepEqual(
        m.liveness.map((a) => a.type),
        ['stalled', 'resumed'],
      );
    }
  });
}

test('randomized: agreement, validity, integrity always; liveness after GST (crashes, Byzantine leaders, drops, partitions)', async () => {
  const seeds = Number(process.env.ORDERING_SEEDS ?? 40);
  for (let seed = 100; seed < 100 + seeds; seed++) {
    const [n, k] = CONFIGS[seed % CONFIGS.length]!;
    const gstMs = 3000;
    const sim = await Sim.create({
      seed,
      n,
      k,
      crypto: 'fake',
      dropRate: 0.2,
      gstMs,
      maxDelayMs: 30,
    });
    const r = sim.rand;
    const f = Math.min(2 * k - n - 1, n - k);
    const byz = Math.floor(r() * (f + 1));
    const crashes = Math.floor(r() * (n - k - byz + 1));
    const ids = [...sim.ids].sort(() => r() - 0.5);
    const behaviours = [equivocatingLeader, staleTimeouts, twoFaced, invalidBatches, () => silent];
    for (const id of ids.slice(0, byz)) {
      const m = sim.member(id);
      m.byzantine = true;
      m.behaviour = behaviours[Math.floor(r() * behaviours.length)]!(sim.quorum.config.quorum);
    }
    for (const id of ids.slice(byz, byz + crashes)) {
      sim.schedule(r() * gstMs, () => sim.crash(id));
    }
    // A random partition for a while before GST.
    sim.schedule(r() * 1000, () => {
      const cut = 1 + Math.floor(r() * (n - 1));
      sim.partition([ids.slice(0, cut), ids.slice(cut)]);
      sim.schedule(r() * 1500, () => sim.heal());
    });
    sim.start();
    sim.stream(SENDERS, 150, 10);
    const live = sim.run(gstMs + 120_000, () => sim.allDecided());
    assertSound(sim, seed);
    assert.ok(
      live,
      `seed ${seed} (n=${n}, k=${k}, byz=${byz}, crashes=${crashes}): not everything decided by ${sim.now} ms; ` +
        sim
          .honest()
          .map((m) => `${m.id.slice(-4)}:${countInputs(m)}@r${m.replica.currentRound}`)
          .join(' '),
    );
  }
});

test('(4,3) an input only one member received: decided if its sender signed it; else it waits, and other senders are not held up', async () => {
  const seed = 31;
  const authenticateInput = (i: { auth?: Uint8Array; from: string; seq: number }) =>
    Buffer.from(i.auth ?? []).toString() === `signed by ${i.from} #${i.seq}`;
  const sim = await Sim.create({
    seed,
    n: 4,
    k: 3,
    crypto: 'fake',
    replica: { authenticateInput },
  });
  sim.start();
  const only = sim.member(sim.ids[1]!);
  const signed = {
    kind: 'message' as const,
    from: 'dave',
    seq: 1,
    body: Buffer.from('to one member, signed'),
    auth: Buffer.from('signed by dave #1'),
  };
  const unsigned = {
    kind: 'message' as const,
    from: 'erin',
    seq: 1,
    body: Buffer.from('to one member'),
  };
  for (const input of [signed, unsigned]) {
    sim.submitted.set(`message|${input.from}#1`, input);
    sim.schedule(1, () => sim.deliver(only, { type: 'submit', input }));
  }
  sim.stream(SENDERS, 200, 5);
  const decided = (m: SimMember, from: string) =>
    m.decided.some((d) => d.inputs.some((i) => i.from === from));
  assert.ok(
    sim.run(60_000, () => sim.honest().every((m) => countInputs(m) >= 601 && decided(m, 'dave'))),
    `seed ${seed}: the signed input and everyone else's are decided`,
  );
  sim.run(2000);
  assert.ok(
    sim.honest().every((m) => !decided(m, 'erin')),
    'the unsigned one waits',
  );
  // The sender retransmits to every member: now it is decided, once.
  sim.submit('erin', 1, unsigned.body);
  assert.ok(sim.run(60_000, () => sim.honest().every((m) => decided(m, 'erin'))));
  assertSound(sim, seed);
});

test('(4,3) a sender that signs two different inputs with one seq for different members cannot stall ordering', async () => {
  const seed = 41;
  const tag = (i: { from: string; seq: number; body: Uint8Array }) =>
    `${i.from}#${i.seq}:${Buffer.from(i.body).toString()}`;
  const authenticateInput = (i: {
    auth?: Uint8Array;
    from: string;
    seq: number;
    body: Uint8Array;
  }) => Buffer.from(i.auth ?? []).toString() === `sig(${tag(i)})`;
  const sim = await Sim.create({
    seed,
    n: 4,
    k: 3,
    crypto: 'fake',
    replica: { authenticateInput },
  });
  sim.start();
  const version = (text: string) => {
    const body = Buffer.from(text);
    const i = { kind: 'message' as const, from: 'mallory', seq: 1, body };
    return { ...i, auth: Buffer.from(`sig(${tag(i)})`) };
  };
  const [x, y] = [version('pay alice'), version('pay bob')];
  sim.submitted.set('message|mallory#1', x);
  for (const [i, id] of sim.ids.entries()) {
    sim.schedule(1, () => sim.deliver(sim.member(id), { type: 'submit', input: i < 2 ? x : y }));
  }
  sim.stream(SENDERS, 300, 3);
  assert.ok(
    sim.run(60_000, () => sim.honest().every((m) => countInputs(m) === 901)),
    `seed ${seed}: everything decided, mallory's input once`,
  );
  const decided = sim
    .honest()
    .map((m) =>
      m.decided.flatMap((d) => d.inputs.filter((i) => i.from === 'mallory').map((i) => tag(i))),
    );
  assert.equal(
    new Set(decided.map((d) => JSON.stringify(d))).size,
    1,
    'the same version everywhere',
  );
  assert.equal(decided[0]!.length, 1);
  const v = checkInvariants(sim);
  assert.ok(
    v.problems.every((p) => p.includes('mallory')),
    v.problems.join('; '),
  );
});

test('crash and restart 30 times while inputs flow: a restarted member resumes from its decisions, persisted blocks and safety state, never decides differently, catches up', async () => {
  for (const [n, k, byz, seed] of [
    [4, 3, 0, 61],
    [7, 5, 1, 62],
    [3, 2, 0, 63],
  ] as const) {
    const sim = await Sim.create({ seed, n, k, crypto: 'fake', maxDelayMs: 20 });
    const liar = byz > 0 ? sim.ids[0] : undefined;
    if (liar !== undefined) {
      sim.member(liar).byzantine = true;
      sim.member(liar).behaviour = equivocatingLeader(sim.quorum.config.quorum);
    }
    const honestIds = sim.ids.filter((id) => id !== liar);
    sim.start();
    sim.stream(SENDERS, 1000, 6);
    let down: string | undefined;
    for (let i = 0; i < 30; i++) {
      sim.run(150);
      if (down !== undefined) sim.restart(down);
      down = honestIds[Math.floor(sim.rand() * honestIds.length)]!;
      sim.crash(down);
    }
    sim.run(100);
    if (down !== undefined) sim.restart(down);
    const honest = honestIds.map((id) => sim.member(id));
    assert.ok(
      sim.run(120_000, () => sim.allDecided(honest)),
      `seed ${seed}: ${honest.map((m) => countInputs(m)).join(' ')}`,
    );
    assertSound(sim, seed);
    for (const m of honest) {
      assert.deepEqual(
        m.redecided,
        [],
        `seed ${seed}: ${m.id} decided differently after a restart`,
      );
      assert.equal(countInputs(m), 3000);
    }
  }
});

test('randomized: restarts from durable state, Byzantine members, drops and partitions; one order, everything decided after GST', async () => {
  const seeds = Number(process.env.ORDERING_SEEDS ?? 40) / 2;
  for (let seed = 700; seed < 700 + seeds; seed++) {
    const [n, k] = CONFIGS[seed % CONFIGS.length]!;
    const gstMs = 3000;
    const sim = await Sim.create({
      seed,
      n,
      k,
      crypto: 'fake',
      dropRate: 0.15,
      gstMs,
      maxDelayMs: 25,
    });
    const r = sim.rand;
    const f = Math.min(2 * k - n - 1, n - k);
    const byz = Math.floor(r() * (f + 1));
    const ids = [...sim.ids].sort(() => r() - 0.5);
    const behaviours = [equivocatingLeader, staleTimeouts, twoFaced, invalidBatches];
    for (const id of ids.slice(0, byz)) {
      const m = sim.member(id);
      m.byzantine = true;
      m.behaviour = behaviours[Math.floor(r() * behaviours.length)]!(sim.quorum.config.quorum);
    }
    const honestIds = ids.slice(byz);
    const budget = n - k - byz; // members that may be down at once
    sim.schedule(r() * 1000, () => {
      const cut = 1 + Math.floor(r() * (n - 1));
      sim.partition([ids.slice(0, cut), ids.slice(cut)]);
      sim.schedule(r() * 1000, () => sim.heal());
    });
    sim.start();
    sim.stream(SENDERS, 200, 10);
    const down: string[] = [];
    for (let t = 0; t < gstMs; t += 200) {
      sim.run(200);
      if (down.length > 0 && r() < 0.7) sim.restart(down.shift()!);
      if (budget > down.length) {
        const id = honestIds[Math.floor(r() * honestIds.length)]!;
        if (!down.includes(id)) {
          sim.crash(id);
          down.push(id);
        }
      }
    }
    for (const id of down) sim.restart(id);
    const honest = honestIds.map((id) => sim.member(id));
    const live = sim.run(120_000, () => sim.allDecided(honest));
    assertSound(sim, seed);
    for (const m of honest) assert.deepEqual(m.redecided, [], `seed ${seed}: ${m.id}`);
    assert.ok(
      live,
      `seed ${seed} (n=${n}, k=${k}, byz=${byz}): ${honest.map((m) => countInputs(m)).join(' ')}`,
    );
  }
});

test('(4,3) a leader proposing repeated inputs (refused) or inputs nobody sent (never voted for) orders nothing of its own; the others order everything', async () => {
  const seed = 51;
  const sim = await Sim.create({ seed, n: 4, k: 3, crypto: 'fake' });
  const bad = sim.member(sim.ids[2]!);
  bad.byzantine = true;
  bad.behaviour = invalidBatches(sim.quorum.config.quorum);
  sim.start();
  sim.stream(SENDERS, 500, 2);
  assert.ok(
    sim.run(60_000, () => sim.allDecided()),
    `seed ${seed}`,
  );
  assertSound(sim, seed);
  const reasons = sim
    .honest()
    .flatMap((m) => m.rejected.map((r) => `${r.from === bad.id}:${r.reason}`));
  assert.ok(
    reasons.some((r) => /^true:proposal refused: .*out of order/.test(r)),
    reasons[0],
  );
  assert.ok(
    reasons.every((r) => r.startsWith('true:')),
    'only the bad leader is refused',
  );
});

test('(3,2) a member paused while the others decide everything catches up when it reconnects, though the quorum is idle', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const sim = await Sim.create({ seed, n: 3, k: 2, crypto: 'fake' });
    sim.start();
    const [a, b, c] = sim.ids as [string, string, string];
    sim.stream(SENDERS, 20, 1);
    assert.ok(
      sim.run(30_000, () => sim.allDecided()),
      `seed ${seed}: all decided`,
    );
    // c is paused while 40 more inputs are ordered by a and b, and the quorum goes idle.
    sim.crash(c);
    sim.stream(SENDERS, 20, 1, 21);
    const ab = [sim.member(a), sim.member(b)];
    assert.ok(
      sim.run(30_000, () => sim.allDecided(ab)),
      `seed ${seed}: a and b decided`,
    );
    sim.run(10_000);
    // Resumed: senders do not retransmit (k members acknowledged), nothing else is sent…
    sim.resume(c);
    // …but the reconnection tells it where the others are: it syncs and decides everything.
    assert.ok(
      sim.run(30_000, () => sim.allDecided()),
      `seed ${seed}: the paused member decided everything`,
    );
    assertSound(sim, seed);
    const height = (m: SimMember) => m.decided.at(-1)?.height;
    sim.run(5_000);
    assert.ok(
      height(sim.member(c))! >= height(sim.member(a))! - 2,
      `seed ${seed}: close to the others`,
    );
  }
});

test('(3,2) and (4,3) a member restarted after the others decided everything without it catches up, though the quorum is idle and nothing is retransmitted', async () => {
  for (const [n, k, seed] of [
    [3, 2, 11],
    [3, 2, 12],
    [4, 3, 13],
    [4, 3, 14],
  ] as const) {
    const sim = await Sim.create({ seed, n, k, crypto: 'fake' });
    sim.start();
    const down = sim.ids[0]!;
    sim.stream(SENDERS, 20, 1);
    assert.ok(
      sim.run(30_000, () => sim.allDecided()),
      `seed ${seed}: all decided`,
    );
    sim.crash(down);
    sim.stream(SENDERS, 20, 1, 21);
    const others = sim.ids.filter((id) => id !== down).map((id) => sim.member(id));
    assert.ok(
      sim.run(30_000, () => sim.allDecided(others)),
      `seed ${seed}: the others decided`,
    );
    sim.run(10_000);
    // Nothing retransmitted, and what the others push when it connects is lost (its ordering
    // protocol is not served yet): it must ask for itself.
    sim.restart(down, { retransmit: false, othersNotice: false });
    assert.ok(
      sim.run(30_000, () => sim.allDecided()),
      `seed ${seed}: the restarted member decided everything`,
    );
    assertSound(sim, seed);
    assert.deepEqual(sim.member(down).redecided, []);
  }
});
