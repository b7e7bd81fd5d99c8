import 'ses';
import assert from 'node:assert/strict';
import { test } from 'node:test';

lockdown({ errorTaming: 'safe' });
const { GasMeter, GasExhausted } = await import('./meter.ts');

test('the meter counts calls and iterations and stops at the limit', () => {
  const m = new GasMeter();
  m.reset(10);
  for (let i = 0; i < 5; i++) m.facade.f();
  for (let i = 0; i < 5; i++) m.facade.l();
  assert.equal(m.used, 10);
  assert.equal(m.exhausted, null);
  assert.throws(() => m.facade.f(), GasExhausted);
  assert.ok(m.exhausted);
  assert.throws(() => m.facade.l(), GasExhausted, 'stays exhausted');
  assert.throws(() => m.facade.c(Error('anything')), GasExhausted, 'catch clauses rethrow it');
  m.reset(10);
  assert.equal(m.used, 0);
  assert.equal(m.exhausted, null);
});

test('catch clauses rethrow stack overflows but let ordinary errors through', () => {
  const m = new GasMeter();
  m.reset(100);
  m.facade.c(RangeError('Invalid array length'));
  assert.equal(m.exhausted, null);
  assert.throws(() => m.facade.c(RangeError('Maximum call stack size exceeded')), /stack overflow/);
  assert.match(m.exhausted!.message, /stack overflow/);
  assert.equal(m.used, 101, 'an overflow costs the whole limit, however deep it went');
  m.reset(100);
  m.facade.f();
  m.poison('stack overflow (call depth limit)');
  assert.equal(m.used, 101);
});

test('the facade is frozen: contract code cannot refill or replace it', () => {
  const m = new GasMeter();
  assert.ok(Object.isFrozen(m.facade));
  assert.equal((m.facade as unknown as Record<string, unknown>)['reset'], undefined);
});

test('a gas limit that is not a positive integer is refused (NaN would never run out)', () => {
  const m = new GasMeter();
  for (const bad of [Number.NaN, 0, -1, 1.5, Number.POSITIVE_INFINITY, 'lots', 2 ** 53]) {
    assert.throws(() => m.reset(bad as number), /gas limit must be a positive integer/);
  }
  m.reset(1);
  m.facade.f();
  assert.throws(() => m.facade.f(), GasExhausted);
});
