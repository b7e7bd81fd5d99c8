import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FakeClock } from './clock.ts';
import { type InformerLike, ResilientInformer } from './informer.ts';

/** An informer that does what client-node's does at the edges: emits, stops on error. */
class FakeInformer {
  handlers: Record<string, ((x?: unknown) => void)[]> = {};
  objects: KubernetesObject[] = [];
  starts = 0;
  running = false;
  failNextStart = false;
  on(verb: string, cb: (x?: unknown) => void) {
    const list = this.handlers[verb] ?? [];
    list.push(cb);
    this.handlers[verb] = list;
  }
  off() {}
  emit(verb: string, x?: unknown) {
    for (const cb of this.handlers[verb] ?? []) cb(x);
  }
  async start() {
    this.starts++;
    this.emit('connect');
    if (this.failNextStart) {
      this.failNextStart = false;
      this.emit('error', new Error('list failed: 503'));
      return;
    }
    this.running = true;
  }
  async stop() {
    this.running = false;
  }
  get(name: string) {
    return this.objects.find((o) => o.metadata?.name === name);
  }
  list() {
    return this.objects;
  }
}

function setup(opts: { stallMs?: number; resyncMs?: number } = {}) {
  const clock = new FakeClock();
  const fake = new FakeInformer();
  const changes: string[] = [];
  const problems: string[] = [];
  const inf = new ResilientInformer<KubernetesObject>(undefined, {
    path: '/apis/x/v1/things',
    list: async () => ({ items: [] }),
    onChange: (o, why) => changes.push(`${why}:${o.metadata?.name}`),
    onProblem: (what) => problems.push(what),
    clock,
    restartBaseMs: 1000,
    restartMaxMs: 8000,
    stallMs: opts.stallMs ?? 120_000,
    resyncMs: opts.resyncMs ?? 300_000,
    make: () => fake as unknown as InformerLike<KubernetesObject>,
  });
  return { clock, fake, changes, problems, inf };
}

const tick = () => new Promise((r) => setImmediate(r));

test('an informer stopped by a non-410 error is restarted with backoff, and the stop is told once', async () => {
  const { clock, fake, problems, inf } = setup();
  await inf.start();
  assert.equal(fake.starts, 1);
  for (let i = 0; i < 4; i++) {
    fake.running = false;
    fake.failNextStart = true;
    fake.emit('error', new Error('ECONNRESET'));
  }
  // One failure streak: restarts at 1 s, 2 s, 4 s, 8 s, 8 s... each start failing once more.
  fake.failNextStart = true;
  clock.advance(8000);
  await tick();
  assert.ok(fake.starts >= 2);
  clock.advance(60_000);
  await tick();
  clock.advance(60_000);
  await tick();
  assert.ok(fake.running, 'running again after the failures');
  assert.equal(problems.filter((p) => p.endsWith('stopped')).length, 1);
  assert.ok(problems.some((p) => p.includes('recovered')));
  await inf.stop();
});

test('errors after stop() (the abort it causes) do not restart it', async () => {
  const { clock, fake, problems, inf } = setup();
  await inf.start();
  await inf.stop();
  fake.emit('error', new Error('aborted'));
  clock.advance(600_000);
  await tick();
  assert.equal(fake.starts, 1);
  assert.deepEqual(problems, []);
});

test('a silent informer (no connect, no event for stallMs) is restarted by the watchdog', async () => {
  const { clock, fake, problems, inf } = setup({ stallMs: 60_000 });
  await inf.start();
  // Regular reconnects (every ~30 s in client-node) keep it alive.
  for (let i = 0; i < 6; i++) {
    clock.advance(30_000);
    fake.emit('connect');
  }
  assert.equal(fake.starts, 1);
  clock.advance(75_000);
  await tick();
  assert.equal(fake.starts, 2);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /silent/);
  await inf.stop();
});

test('events reach onChange, and every resync hands over every cached object', async () => {
  const { clock, fake, changes, inf } = setup({ resyncMs: 10_000 });
  await inf.start();
  const a = { metadata: { name: 'a' } };
  fake.objects.push(a, { metadata: { name: 'b' } });
  fake.emit('add', a);
  fake.emit('update', a);
  fake.emit('delete', a);
  clock.advance(10_000);
  clock.advance(10_000);
  assert.deepEqual(changes, [
    'add:a',
    'update:a',
    'delete:a',
    'resync:a',
    'resync:b',
    'resync:a',
    'resync:b',
  ]);
  await inf.stop();
});
