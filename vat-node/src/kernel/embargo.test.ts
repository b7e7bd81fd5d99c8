import assert from 'node:assert/strict';
import { test } from 'node:test';
import { embargoFor, type Settlement } from './embargo.ts';

const base: Settlement = { rejected: false, redirects: true, home: true, sent: 0, received: 0 };

test('home: an echo only while some of our sends were not yet processed by the peer', () => {
  assert.equal(embargoFor({ ...base, sent: 0, received: 0 }), 'none');
  assert.equal(embargoFor({ ...base, sent: 3, received: 3 }), 'none');
  assert.equal(embargoFor({ ...base, sent: 3, received: 2 }), 'echo');
  assert.equal(embargoFor({ ...base, sent: 1, received: 0 }), 'echo');
});

test('onward to a third vat: a path echo as soon as anything went through the peer', () => {
  const third = { ...base, home: false };
  assert.equal(embargoFor({ ...third, sent: 0 }), 'none');
  assert.equal(embargoFor({ ...third, sent: 1, received: 1 }), 'path-echo');
  assert.equal(embargoFor({ ...third, sent: 5, received: 0 }), 'path-echo');
});

test('no embargo when nothing is redirected: rejected, data, or still through the same peer', () => {
  assert.equal(embargoFor({ ...base, rejected: true, sent: 4 }), 'none');
  assert.equal(embargoFor({ ...base, redirects: false, sent: 4 }), 'none');
  assert.equal(embargoFor({ ...base, home: false, redirects: false, sent: 4 }), 'none');
});
