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
});

test('the facade is frozen: contract code cannot refill or replace it', () => {
  const m = new GasMeter();
  assert.ok(Object.isFrozen(m.facade));
  assert.equal((m.facade as unknown as Record<string, unknown>)['reset'], undefined);
});
