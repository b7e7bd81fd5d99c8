import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreImage } from '../../store/image.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { Certificate } from '../certificate.ts';
import { ConfigChain } from '../chain.ts';
import { quorumVatIdOf } from '../config.ts';
import { checkpointValue } from '../ordering/statements.ts';
import { makeTestQuorum } from '../testing.ts';
import { OrderingStore } from './ordering-store.ts';
import { StateTransfer } from './state-transfer.ts';

const q = await makeTestQuorum(3, 2);
const quorum = quorumVatIdOf(q.genesis);
const chain = new ConfigChain(quorum, q.genesis);
const certificate = { epoch: 0, signers: '', signatures: [] } as unknown as Certificate;

function transfer(): StateTransfer {
  return new StateTransfer({
    quorum,
    self: q.genesis.members[0]!,
    host: {} as VatHost,
    dataDir: undefined,
    store: new OrderingStore(undefined),
    epochs: new Map(),
    chain: () => chain,
    newerChain: async () => {},
    events: () => {},
  });
}

/** The kernel store at a height: one agreed row whose value is the height. */
const imageAt = (height: number): StoreImage => ({
  rows: [['vs.vom.count', String(height)]],
  checkpoint: { prefix: 'vs.', position: 0, hash: '0'.repeat(64), entries: [] },
  transcript: [],
});

const hashAt = (height: number) => String(height).padStart(64, '0');

/** The member computes the state at each checkpoint height as it executes it. */
function execute(t: StateTransfer, heights: number[]): Map<number, string> {
  const states = new Map<number, string>();
  for (const h of heights) states.set(h, t.stateAt(h, imageAt(h), { height: h, hash: hashAt(h) }));
  return states;
}

const stable = (height: number, state: string) => ({
  type: 'stable-checkpoint' as const,
  height,
  hash: checkpointValue(hashAt(height), state),
  certificate,
});

test('a member ahead of the others still serves: a checkpoint certified after it computed the next ones', () => {
  const t = transfer();
  const states = execute(t, [10, 20, 30]);
  assert.equal(t.servedHeight, undefined);
  t.certified(stable(10, states.get(10)!));
  assert.equal(t.servedHeight, 10, 'the state at 10 was kept although 20 and 30 came after');
  t.certified(stable(30, states.get(30)!));
  assert.equal(t.servedHeight, 30);
  // Certified late, after a newer one: the served state does not go back.
  t.certified(stable(20, states.get(20)!));
  assert.equal(t.servedHeight, 30);
});

test('a certificate for another state, or a height never computed, serves nothing', () => {
  const t = transfer();
  const states = execute(t, [10]);
  t.certified(stable(10, states.get(20) ?? 'another state'));
  t.certified(stable(40, states.get(10)!));
  assert.equal(t.servedHeight, undefined);
  // A state computed while the kernel stood elsewhere is not kept (it is not that height's).
  t.stateAt(50, imageAt(49), { height: 49, hash: hashAt(49) });
  t.certified(stable(50, 'x'));
  assert.equal(t.servedHeight, undefined);
});

test('only a few states are kept, the oldest: a member that stays ahead still serves newer ones', () => {
  const t = transfer();
  const states = execute(t, [10, 20, 30, 40, 50, 60]);
  // Nothing certified yet: 10..40 kept, 50 and 60 not (memory stays bounded).
  t.certified(stable(10, states.get(10)!));
  assert.equal(t.servedHeight, 10, 'the oldest is what gets certified next');
  t.certified(stable(20, states.get(20)!));
  assert.equal(t.servedHeight, 20);
  // Room again: the next checkpoint it executes is kept and served once certified. Before
  // this, the newest were kept and a member ahead by more than four checkpoints served nothing
  // newer, so a learner could install a state the members had already pruned past.
  const more = execute(t, [70, 80]);
  t.certified(stable(30, states.get(30)!));
  t.certified(stable(70, more.get(70)!));
  assert.equal(t.servedHeight, 70);
  t.certified(stable(80, more.get(80)!));
  assert.equal(t.servedHeight, 80);
});

test('a member behind the others serves a checkpoint certified before it got there', () => {
  const t = transfer();
  const states = new Map([...execute(transfer(), [10, 20, 30, 40, 50, 60, 70])]);
  for (const h of [10, 20, 30, 40, 50, 60]) t.certified(stable(h, states.get(h)!));
  assert.equal(t.servedHeight, undefined);
  // It reaches 10 and 20: those certifications were let go (only the last few are remembered).
  execute(t, [10, 20]);
  assert.equal(t.servedHeight, undefined);
  execute(t, [30]);
  assert.equal(t.servedHeight, 30, 'certified while it was behind: served when it got there');
  // Another state than the certified one: not served.
  t.certified(stable(70, 'another state'));
  execute(t, [40, 50, 60]);
  assert.equal(t.servedHeight, 60);
  execute(t, [70]);
  assert.equal(t.servedHeight, 60);
});

test('what a host catching up is answered: the snapshot when it is behind what sync keeps', () => {
  const t = transfer();
  const states = execute(t, [100]);
  t.certified(stable(100, states.get(100)!));
  const range = { oldestKept: 60, decidedHeight: 150 };
  assert.equal(t.answer(0, range).header.status, 'snapshot', 'a new host gets it');
  assert.equal(t.answer(10, range).header.status, 'snapshot', 'a host below what is kept');
  assert.equal(t.answer(80, range).header.status, 'not-needed', 'sync will do');
  assert.equal(t.answer(100, { oldestKept: 120, decidedHeight: 150 }).header.status, 'none');
  assert.equal(
    t.answer(0, { oldestKept: 150, decidedHeight: 300 }).header.status,
    'none',
    'a snapshot sync could not follow is not sent',
  );
});
