import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  majority,
  memberStates,
  type PlannerInput,
  type PodView,
  plan,
  type QuorumConfig,
  type Step,
  thresholdFor,
  tolerates,
  valid,
} from './planner.ts';

/**
 * A small world: a StatefulSet whose pods start (and make their own key) when it grows and go
 * when it shrinks, and a quorum whose committed configuration changes only by the planner's
 * steps. It checks every safety rule on every step.
 */
class World {
  config: QuorumConfig | undefined;
  stsReplicas = 0;
  pods: PodView[] = [];
  private keys = 0;
  log: string[] = [];
  /** Pods (by ordinal) kept not ready, as if crashed. */
  down = new Set<number>();

  constructor(n?: number) {
    if (n) {
      // A formed quorum of n members.
      this.stsReplicas = n;
      for (let i = 0; i < n; i++) this.pods.push(this.newPod(i, true));
      this.config = {
        epoch: 1,
        voters: this.pods.map((p) => p.vatId!),
        learners: [],
        threshold: majority(n),
      };
    }
  }

  private newPod(ordinal: number, ready = false): PodView {
    return {
      ordinal,
      name: `q-${ordinal}`,
      ready,
      ...(ready ? { vatId: `vat-${this.keys++}` } : {}),
      caughtUp: false,
    };
  }

  /** Pod `ordinal` is deleted together with its volume: it comes back with no key yet. */
  loseVolume(ordinal: number): void {
    this.pods = this.pods.map((p) => (p.ordinal === ordinal ? this.newPod(ordinal) : p));
  }

  /** Time passes: new pods become ready (their nodes made keys), learners catch up. */
  tick(): void {
    for (const p of this.pods) {
      if (this.down.has(p.ordinal)) {
        p.ready = false;
        continue;
      }
      if (!p.ready) {
        p.ready = true;
        p.vatId ??= `vat-${this.keys++}`;
      } else if (this.config?.learners.includes(p.vatId!)) {
        p.caughtUp = true;
      }
    }
  }

  input(replicas: number, threshold?: number): PlannerInput {
    return {
      replicas,
      ...(threshold !== undefined ? { threshold } : {}),
      config: this.config && structuredClone(this.config),
      statefulSetReplicas: this.stsReplicas,
      pods: structuredClone(this.pods),
    };
  }

  private live(): number {
    return this.config!.voters.filter((v) => this.pods.find((p) => p.vatId === v)?.ready).length;
  }

  private commit(next: Omit<QuorumConfig, 'epoch'>): undefined {
    const c = this.config!;
    assert.ok(this.live() >= c.threshold, 'a change is decided only by a live quorum');
    assert.ok(valid(next.voters.length, next.threshold), `invalid ${JSON.stringify(next)}`);
    const added = next.voters.filter((v) => !c.voters.includes(v)).length;
    const removed = c.voters.filter((v) => !next.voters.includes(v)).length;
    assert.ok(added + removed <= 1, 'one voter at a time');
    this.config = { ...next, epoch: c.epoch + 1 };
  }

  apply(step: Step): undefined {
    this.log.push(step.kind);
    const c = this.config;
    switch (step.kind) {
      case 'scale': {
        for (const p of this.pods.filter((x) => x.ordinal >= step.replicas)) {
          assert.ok(
            !c || !p.vatId || (!c.voters.includes(p.vatId) && !c.learners.includes(p.vatId)),
            `pod ${p.name} removed while still a member`,
          );
        }
        this.pods = this.pods.filter((p) => p.ordinal < step.replicas);
        for (let i = this.stsReplicas; i < step.replicas; i++) {
          if (!this.pods.some((p) => p.ordinal === i)) this.pods.push(this.newPod(i));
        }
        this.stsReplicas = step.replicas;
        return;
      }
      case 'genesis':
        assert.equal(c, undefined);
        assert.ok(valid(step.voters.length, step.threshold));
        this.config = { epoch: 1, voters: step.voters, learners: [], threshold: step.threshold };
        return;
      case 'addLearner':
        return this.commit({ ...c!, learners: [...c!.learners, step.vatId] });
      case 'removeLearner':
        return this.commit({ ...c!, learners: c!.learners.filter((l) => l !== step.vatId) });
      case 'promote':
        assert.ok(
          this.pods.find((p) => p.vatId === step.vatId)?.caughtUp,
          'promoted before caught up',
        );
        return this.commit({
          voters: [...c!.voters, step.vatId],
          learners: c!.learners.filter((l) => l !== step.vatId),
          threshold: step.threshold,
        });
      case 'removeVoter':
        assert.ok(
          c!.voters.filter((v) => v !== step.vatId && this.pods.find((p) => p.vatId === v)?.ready)
            .length >= step.threshold,
          'the remaining live voters reach the new threshold',
        );
        return this.commit({
          ...c!,
          voters: c!.voters.filter((v) => v !== step.vatId),
          threshold: step.threshold,
        });
      case 'setThreshold':
        return this.commit({ ...c!, threshold: step.threshold });
      case 'wait':
      case 'refuse':
      case 'done':
        return;
    }
  }

  settled(n: number, threshold?: number): boolean {
    const c = this.config;
    return (
      !!c &&
      c.voters.length === n &&
      c.learners.length === 0 &&
      c.threshold === thresholdFor(n, threshold) &&
      this.stsReplicas === n &&
      this.pods.length === n
    );
  }
}

/** Runs the planner until done; `lose` = step indexes whose effect a crash swallowed. */
function drive(
  w: World,
  n: number,
  threshold?: number,
  lose = new Set<number>(),
  limit = 200,
): number {
  for (let i = 0; i < limit; i++) {
    const step = plan(w.input(n, threshold));
    if (step.kind === 'done') return i;
    assert.notEqual(step.kind, 'refuse', `refused: ${step.kind === 'refuse' ? step.message : ''}`);
    if (!lose.has(i)) w.apply(step);
    // Time passes only while the planner waits: every wait in the logs is a real one.
    if (step.kind === 'wait') w.tick();
  }
  assert.fail(`no convergence: ${w.log.join(' ')}`);
}

test('threshold and tolerance arithmetic', () => {
  assert.deepEqual([3, 4, 5, 7].map(majority), [2, 3, 3, 4]);
  assert.equal(valid(4, 2), false, '2k > n');
  assert.equal(valid(3, 4), false, 'k <= n');
  assert.equal(thresholdFor(5, 4), 4);
  assert.equal(
    thresholdFor(4, 2),
    3,
    'an explicit threshold invalid at n falls back to a majority',
  );
  assert.deepEqual(tolerates(3, 2), { crashed: 1, byzantine: 0 });
  assert.deepEqual(tolerates(4, 3), { crashed: 1, byzantine: 1 });
  assert.deepEqual(tolerates(7, 5), { crashed: 2, byzantine: 2 });
});

test('forming: the first members start together, then one genesis configuration', () => {
  const w = new World();
  drive(w, 3);
  assert.deepEqual(w.log, ['scale', 'wait', 'genesis']);
  assert.ok(w.settled(3));
});

test('scale-up 3 → 5: pod, learner, caught up, voted in, one member at a time', () => {
  const w = new World(3);
  drive(w, 5);
  assert.deepEqual(w.log, [
    'scale',
    'wait',
    'addLearner',
    'wait',
    'promote',
    'scale',
    'wait',
    'addLearner',
    'wait',
    'promote',
  ]);
  assert.ok(w.settled(5));
  assert.equal(w.config!.epoch, 1 + 4);
  assert.equal(w.config!.threshold, 3);
});

test('scale-down 5 → 3: voted out first, then the highest ordinal pod goes', () => {
  const w = new World(5);
  const highest = w.pods.at(-1)!.vatId!;
  const first = plan(w.input(3));
  assert.deepEqual(first, { kind: 'removeVoter', vatId: highest, pod: 'q-4', threshold: 3 });
  assert.equal(memberStates(w.input(3)).find((m) => m.pod === 'q-4')!.state, 'leaving');
  assert.equal(memberStates(w.input(3)).find((m) => m.pod === 'q-3')!.state, 'leaving');
  assert.equal(memberStates(w.input(3)).find((m) => m.pod === 'q-2')!.state, 'voting');
  drive(w, 3);
  assert.deepEqual(w.log, ['removeVoter', 'scale', 'removeVoter', 'scale']);
  assert.ok(w.settled(3));
});

for (const [from, to, threshold] of [
  [0, 3, undefined],
  [3, 5, undefined],
  [5, 3, undefined],
  [3, 7, 5],
  [7, 4, 3],
  [4, 3, undefined],
] as const) {
  test(`${from} → ${to}${threshold ? ` (k=${threshold})` : ''}: an operator crash after any step is repaired from the chain and the pods`, () => {
    const clean = new World(from || undefined);
    const steps = drive(clean, to, threshold);
    assert.ok(steps >= 2, `only ${steps} steps`);
    for (let crashAt = 0; crashAt < steps; crashAt++) {
      // The crash swallows that step's effect (the operator died before its write landed);
      // the next reconcile starts with no memory from whatever the world then is.
      const w = new World(from || undefined);
      drive(w, to, threshold, new Set([crashAt]));
      assert.ok(w.settled(to, threshold), `crash at step ${crashAt}: ${w.log.join(' ')}`);
    }
    // And crashes at every step at once (each write lost once before it lands).
    const w = new World(from || undefined);
    drive(w, to, threshold, new Set(Array.from({ length: steps }, (_, i) => 2 * i)));
    assert.ok(w.settled(to, threshold));
  });
}

test('a scale-up reversed mid-way (3 → 5 → 3) drops the learner and its pod', () => {
  const w = new World(3);
  for (let i = 0; i < 2; i++) {
    w.apply(plan(w.input(5)));
    w.tick();
  }
  assert.equal(w.config!.learners.length, 1);
  const steps: string[] = [];
  for (let i = 0; i < 20; i++) {
    const s = plan(w.input(3));
    if (s.kind === 'done') break;
    steps.push(s.kind);
    w.apply(s);
    w.tick();
  }
  assert.deepEqual(steps, ['removeLearner', 'scale']);
  assert.ok(w.settled(3));
});

test('a scale-down that would leave fewer live voters than the threshold is refused, with why', () => {
  const w = new World(5);
  w.down.add(0);
  w.down.add(1);
  w.tick();
  // 3 live of 5 (k=3): voting out q-4 would leave 2 live < majority(4) = 3.
  const s = plan(w.input(4));
  assert.equal(s.kind, 'refuse');
  assert.equal(s.kind === 'refuse' && s.reason, 'UnsafeScaleDown');
  assert.match(
    s.kind === 'refuse' ? s.message : '',
    /would leave 2 live voting members, fewer than the threshold 3/,
  );
  // Once the members are back, it goes ahead.
  w.down.clear();
  w.tick();
  assert.equal(plan(w.input(4)).kind, 'removeVoter');
});

test('no membership change while fewer than k voters are live (QuorumLost)', () => {
  const w = new World(3);
  w.down.add(1);
  w.down.add(2);
  w.tick();
  w.apply(plan(w.input(4))); // the pod may start: that needs no decision
  w.tick();
  const s = plan(w.input(4));
  assert.equal(s.kind, 'refuse');
  assert.equal(s.kind === 'refuse' && s.reason, 'QuorumLost');
});

test('a pod whose VatID is not known is never removed: it might be a member', () => {
  const w = new World(3);
  drive(w, 4);
  // Scale back to 3: q-3 is voted out first regardless; but if the operator cannot see q-3's
  // identity (its node restarting) while the StatefulSet has 4, it waits instead of guessing.
  w.apply(plan(w.input(3)));
  const p3 = w.pods.find((p) => p.ordinal === 3)!;
  delete p3.vatId;
  p3.ready = false;
  const s = plan(w.input(3));
  assert.equal(s.kind, 'wait');
});

test('a threshold change alone is one configuration change', () => {
  const w = new World(5);
  const s = plan(w.input(5, 4));
  assert.deepEqual(s, { kind: 'setThreshold', threshold: 4 });
});

test('forming counts VatIDs, not readiness: no member can be ready before the genesis exists', () => {
  const pods: PodView[] = [0, 1, 2].map((i) => ({
    ordinal: i,
    name: `q-${i}`,
    ready: false,
    ...(i < 2 ? { vatId: `v${i}` } : {}),
  }));
  const input = { replicas: 3, config: undefined, statefulSetReplicas: 3, pods };
  const waiting = plan(input);
  assert.equal(waiting.kind, 'wait');
  assert.equal((waiting as { reason: string }).reason, 'AwaitingMembers');
  pods[2]!.vatId = 'v2';
  assert.deepEqual(plan(input), { kind: 'genesis', voters: ['v0', 'v1', 'v2'], threshold: 2 });
});

test('a new pod joins as a learner once it told its VatID, before its node is ready', () => {
  const w = new World(3);
  assert.equal(plan(w.input(4)).kind, 'scale');
  w.apply(plan(w.input(4)));
  const p = w.pods.find((x) => x.ordinal === 3)!;
  assert.equal(plan(w.input(4)).kind, 'wait', 'no VatID yet');
  p.vatId = 'vat-new';
  assert.deepEqual(plan(w.input(4)), { kind: 'addLearner', vatId: 'vat-new', pod: 'q-3' });
});

test('a member pod that lost its volume: the old member is voted out, then the new key joins, one at a time', () => {
  for (const [n, ordinal] of [
    [3, 1],
    [3, 2],
    [5, 0],
  ] as const) {
    const w = new World(n);
    const old = w.pods[ordinal]!.vatId!;
    w.loseVolume(ordinal);
    // Not judged before the pod told its (new) VatID: a restarting pod is not a lost one.
    const first = plan(w.input(n));
    assert.equal(first.kind, 'wait');
    assert.match((first as { message: string }).message, new RegExp(`q-${ordinal}`));
    drive(w, n);
    assert.deepEqual(w.log, ['wait', 'removeVoter', 'addLearner', 'wait', 'promote']);
    assert.ok(w.settled(n), w.log.join(' '));
    assert.ok(!w.config!.voters.includes(old));
    assert.ok(w.config!.voters.includes(w.pods[ordinal]!.vatId!));
    assert.equal(w.config!.epoch, 1 + 3);
  }
  // Why, for status and the Event.
  const w = new World(3);
  w.loseVolume(1);
  w.tick();
  const step = plan(w.input(3));
  assert.equal(step.kind, 'removeVoter');
  assert.match((step as { because: string }).because, /q-1 came back without its volume/);
  assert.equal((step as { pod: string }).pod, "q-1's old member");
});

test('a lost volume: an operator crash after any step is repaired', () => {
  const clean = new World(3);
  clean.loseVolume(1);
  clean.tick();
  const steps = drive(clean, 3);
  for (let crashAt = 0; crashAt < steps; crashAt++) {
    const w = new World(3);
    w.loseVolume(1);
    w.tick();
    drive(w, 3, undefined, new Set([crashAt]));
    assert.ok(w.settled(3), `crash at step ${crashAt}: ${w.log.join(' ')}`);
  }
});

test('a lost volume while another member is down: no change below the threshold, with why', () => {
  const w = new World(3);
  w.loseVolume(1);
  w.down.add(2);
  w.tick();
  const step = plan(w.input(3));
  assert.equal(step.kind, 'refuse');
  assert.equal((step as { reason: string }).reason, 'QuorumLost');
  // Five members, two lost at once: one at a time, and the quorum keeps deciding.
  const five = new World(5);
  five.loseVolume(3);
  five.loseVolume(4);
  five.tick();
  drive(five, 5);
  assert.ok(five.settled(5), five.log.join(' '));
  assert.deepEqual(five.log, [
    'removeVoter',
    'removeVoter',
    'addLearner',
    'wait',
    'promote',
    'addLearner',
    'wait',
    'promote',
  ]);
});
