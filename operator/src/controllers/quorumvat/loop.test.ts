// The operator's whole decision loop for one QuorumVat, pure and simulated: the planner picks
// the step, change.ts decides whether to send it, a simulated quorum orders requests late, out
// of order and more than once, and the operator crashes at random (losing the status write of
// a reconcile). Safety must hold on every run: a request applies only at the epoch it names,
// one member at a time, and the StatefulSet never drops a pod that is still a member; and it
// converges to the spec.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PendingChange } from '../../api/v1alpha1/types.ts';
import { changeAction, changeOf } from './change.ts';
import { type PodView, plan, type QuorumConfig, thresholdFor, valid } from './planner.ts';
import type { ConfigChange } from './quorum-lib.ts';

/** A tiny deterministic PRNG (runs are reproducible by seed). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function simulate(seed: number, from: number, to: number) {
  const r = rng(seed);
  let keys = 0;
  let stsReplicas = from;
  let pods: PodView[] = Array.from({ length: from }, (_, i) => ({
    ordinal: i,
    name: `q-${i}`,
    ready: true,
    vatId: `v${keys++}`,
  }));
  let config: QuorumConfig = {
    epoch: 0,
    voters: pods.map((p) => p.vatId!),
    learners: [],
    threshold: thresholdFor(from, undefined),
  };
  let pending: PendingChange | undefined; // status.pendingChange as stored
  const inFlight: { epoch: number; change: ConfigChange }[] = []; // sent, not yet ordered
  let sent = 0;
  let now = 0;

  const order = () => {
    // The quorum orders one queued request now and then, any of them (duplicates too).
    if (inFlight.length === 0 || r() < 0.5) return;
    const i = Math.floor(r() * inFlight.length);
    const req = inFlight.splice(i, 1)[0]!;
    if (req.epoch !== config.epoch) return; // stale: refused, changes nothing
    const c = req.change;
    const next = { ...config, epoch: config.epoch + 1 };
    if (c.op === 'add-learner') next.learners = [...config.learners, c.member];
    if (c.op === 'remove-learner') next.learners = config.learners.filter((l) => l !== c.member);
    if (c.op === 'add') {
      next.voters = [...config.voters, c.member];
      next.learners = config.learners.filter((l) => l !== c.member);
      next.threshold = c.threshold;
    }
    if (c.op === 'remove') {
      next.voters = config.voters.filter((v) => v !== c.member);
      next.threshold = c.threshold;
    }
    if (c.op === 'threshold') next.threshold = c.threshold;
    const moved =
      next.voters.filter((v) => !config.voters.includes(v)).length +
      config.voters.filter((v) => !next.voters.includes(v)).length;
    assert.ok(moved <= 1, 'one voter at a time');
    assert.ok(valid(next.voters.length, next.threshold), 'every configuration valid');
    config = next; // anything else sent for the old epoch is stale from now on
  };

  for (let tick = 0; tick < 2000; tick++) {
    now += 1000 + Math.floor(r() * 4000);
    // Pods: new ones get a key and start; learners catch up.
    for (const p of pods) {
      p.vatId ??= r() < 0.7 ? `v${keys++}` : undefined;
      if (p.vatId) p.ready = true;
      if (config.learners.includes(p.vatId ?? '')) p.caughtUp = r() < 0.6 || p.caughtUp;
    }
    order();
    const step = plan({
      replicas: to,
      config: structuredClone(config),
      statefulSetReplicas: stsReplicas,
      pods: structuredClone(pods),
    });
    if (step.kind === 'done' && inFlight.length === 0) {
      return { config, stsReplicas, pods, sent };
    }
    const crash = r() < 0.15; // this reconcile's writes are lost (status and the step)
    if (step.kind === 'scale') {
      if (crash) continue;
      for (const p of pods.filter((x) => x.ordinal >= step.replicas)) {
        assert.ok(
          !config.voters.includes(p.vatId ?? '') && !config.learners.includes(p.vatId ?? ''),
          `pod ${p.name} removed while a member`,
        );
      }
      pods = pods.filter((p) => p.ordinal < step.replicas);
      for (let i = stsReplicas; i < step.replicas; i++) {
        pods.push({ ordinal: i, name: `q-${i}`, ready: false });
      }
      stsReplicas = step.replicas;
      continue;
    }
    const a = changeAction({
      step,
      pending,
      epoch: config.epoch,
      now: new Date(now),
      retryMs: 30_000,
    });
    if (a.kind === 'none') {
      if (!crash) pending = undefined;
      continue;
    }
    if (a.kind === 'wait') continue;
    // Write-ahead, then send. A crash loses the status write, or happens after the send.
    if (crash && r() < 0.5) continue;
    if (!crash) pending = a.pending;
    inFlight.push({ epoch: a.pending.epoch, change: changeOf(step as never) });
    sent++;
  }
  assert.fail(`seed ${seed}: no convergence (${JSON.stringify(config)})`);
}

for (const [from, to] of [
  [3, 5],
  [5, 3],
  [3, 7],
  [4, 3],
] as const) {
  test(`${from} → ${to}: 200 runs with late, duplicated and stale requests and operator crashes`, () => {
    for (let seed = 1; seed <= 200; seed++) {
      const end = simulate(seed * 7919 + from * 31 + to, from, to);
      assert.equal(end.config.voters.length, to, `seed ${seed}`);
      assert.equal(end.config.learners.length, 0);
      assert.equal(end.config.threshold, thresholdFor(to, undefined));
      assert.equal(end.stsReplicas, to);
      const changes = end.config.epoch;
      assert.ok(end.sent >= changes, 'every change was requested');
    }
  });
}
