import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chainHash, GENESIS_HASH } from '../store/chain.ts';
import { KernelDB } from '../store/kernel-db.ts';
import { type Backing, DbBacking, KernelKeeper, MemoryBacking } from './keeper.ts';

/** Every table touched once, then flushed. */
function populate(k: KernelKeeper): void {
  k.setVatStore([
    ['bg.x', '1'],
    ['bg.y', '2'],
    ['bg.y', null],
  ]);
  const c = k.clist('peer.with.dots');
  assert.equal(c.export('o+0'), 'o+1');
  assert.equal(c.export('p-3'), 'p+1');
  c.add('o-7', 'o-1');
  k.addImport('o-1', 'peer.with.dots', 'o-7');
  k.next('nextImport');
  k.addPromise('p-3', {
    decider: 'peer.with.dots',
    resolution: null,
    sent: new Map([['peer.with.dots', 2]]),
    received: new Map(),
    embargo: {
      token: 4,
      held: [{ target: 'p-3', method: 'm', args: { body: '#[]', slots: [] }, result: null }],
    },
    take: 'g:1',
  });
  k.embargoes.set(4, 'p-3');
  k.setTake('g:1', { promise: 'p-3', vref: null, error: null });
  k.holdInbound('peer.with.dots', { op: 'echoed', token: 9 });
  k.setSturdyRef('key1', 'o+0');
  k.setSturdyRef('key2', 'o+0');
  k.setSturdyRef('key2', null);
  k.setCert('Q', 'o-1', 'h:cert');
  k.enqueue({ kind: 'echo', peer: 'Q', token: 1 });
  k.enqueue({ kind: 'vat', delivery: { type: 'notify', resolutions: [] } });
  k.enqueue({ kind: 'echo', peer: 'Q', token: 3 });
  k.removeQueued(1);
  for (let i = 0; i < 12; i++) k.pushOutbound('Q', { op: 'echoed', token: i });
  k.dropAcked('Q', 3);
  k.setInbound('Q', 5);
  k.setMeta('vatName', 'V');
}

function sorted<K, V>(m: ReadonlyMap<K, V>): [K, V][] {
  return [...m].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
}

function snapshot(k: KernelKeeper) {
  return {
    vs: sorted(k.vatStore),
    clist: [...k.clists].map(([p, c]) => [p, c.size, c.vrefOf('o+1'), c.wireOf('o-1')]),
    imports: sorted(k.imports),
    promises: sorted(k.promises),
    takes: sorted(k.takes),
    held: sorted(k.held),
    sturdy: sorted(k.sturdyRefs),
    certs: sorted(k.certs),
    runq: k.runQueue.map((q) => q.item),
    outbox: sorted(k.outbox),
    peers: sorted(k.peers),
    embargoes: sorted(k.embargoes),
    counters: { ...k.counters },
    meta: sorted(k.meta),
  };
}

function roundTrip(backing: () => Backing): void {
  const k = new KernelKeeper(backing());
  populate(k);
  assert.equal(k.dirty, true);
  k.flush();
  assert.equal(k.dirty, false);
  const again = new KernelKeeper(backing());
  assert.deepEqual(snapshot(again), snapshot(k));
  // Counters continue: the next allocations do not reuse anything.
  assert.equal(again.clist('peer.with.dots').export('o+5'), 'o+2');
  assert.equal(again.pushOutbound('Q', { op: 'echoed', token: 99 }), 13);
  assert.equal(again.enqueue({ kind: 'echo', peer: 'Q', token: 5 }).n, 4);
}

test('the keeper reloads every table as flushed (memory backing)', () => {
  const mem = new MemoryBacking();
  roundTrip(() => mem);
});

test('the keeper reloads every table as flushed (KernelDB), transcript rows in the same commit', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-keeper-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let db = KernelDB.open(dir);
  const k = new KernelKeeper(new DbBacking(db));
  populate(k);
  const h1 = chainHash(GENESIS_HASH, '["one"]');
  k.addEntry({ entry: '["one"]', hash: h1 });
  k.addEntry({ entry: '["two"]', hash: chainHash(h1, '["two"]') });
  k.flush();
  assert.equal(db.head.position, 2);
  db.close();
  db = KernelDB.open(dir, { check: 'full' });
  t.after(() => db.close());
  assert.deepEqual(snapshot(new KernelKeeper(new DbBacking(db))), snapshot(k));
});

test('a failed commit throws and commits nothing', () => {
  const failing: Backing = {
    load: () => [],
    commit: () => {
      throw Error('disk full');
    },
  };
  const k = new KernelKeeper(failing);
  k.setVatStore([['a', '1']]);
  assert.throws(() => k.flush(), /disk full/);
});

test('run-queue verbs write through: a taken batch stays persisted until each entry completes', () => {
  const backing = new MemoryBacking();
  const k = new KernelKeeper(backing);
  const notify = (n: number) =>
    ({
      kind: 'vat',
      delivery: { type: 'notify', resolutions: [[`p-${n}`, false, { body: '#0', slots: [] }]] },
    }) as const;
  for (let n = 1; n <= 5; n++) k.enqueue(notify(n));
  k.enqueue({ kind: 'echo', peer: 'Q', token: 1 });
  // At most 3, and never past an item that must start its own batch (here p-3's).
  const startsBatch = (item: { kind: string; delivery?: unknown }) =>
    JSON.stringify(item).includes('p-3');
  const batch = k.takeRunBatch(3, startsBatch);
  assert.deepEqual(
    batch.map((q) => q.n),
    [1, 2],
  );
  k.completed(batch[0]!);
  k.flush();
  // A restart now finds the taken-but-unfinished entry at the head, then the rest.
  const reloaded = new KernelKeeper(backing);
  assert.equal(reloaded.runQueue.length, 5);
  assert.deepEqual(reloaded.runQueue[0]!.item, notify(2));
  // The crank of entry 2 failed: it goes back to the head, in order.
  k.requeueFront(batch.slice(1));
  assert.deepEqual(
    k.runQueue.map((q) => q.n),
    [2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    k.takeRunBatch(10, startsBatch).map((q) => q.n),
    [2],
  );
  assert.deepEqual(
    k.takeRunBatch(10, startsBatch).map((q) => q.n),
    [3, 4, 5],
    'p-3 starts its batch; the echo ends it',
  );
});

test('holds write through: a held message is persisted, released in order, and the hold goes', () => {
  const backing = new MemoryBacking();
  const k = new KernelKeeper(backing);
  k.holdInbound('P', { op: 'echoed', token: 1 });
  k.holdInbound('P', { op: 'echoed', token: 2 });
  k.flush();
  assert.deepEqual(new KernelKeeper(backing).held.get('P'), [
    { op: 'echoed', token: 1 },
    { op: 'echoed', token: 2 },
  ]);
  assert.deepEqual(k.releaseHeld('P'), { op: 'echoed', token: 1 });
  assert.deepEqual(k.releaseHeld('P'), { op: 'echoed', token: 2 });
  assert.equal(k.releaseHeld('P'), undefined);
  assert.equal(k.held.has('P'), false);
  k.flush();
  assert.equal(new KernelKeeper(backing).held.size, 0);
});
