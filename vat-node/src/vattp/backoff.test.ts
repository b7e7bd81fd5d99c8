import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffCeiling, backoffDelay } from './backoff.ts';

const policy = { baseMs: 10, capMs: 1_000, factor: 2 };

test('the ceiling grows by the factor and stops at the cap', () => {
  const ceilings = Array.from({ length: 10 }, (_, n) => backoffCeiling(n, policy));
  assert.deepEqual(ceilings, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
  assert.equal(backoffCeiling(10_000, policy), 1000);
});

test('full jitter: the delay is random * ceiling, from 0 up to (not including) the ceiling', () => {
  assert.equal(backoffDelay(3, { ...policy, random: () => 0 }), 0);
  assert.equal(backoffDelay(3, { ...policy, random: () => 0.5 }), 40);
  assert.equal(backoffDelay(3, { ...policy, random: () => 0.999999 }), 79);
  assert.equal(backoffDelay(20, { ...policy, random: () => 0.5 }), 500);
});

test('with the real random source delays grow on average and are spread out (jitter)', () => {
  const samples = (n: number) => Array.from({ length: 2000 }, () => backoffDelay(n, policy));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const early = samples(1);
  const late = samples(6);
  assert.ok(mean(late) > 8 * mean(early), `${mean(early)} -> ${mean(late)}`);
  assert.ok(Math.abs(mean(late) - 320) < 30, `mean ${mean(late)} should be near 640 / 2`);
  assert.ok(new Set(late).size > 200, 'delays are spread out');
  assert.ok(late.every((d) => d >= 0 && d < 640));
});

test('Backoff counts attempts and resets after a success', () => {
  const b = new Backoff({ ...policy, random: () => 0.5 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [5, 10, 20, 40]);
  assert.equal(b.attempt, 4);
  b.reset();
  assert.equal(b.next(), 5);
  assert.throws(() => new Backoff({ baseMs: 0, capMs: 1, factor: 2 }), RangeError);
});
