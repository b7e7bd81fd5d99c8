import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Penalties } from './penalties.ts';

test('a peer is banned at the Nth strike, for banMs, then starts afresh', () => {
  let now = 1_000;
  const p = new Penalties({ maxStrikes: 3, banMs: 500, now: () => now });
  assert.equal(p.strike('A'), false);
  assert.equal(p.strike('A'), false);
  assert.equal(p.isBanned('A'), false);
  assert.equal(p.strikes('A'), 2);
  assert.equal(p.strike('A'), true);
  assert.equal(p.isBanned('A'), true);
  assert.equal(p.isBanned('B'), false);
  assert.equal(p.banRemainingMs('A'), 500);
  now += 499;
  assert.equal(p.isBanned('A'), true);
  now += 1;
  assert.equal(p.isBanned('A'), false);
  assert.equal(p.strikes('A'), 0);
  assert.equal(p.strike('A'), false);
});
