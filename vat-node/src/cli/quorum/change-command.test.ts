import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChainError, checkSignedRequest } from '../../quorum/chain.ts';
import { makeTestMembers, makeTestQuorum } from '../../quorum/testing.ts';
import type { Config } from '../config.ts';
import { UsageError } from '../parse.ts';
import { changeFromFlags, signChange } from './change-command.ts';
import { type KeyPair, newKeyPair } from './key-file.ts';

const adminKey: KeyPair = newKeyPair('admin');
const q = await makeTestQuorum(4, 3, { admin: adminKey.publicKey });
const [newcomer] = await makeTestMembers(1);
const N = newcomer!.vatId;
const [A] = q.config.members;

const flags = (over: Partial<Config<'quorum change'>>) =>
  ({ adminKey, genesis: q.genesis, memberEndpoint: [], ...over }) as Config<'quorum change'>;
const usage = (want: RegExp) => (e: unknown) => e instanceof UsageError && want.test(e.message);

test('the flags make exactly one change; k stays unless --threshold is given', () => {
  const c = q.config;
  assert.deepEqual(changeFromFlags(flags({ add: N, threshold: 4 }), c).change, {
    op: 'add',
    member: N,
    threshold: 4,
  });
  assert.deepEqual(changeFromFlags(flags({ remove: A }), c).change, {
    op: 'remove',
    member: A,
    threshold: 3,
  });
  assert.deepEqual(changeFromFlags(flags({ threshold: 4 }), c).change, {
    op: 'threshold',
    threshold: 4,
  });
  assert.deepEqual(changeFromFlags(flags({ addLearner: N }), c).change, {
    op: 'add-learner',
    member: N,
  });
  assert.deepEqual(changeFromFlags(flags({ removeLearner: N }), c).change, {
    op: 'remove-learner',
    member: N,
  });
  assert.throws(() => changeFromFlags(flags({}), c), usage(/^missing the change: --add/));
  assert.throws(
    () => changeFromFlags(flags({ add: N, remove: A }), c),
    usage(/^--add and --remove: one change at a time/),
  );
  assert.throws(
    () => changeFromFlags(flags({ addLearner: N, threshold: 2 }), c),
    usage(/^--threshold: a learner change keeps k/),
  );
});

test('a signed change is one a member accepts; a bad one is refused before signing, with the reason and the flag', () => {
  for (const over of [
    { add: N, threshold: 4 },
    { add: N, threshold: 3 },
    { remove: A },
    { remove: A, threshold: 2 },
    { threshold: 4 },
    { addLearner: N },
  ]) {
    const signed = signChange(flags(over), q.config);
    const next = checkSignedRequest(q.config, signed.request, signed.admin, 5);
    assert.equal(next.epoch, 1, JSON.stringify(over));
  }
  const refused: [Partial<Config<'quorum change'>>, RegExp][] = [
    // (4,3) + 1 with k = 3 is (5,3): fine; (4,3) - 1 with k = 3 is (3,3): fine; so break it:
    [{ remove: A, threshold: 1 }, /^--threshold: .*2k ≤ n/],
    [{ threshold: 2 }, /^--threshold: .*2k ≤ n/],
    [{ threshold: 5 }, /^--threshold: .*nothing could ever be decided/],
    [{ threshold: 3 }, /^--threshold: threshold is already 3/],
    [{ add: A, threshold: 4 }, /^--threshold: .* is already a member/],
    [{ remove: N }, /^--remove: .* is not a member/],
    [{ removeLearner: N }, /^--remove-learner: .* is not a learner/],
  ];
  for (const [over, want] of refused) {
    assert.throws(() => signChange(flags(over), q.config), usage(want), JSON.stringify(over));
  }
});

test('the default k is refused with a hint when it breaks the arithmetic', async () => {
  const small = await makeTestQuorum(3, 2, { admin: adminKey.publicKey });
  assert.throws(
    () => signChange(flags({ genesis: small.genesis, add: N }), small.config),
    usage(/^--add: .*2k ≤ n.*\(k stays 2 unless --threshold K is given\)/),
  );
});

test("another key than the genesis administrator's is refused (members would refuse it)", () => {
  assert.throws(
    () => signChange(flags({ adminKey: newKeyPair('admin'), threshold: 4 }), q.config),
    usage(/^--admin-key: not this quorum's administrator key/),
  );
  // And what such a signature would meet at a member:
  assert.throws(
    () =>
      checkSignedRequest(
        q.config,
        { quorum: q.config.quorum, epoch: 0, change: { op: 'threshold', threshold: 4 } },
        'A'.repeat(86),
        5,
      ),
    ChainError,
  );
});
