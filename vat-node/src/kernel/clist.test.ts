import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelKeeper, MemoryBacking } from './keeper.ts';

test('indices are allocated per kind, never reused, and stable per vref', () => {
  const c = new KernelKeeper(new MemoryBacking()).clist('B');
  assert.equal(c.export('o+0'), 'o+1');
  assert.equal(c.export('o+7'), 'o+2');
  assert.equal(c.export('p+3'), 'p+1');
  assert.equal(c.export('o+0'), 'o+1', 'same vref, same index');
  c.add('o-5', 'o-1'); // the peer allocated its own index 5
  assert.equal(c.export('o+9'), 'o+3', 'peer indices do not consume ours');
  assert.equal(c.vrefOf('o-5'), 'o-1');
  assert.equal(c.wireOf('o+7'), 'o+2');
});
