import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VRef } from '../liveslots/protocol.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { CapData, VatMessage } from '../protocol/messages.ts';
import { KernelKeeper, MemoryBacking, type PromiseDraft } from './keeper.ts';
import { newPromise } from './promises.ts';
import { PromiseRetirement } from './retirement.ts';

const data = (...slots: string[]): CapData => ({ body: '#null', slots });

function setup() {
  const keeper = new KernelKeeper(new MemoryBacking());
  const pushed: [string, VatMessage][] = [];
  const retired: VRef[][] = [];
  const waiting = new Set<VRef>();
  const settled: VRef[] = [];
  const r = new PromiseRetirement(keeper, {
    push: (peer, msg) => pushed.push([peer, msg]),
    retireInVat: (vrefs) => retired.push(vrefs),
    hostWaits: (vref) => waiting.has(vref),
    settled: (vref) => settled.push(vref),
  });
  const add = (vref: VRef, rec: Partial<PromiseDraft> = {}) => {
    const p = { ...newPromise(null), ...rec };
    keeper.addPromise(vref, p);
    return p;
  };
  return { keeper, r, pushed, retired, waiting, settled, add };
}

test('learning a settlement from the decider drops the index on both sides, in one message per commit', () => {
  const { keeper, r, pushed, add } = setup();
  const c = keeper.clist('D');
  c.add('p-4', 'p-1');
  c.add('p-5', 'p-2');
  for (const vref of ['p-1', 'p-2']) {
    add(vref, { decider: 'D' });
    r.setResolution(vref, { rejected: false, data: data() });
    r.settledBy('D', vref);
  }
  assert.equal(c.size, 0);
  r.beforeCommit();
  assert.deepEqual(pushed, [['D', { op: 'drop', refs: ['p-4', 'p-5'] }]]);
  assert.equal(keeper.promises.size, 0, 'nothing else names them: forgotten');
});

test("a peer's drop forgets its entry; an unknown promise is a ProtocolError; object refs stay", () => {
  const { keeper, r, add } = setup();
  const c = keeper.clist('P');
  const wire = c.export('p+1'); // we allocated it: the peer writes it as p-1
  c.add('o-3', 'o-1');
  add('p+1');
  r.setResolution('p+1', { rejected: false, data: data() });
  r.acceptDrop('P', [`p-${wire.slice(2)}`, 'o+3']);
  assert.equal(c.wireOf('p+1'), undefined);
  assert.equal(c.vrefOf('o-3'), 'o-1', 'no distributed GC of objects yet');
  assert.throws(() => r.acceptDrop('P', ['p-99']), ProtocolError);
  assert.throws(() => r.acceptDrop('P', ['nonsense']), ProtocolError);
});

test('a settled promise the vat still maps is retired in the vat first, then forgotten', () => {
  const { keeper, r, retired, add } = setup();
  add('p+7', { known: true });
  r.setResolution('p+7', { rejected: false, data: data() });
  r.beforeCommit();
  assert.deepEqual(retired, [['p+7']]);
  assert.ok(keeper.promises.has('p+7'), 'kept until the retire delivery commits');
  keeper.updatePromise('p+7', (p) => {
    delete p.known; // the retire crank committed (cranks.ts vatRetired)
  });
  r.consider('p+7');
  r.beforeCommit();
  assert.equal(keeper.promises.has('p+7'), false);
});

test('what still names a settled promise keeps it: c-lists, queued work, the host, an embargo, other settlements', () => {
  const { keeper, r, waiting, add } = setup();
  const settle = (vref: VRef, _added: unknown, ...slots: string[]) =>
    r.setResolution(vref, { rejected: false, data: data(...slots) });

  keeper.clist('P').add('p-1', 'p-1');
  settle('p-1', add('p-1'));
  settle('p-2', add('p-2', { queued: 1 }));
  waiting.add('p-3');
  settle('p-3', add('p-3'));
  settle('p-4', add('p-4'));
  const outer = add('p-5');
  settle('p-5', outer, 'p-4'); // p-5's settlement names p-4
  keeper.clist('P').add('p-6', 'p-5'); // and a peer still holds p-5
  r.beforeCommit();
  assert.deepEqual([...keeper.promises.keys()].sort(), ['p-1', 'p-2', 'p-3', 'p-4', 'p-5']);

  // An embargo anywhere holds every retirement (held sends may name any promise).
  keeper.clist('P').delete('p-1');
  keeper.embargoes.set(1, 'p-9');
  r.consider('p-1');
  r.beforeCommit();
  assert.ok(keeper.promises.has('p-1'));
  keeper.embargoes.clear();
  r.beforeCommit();
  assert.equal(keeper.promises.has('p-1'), false);

  // The peer lets go of p-5: p-5 goes, and with it the last name of p-4.
  r.acceptDrop('P', ['p+6']);
  r.beforeCommit();
  assert.deepEqual([...keeper.promises.keys()].sort(), ['p-2', 'p-3']);
});

test('references from settlements are rebuilt at load (they are not stored)', () => {
  const backing = new MemoryBacking();
  const k1 = new KernelKeeper(backing);
  const inner = { ...newPromise(null), resolution: { rejected: false, data: data() } };
  const outer = { ...newPromise(null), resolution: { rejected: false, data: data('p-1') } };
  k1.addPromise('p-1', inner);
  k1.addPromise('p-2', outer);
  k1.clist('P').add('p-2', 'p-2');
  k1.flush();
  const k2 = new KernelKeeper(backing);
  const r = new PromiseRetirement(k2, {
    push: () => {},
    retireInVat: () => {},
    hostWaits: () => false,
    settled: () => {},
  });
  r.beforeCommit();
  assert.ok(k2.promises.has('p-1'), 'p-2, held by a peer, still names it');
  r.acceptDrop('P', ['p+2']);
  r.beforeCommit();
  assert.equal(k2.promises.size, 0);
});
