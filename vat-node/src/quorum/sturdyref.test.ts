import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatSturdyRef,
  newSecret,
  parseSturdyRef,
  redeemProof,
  sturdyKey,
} from '../kernel/sturdyref.ts';
import { genesisConfig, makeGenesis } from './config.ts';
import {
  newSturdyKey,
  QuorumSturdyTable,
  registrationFor,
  registrationStatement,
  type SturdyRegistration,
  SturdyRegistrationError,
  verifySturdyRegistration,
} from './sturdyref.ts';
import { makeTestMembers, makeTestQuorum } from './testing.ts';

// The operator makes the bootstrap sturdyref before the quorum exists: only its public key goes
// into the genesis configuration.
const bootstrapSecret = newSecret();
const q = await makeTestQuorum(4, 3, { sturdyKeys: [sturdyKey(bootstrapSecret)] });
const Q = q.config.quorum;
const other = await makeTestQuorum(4, 3);
const [client, eavesdropper] = await makeTestMembers(2);

function refused(fn: () => unknown, reason: string, what: string): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof SturdyRegistrationError && e.reason === reason,
    what,
  );
}

test('a genesis sturdyref redeems to the bootstrap object; members hold only its public key', () => {
  const table = new QuorumSturdyTable(Q, q.genesis);
  const uri = formatSturdyRef({
    vatId: Q,
    secret: bootstrapSecret,
    hints: ['/ip4/127.0.0.1/tcp/4001'],
  });
  const ref = parseSturdyRef(uri);
  assert.equal(ref.vatId, Q);
  const proof = redeemProof(ref.secret, ref.vatId, client!.vatId);
  assert.equal(table.redeem(sturdyKey(ref.secret), proof, client!.vatId), 'bootstrap');
  // What the members keep: public keys, nothing from which the secret follows.
  const state = JSON.stringify(table);
  assert.ok(!state.includes(Buffer.from(bootstrapSecret).toString('hex')));
  assert.ok(!state.includes(Buffer.from(bootstrapSecret).toString('base64url')));
  assert.deepEqual(JSON.parse(state).keys, [[sturdyKey(bootstrapSecret), 'bootstrap']]);
  assert.ok(
    !JSON.stringify(q.genesis).includes(Buffer.from(bootstrapSecret).toString('base64url')),
  );
});

test('a key made outside is registered through an ordered message, then redeems', () => {
  const table = new QuorumSturdyTable(Q, q.genesis);
  const { secret, registration } = newSturdyKey(Q, 'o+5');
  assert.deepEqual(Object.keys(registration).sort(), ['key', 'proof', 'quorum', 'target']);
  // The message carries the registration as plain data; every member applies it alike.
  const wire = JSON.parse(JSON.stringify(registration));
  assert.equal(table.register(wire), 'registered');
  assert.equal(table.register(wire), 'duplicate', 'the same registration again');
  const proof = redeemProof(secret, Q, client!.vatId);
  assert.equal(table.redeem(registration.key, proof, client!.vatId), 'o+5');
  // A copy of the client's redeem proof is useless to anyone else.
  refused(
    () => table.redeem(registration.key, proof, eavesdropper!.vatId),
    'bad-redeem-proof',
    'copied proof',
  );
  // A proof made for another quorum (same key) does not open this one.
  refused(
    () =>
      table.redeem(
        registration.key,
        redeemProof(secret, other.config.quorum, client!.vatId),
        client!.vatId,
      ),
    'bad-redeem-proof',
    'another minter',
  );
  assert.ok(table.revoke(registration.key));
  refused(() => table.redeem(registration.key, proof, client!.vatId), 'unknown-key', 'revoked');
});

test('bad registrations are refused with a reason, and change nothing', () => {
  const table = new QuorumSturdyTable(Q, q.genesis);
  const { secret, registration: good } = newSturdyKey(Q, 'o+5');
  const squatter = newSturdyKey(Q, 'o+6').registration;
  const table2 = new QuorumSturdyTable(Q, q.genesis);
  table2.register(good);
  const cases: [string, unknown, string, QuorumSturdyTable?][] = [
    [
      'proof by another key (squatting a key one does not hold)',
      { ...good, proof: squatter.proof },
      'bad-proof',
    ],
    ['proof for another target', { ...good, target: 'o+6' }, 'bad-proof'],
    [
      'proof for another quorum',
      registrationFor(secret, other.config.quorum, 'o+5'),
      'wrong-quorum',
    ],
    [
      'another quorum named and re-signed for',
      { ...registrationFor(secret, other.config.quorum, 'o+5'), quorum: Q },
      'bad-proof',
    ],
    [
      'the secret itself included',
      { ...good, secret: Buffer.from(secret).toString('hex') },
      'malformed',
    ],
    ['missing proof', { quorum: Q, key: good.key, target: 'o+5' }, 'malformed'],
    ['key not hex', { ...good, key: 'x'.repeat(64) }, 'malformed'],
    ['target an import', { ...good, target: 'o-5' }, 'malformed'],
    ['target a promise', { ...good, target: 'p+5' }, 'malformed'],
    ['a solo VatID as quorum', { ...good, quorum: client!.vatId }, 'malformed'],
    ['proof not base64url', { ...good, proof: '*'.repeat(86) }, 'malformed'],
    ['not an object', 'key', 'malformed'],
    ['the key again for another object', newTarget(secret, 'o+9'), 'key-taken', table2],
    ['the bootstrap key rebound', registrationFor(bootstrapSecret, Q, 'o+1'), 'key-taken'],
  ];
  for (const [what, reg, reason, t] of cases) {
    const into = t ?? table;
    const before = JSON.stringify(into);
    refused(() => into.register(reg), reason, what);
    assert.equal(JSON.stringify(into), before, `${what}: unchanged`);
  }
});

function newTarget(secret: Uint8Array, target: string): SturdyRegistration {
  return registrationFor(secret, Q, target);
}

test('the registration statement is domain-separated and names the quorum', () => {
  const key = 'ab'.repeat(32);
  const s = registrationStatement(Q, key, 'bootstrap');
  assert.equal(s[4], 0x53);
  assert.ok(Buffer.from(s).toString().includes(Q));
  assert.doesNotThrow(() => verifySturdyRegistration(Q, newSturdyKey(Q, 'bootstrap').registration));
  // A genesis sturdy key changes the quorum VatID (it is part of what the VatID hashes).
  const without = makeGenesis({ ...q.genesis, sturdyKeys: [] });
  assert.notEqual(genesisConfig(without).quorum, Q);
});
