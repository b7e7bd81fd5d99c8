import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from './config.ts';
import { workerMemory } from './node-command.ts';
import { UsageError } from './parse.ts';

const memory = (heapMb: number, rssMb?: number) =>
  workerMemory({ heapMb, rssMb } as unknown as Config<'node'>);

test('the resident cap defaults to twice the heap, at least 512 MiB', () => {
  assert.deepEqual(memory(256), { heapMb: 256, rssMb: 512 });
  assert.deepEqual(memory(64), { heapMb: 64, rssMb: 512 });
  assert.deepEqual(memory(1024), { heapMb: 1024, rssMb: 2048 });
  assert.deepEqual(memory(256, 300), { heapMb: 256, rssMb: 300 });
});

test('a resident cap at or below the heap is a usage error naming both flags', () => {
  for (const [heap, rss] of [
    [512, 512],
    [1024, 600],
  ] as const) {
    assert.throws(
      () => memory(heap, rss),
      (e: unknown) =>
        e instanceof UsageError && /--rss-mb .* must exceed --heap-mb/.test(e.message),
    );
  }
});
