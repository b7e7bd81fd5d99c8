import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type LeaseRecord } from './lease.ts';

const held = (holder: string, durationS = 15): LeaseRecord => ({
  holder,
  durationS,
  transitions: 0,
});
const seen = (record: LeaseRecord, seenAt: number) => ({ record, resourceVersion: '7', seenAt });

test('no lease: create it; my lease: renew it; a released lease: take it', () => {
  assert.equal(decide('a', undefined, undefined, 0), 'create');
  assert.equal(decide('a', held('a'), seen(held('a'), 0), 999_999), 'renew');
  assert.equal(decide('a', held(''), undefined, 0), 'take');
});

test("another holder's lease is taken only after this process saw it unchanged for its duration", () => {
  const lease = held('b', 15);
  assert.equal(decide('a', lease, undefined, 1_000_000), 'wait', 'never seen: wait a full term');
  assert.equal(decide('a', lease, seen(lease, 1000), 1000 + 14_999), 'wait');
  assert.equal(decide('a', lease, seen(lease, 1000), 1000 + 15_000), 'take');
});
