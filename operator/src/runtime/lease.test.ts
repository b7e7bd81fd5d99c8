import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type LeaseRecord, leaseOwnerReferences } from './lease.ts';

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

test("the Lease is owned by its holder's pod (not blocking), so it goes with that pod", () => {
  assert.deepEqual(leaseOwnerReferences({ podName: 'op-7c9', podUid: 'uid-1' }), [
    { apiVersion: 'v1', kind: 'Pod', name: 'op-7c9', uid: 'uid-1', controller: false },
  ]);
  assert.equal(leaseOwnerReferences(undefined), undefined, 'outside a pod: no owner');
});
