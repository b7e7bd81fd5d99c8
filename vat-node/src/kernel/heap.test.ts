import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeapTracker } from './heap.ts';

test('a fresh worker holds nothing; an embargo holds it', () => {
  const h = new HeapTracker();
  assert.equal(h.held(0), null);
  assert.equal(h.held(1), 'an embargo holds sends');
});

test('only objects of this worker’s heap that left the vat hold it (not the root, durable or older ones)', () => {
  const h = new HeapTracker();
  h.freshWorker(5);
  for (const vref of ['o+0', 'o+d3/1', 'o-2', 'p+7', 'o+4']) h.handedOut(vref);
  assert.equal(h.held(0), null);
  h.handedOut('o+5');
  h.handedOut('o+6');
  assert.match(h.held(0)!, /heap object o\+5 was handed out/);
  // The next worker starts clean: its own heap objects are numbered from the new floor.
  h.freshWorker(9);
  assert.equal(h.held(0), null);
});

test('a pending promise holds the heap until it settles or the vat lets it go; objects are reported first', () => {
  const h = new HeapTracker();
  h.knows('p+1', true);
  assert.equal(h.held(0), null, 'settled already');
  h.knows('p+2', false);
  h.knows('p-3', false);
  assert.equal(h.held(0), 'promise p+2 is pending in the heap');
  h.released('p+2');
  assert.equal(h.held(0), 'promise p-3 is pending in the heap');
  h.handedOut('o+1');
  assert.match(h.held(1)!, /^heap object o\+1/);
  h.freshWorker(2);
  h.released('p-3');
  assert.equal(h.held(0), null);
});
