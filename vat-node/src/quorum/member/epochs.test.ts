// What a member knows of its configurations and when it speaks for the quorum (epochs.ts): a
// decided change request starts an epoch (stored, found again after a restart); a refused one
// changes nothing; entering an epoch without its decision is refused; a learner is muted
// until it is a member in both the ordering and the certified chain, and then wakes every
// peer it was asked to, once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../../protocol/identity.ts';
import { type ConfigChange, requestChange } from '../chain.ts';
import type { QuorumConfig } from '../config.ts';
import { reconfigureInput } from '../ordering/reconfigure.ts';
import type { Block } from '../ordering/types.ts';
import { makeTestMembers, makeTestQuorum, type TestQuorum } from '../testing.ts';
import { ADMIN_REQUESTER } from './changes.ts';
import { Epochs } from './epochs.ts';
import { OrderingStore } from './ordering-store.ts';

function epochsOf(q: TestQuorum, self: VatId, store = new OrderingStore(undefined)) {
  let ordering: QuorumConfig | undefined;
  const woken: VatId[] = [];
  const epochs = new Epochs({
    quorum: q.config.quorum,
    self,
    genesis: q.genesis,
    records: [],
    store,
    ordering: () => ordering,
    wake: (peer) => woken.push(peer),
  });
  return {
    epochs,
    woken,
    store,
    order(config: QuorumConfig) {
      ordering = config;
    },
  };
}

/** A decided block at `height` whose last input is the administrator's change. */
function changeBlock(q: TestQuorum, config: QuorumConfig, change: ConfigChange, height: number) {
  const { request, admin } = requestChange(q.admin.sign, config, change);
  const block = {
    inputs: [reconfigureInput(request, admin, ADMIN_REQUESTER, request.epoch + 1)],
  } as unknown as Block;
  return { epoch: config.epoch, height, blockId: `b${height}`, block };
}

test('a decided change starts the next epoch, stored; a refused one changes nothing', async () => {
  const q = await makeTestQuorum(3, 2);
  const [learner] = await makeTestMembers(1);
  const e = epochsOf(q, q.members[0]!.vatId);
  assert.equal(e.epochs.knows(learner!.vatId), false);
  e.epochs.noteDecided(changeBlock(q, q.config, { op: 'add-learner', member: learner!.vatId }, 9));
  const entry = e.epochs.entered.get(1);
  assert.equal(entry?.since, 10);
  assert.equal(entry?.root, 'b9');
  assert.equal(e.epochs.knows(learner!.vatId), true, 'a learner of a decided epoch is known');
  assert.equal(e.epochs.roleIn(entry!.config), 'member');
  // Found again after a restart (same store).
  assert.equal(epochsOf(q, q.members[0]!.vatId, e.store).epochs.entered.get(1)?.since, 10);
  // A change signed for an epoch that is not the one decided: refused, nothing entered.
  e.epochs.noteDecided({
    ...changeBlock(q, q.config, { op: 'threshold', threshold: 3 }, 12),
    epoch: 1,
  });
  assert.equal(e.epochs.entered.size, 1);
  // An ordinary block: nothing.
  e.epochs.noteDecided({
    epoch: 1,
    height: 13,
    blockId: 'b13',
    block: { inputs: [] } as unknown as Block,
  });
  assert.equal(e.epochs.entered.size, 1);
});

test('entering an epoch needs the decision that made it, at its height', async () => {
  const q = await makeTestQuorum(3, 2);
  const [learner] = await makeTestMembers(1);
  const e = epochsOf(q, q.members[0]!.vatId);
  const next = { ...q.config, epoch: 1 };
  assert.match(String(e.epochs.enter(next, 10)), /entered epoch 1 without the change/);
  e.epochs.noteDecided(changeBlock(q, q.config, { op: 'add-learner', member: learner!.vatId }, 9));
  const entry = e.epochs.entered.get(1)!;
  assert.equal(e.epochs.enter(entry.config, 10), entry);
  assert.match(String(e.epochs.enter(entry.config, 11)), /without the change/);
});

test('a learner is muted until it votes in the ordering and the chain; then wakes each peer once', async () => {
  const q = await makeTestQuorum(3, 2);
  const [learner, p1, p2] = await makeTestMembers(3);
  const e = epochsOf(q, learner!.vatId);
  assert.equal(e.epochs.roleIn(), 'none');
  e.epochs.updateSpeaking(() => []);
  assert.equal(e.epochs.speaking, false);
  e.epochs.wake(p1!.vatId);
  e.epochs.wake(p1!.vatId);
  assert.deepEqual(e.woken, [], 'not a member: nothing sent for the quorum');
  // A member of the ordering's configuration, but the chain does not say so yet: still muted.
  e.order({ ...q.config, epoch: 2, members: [...q.config.members, learner!.vatId].sort() });
  e.epochs.updateSpeaking(() => [p2!.vatId]);
  assert.equal(e.epochs.speaking, false);
  assert.deepEqual(e.woken, []);
  // A member itself: speaks; muted and owed peers woken, each once.
  const m = epochsOf(q, q.members[0]!.vatId);
  m.epochs.wake(p1!.vatId);
  m.epochs.updateSpeaking(() => [p1!.vatId, p2!.vatId]);
  assert.equal(m.epochs.speaking, true);
  assert.deepEqual(m.woken.sort(), [p1!.vatId, p2!.vatId].sort());
  m.epochs.wake(p2!.vatId);
  assert.equal(m.woken.length, 3, 'a speaker wakes at once');
  // Removed from the ordering's configuration: stops at once.
  m.order({ ...q.config, epoch: 1, members: q.config.members.slice(1) });
  m.epochs.updateSpeaking(() => []);
  assert.equal(m.epochs.speaking, false);
  m.epochs.wake(p1!.vatId);
  assert.equal(m.woken.length, 3);
});
