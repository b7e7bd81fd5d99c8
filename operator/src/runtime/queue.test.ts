import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from './clock.ts';
import { runWorkers, WorkQueue } from './queue.ts';

test('a key added many times while waiting is processed once', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  for (let i = 0; i < 5; i++) q.add('ns/a');
  q.add('ns/b');
  q.add('ns/a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'ns/a');
  assert.equal(await q.get(), 'ns/b');
  assert.equal(q.length, 0);
});

test('a key added while a worker holds it is not handed out twice, but comes back after done', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('k');
  const k = await q.get();
  q.add('k');
  q.add('k');
  assert.equal(q.length, 0, 'not queued while being processed');
  let second: string | undefined;
  void q.get().then((x) => (second = x));
  await Promise.resolve();
  assert.equal(second, undefined);
  q.done(k!);
  await Promise.resolve();
  assert.equal(second, 'k');
  q.done('k');
  assert.equal(q.length, 0);
  assert.equal(q.busy, 0);
});

test('retry backs off exponentially up to the cap, forget starts over', () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1000 });
  const delays = Array.from({ length: 6 }, () => q.retry('k'));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  q.forget('k');
  assert.equal(q.retry('k'), 100);
});

test('a delayed key appears only when its time comes; the earlier of two delays wins', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('k', 1000);
  q.addAfter('k', 300);
  q.addAfter('k', 5000);
  clock.advance(299);
  assert.equal(q.length, 0);
  clock.advance(1);
  assert.equal(q.length, 1);
  clock.advance(10_000);
  assert.equal(q.length, 1, 'the cancelled later delays do not add it again');
  assert.equal(clock.pending, 0);
});

test('workers: a failing reconcile is retried with backoff until it succeeds, then forgotten', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, baseDelayMs: 100 });
  const attempts: number[] = [];
  const errors: number[] = [];
  let fail = 3;
  const done = runWorkers(
    q,
    2,
    async () => {
      attempts.push(clock.now());
      if (fail-- > 0) throw new Error('api down');
      return undefined;
    },
    (_k, _e, delay) => errors.push(delay),
  );
  q.add('k');
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(100);
  }
  assert.deepEqual(errors, [100, 200, 400]);
  assert.equal(attempts.length, 4);
  assert.equal(q.failuresOf('k'), 0);
  q.shutDown();
  await done;
});

test('workers never reconcile one key concurrently, and reconcile again after a change during a run', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  let release!: () => void;
  const firstRun = new Promise<void>((r) => (release = r));
  const done = runWorkers(
    q,
    4,
    async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      if (runs === 1) await firstRun;
      running--;
      return undefined;
    },
    () => {},
  );
  q.add('k');
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 10; i++) q.add('k');
  release();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2, 'once for the first add, once for all adds during that run');
  q.shutDown();
  await done;
});

test('a result asking for a later look queues the key again after that time', async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  let runs = 0;
  const done = runWorkers(
    q,
    1,
    async () => {
      runs++;
      return { requeueAfterMs: 30_000 };
    },
    () => {},
  );
  q.add('k');
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 1);
  clock.advance(29_999);
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 1);
  clock.advance(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  q.shutDown();
  await done;
});
