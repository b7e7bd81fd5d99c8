import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: plain JavaScript with no types (it runs in the pod without dependencies)
import { membership } from './member-agent.mjs';

test('await-genesis: who is in the configuration, replaying the chain from the genesis', () => {
  const doc = {
    genesis: { members: ['A', 'B', 'C'] },
    records: [
      { request: { change: { op: 'add-learner', member: 'D' } } },
      { request: { change: { op: 'add', member: 'D', threshold: 3 } } },
      { request: { change: { op: 'add-learner', member: 'E' } } },
      { request: { change: { op: 'remove', member: 'A', threshold: 3 } } },
    ],
  };
  const m = membership(doc);
  assert.deepEqual([...m.members].sort(), ['B', 'C', 'D']);
  assert.deepEqual([...m.learners], ['E']);
  const dropped = membership({
    ...doc,
    records: [...doc.records, { request: { change: { op: 'remove-learner', member: 'E' } } }],
  });
  assert.deepEqual([...dropped.learners], []);
  assert.deepEqual([...membership({ genesis: { members: ['A'] } }).members], ['A']);
});
