import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeTestMembers } from '../../../../vat-node/src/quorum/testing.ts';
import {
  adminKeySecret,
  adminKeysOf,
  buildGenesis,
  CONTRACT_KEY,
  chainConfigMap,
  GENESIS_KEY,
  genesisConfigMap,
  genesisName,
  genesisOf,
  newAdminKeys,
  QUORUM_KEY,
  quorumSturdyref,
  recordsOf,
} from './genesis.ts';
import { parseSturdyRef, quorumVatIdOf, sturdyKey, vatPinOf } from './quorum-lib.ts';

const owner = {
  kind: 'QuorumVat' as const,
  name: 'escrow',
  namespace: 'ns',
  uid: '0b6f1c2e-7d3a-4c55-9e21-5f0a8b7c6d4e',
};
const members = (await makeTestMembers(3)).map((m) => m.vatId);
const CONTRACT_SOURCE = 'export function buildRootObject() { return harden({}); }';

test('the administrator key round-trips through its Secret; a swapped or damaged one is refused', () => {
  const keys = newAdminKeys();
  const secret = adminKeySecret(owner, keys);
  assert.equal(secret.immutable, true, 'an administrator key is never rewritten');
  assert.equal(secret.metadata!.name, 'escrow-admin-key');
  assert.equal(secret.metadata!.ownerReferences![0]!.uid, owner.uid);
  assert.deepEqual(adminKeysOf(secret), keys);
  const other = adminKeySecret(owner, newAdminKeys());
  const swapped = {
    ...secret,
    data: { ...secret.data, 'admin-public-key': other.data!['admin-public-key']! },
  };
  assert.match(
    (adminKeysOf(swapped) as { problem: string }).problem,
    /not the public key of admin-seed/,
  );
  for (const key of ['admin-seed', 'admin-public-key', 'sturdy-secret']) {
    const broken = { ...secret, data: { ...secret.data, [key]: 'AAAA' } };
    const r = adminKeysOf(broken);
    assert.ok('problem' in r, `${key} damaged`);
    assert.match((r as { problem: string }).problem, /escrow-admin-key/);
  }
  assert.ok('problem' in adminKeysOf({ metadata: { name: 'x' } }));
});

test('the genesis: the members the pods reported, the admin and sturdyref PUBLIC keys, nonce = uid', () => {
  const keys = newAdminKeys();
  const g = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  assert.deepEqual(g.members, [...members].sort());
  assert.equal(g.threshold, 2);
  assert.equal(g.admin, keys.publicKey);
  assert.deepEqual(g.sturdyKeys, [sturdyKey(keys.sturdySecret)]);
  assert.equal(g.nonce, '0b6f1c2e7d3a4c559e215f0a8b7c6d4e');
  const text = JSON.stringify(g);
  for (const secret of [keys.seed, keys.sturdySecret]) {
    for (const enc of ['hex', 'base64', 'base64url'] as const) {
      assert.ok(!text.includes(Buffer.from(secret).toString(enc)), 'no secret in the genesis');
    }
  }
  // Deterministic: a reconcile that crashed before storing it builds the same genesis again.
  const again = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  assert.equal(quorumVatIdOf(again), quorumVatIdOf(g));
  // Another QuorumVat of the same name (deleted and made again: a new uid) is another quorum.
  const other = buildGenesis({
    name: 'escrow',
    uid: '1b6f1c2e-7d3a-4c55-9e21-5f0a8b7c6d4e',
    members,
    threshold: 2,
    keys,
  });
  assert.notEqual(quorumVatIdOf(other), quorumVatIdOf(g));
});

test('the genesis refuses what the quorum would refuse (2k <= n, k > n, bad member names)', () => {
  const keys = newAdminKeys();
  assert.throws(
    () => buildGenesis({ name: 'q', uid: owner.uid, members, threshold: 1, keys }),
    /2k ≤ n/,
  );
  assert.throws(() => buildGenesis({ name: 'q', uid: owner.uid, members, threshold: 4, keys }));
  assert.throws(() =>
    buildGenesis({ name: 'q', uid: owner.uid, members: ['12D3KooWnope'], threshold: 1, keys }),
  );
  assert.throws(() =>
    buildGenesis({
      name: 'q',
      uid: owner.uid,
      members: [members[0]!, members[0]!, members[1]!],
      threshold: 2,
      keys,
    }),
  );
});

test('genesis names: any Kubernetes name becomes a valid genesis name', () => {
  assert.equal(genesisName('escrow'), 'escrow');
  assert.equal(genesisName('my.quorum.v1'), 'my-quorum-v1');
  assert.equal(genesisName(`${'a'.repeat(70)}`), 'a'.repeat(64));
  assert.equal(genesisName(`${'a'.repeat(63)}.b`), 'a'.repeat(63));
  assert.equal(genesisName('...'), 'quorum');
});

test('the genesis ConfigMap is immutable, names the quorum VatID, and is checked when read', () => {
  const keys = newAdminKeys();
  const g = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  const cm = genesisConfigMap(owner, g, CONTRACT_SOURCE);
  assert.equal(cm.immutable, true);
  assert.equal(cm.metadata!.name, 'escrow-genesis');
  assert.equal(cm.data![QUORUM_KEY], quorumVatIdOf(g));
  // The contract the quorum vat is created with is pinned beside its genesis.
  assert.equal(cm.data![CONTRACT_KEY], CONTRACT_SOURCE);
  assert.deepEqual(genesisOf(cm, owner.uid), {
    genesis: g,
    quorum: quorumVatIdOf(g),
    contract: CONTRACT_SOURCE,
  });
  // Made before contracts were pinned: no contract, the genesis still reads.
  const { [CONTRACT_KEY]: _pinned, ...older } = cm.data!;
  assert.deepEqual(genesisOf({ ...cm, data: older }, owner.uid), {
    genesis: g,
    quorum: quorumVatIdOf(g),
  });
  const r = (x: unknown) => (x as { problem?: string }).problem ?? '';
  assert.match(r(genesisOf(cm, 'another-uid')), /does not belong/);
  const tampered = JSON.parse(cm.data![GENESIS_KEY]!);
  tampered.threshold = 3;
  assert.match(
    r(
      genesisOf(
        { ...cm, data: { ...cm.data, [GENESIS_KEY]: JSON.stringify(tampered) } },
        owner.uid,
      ),
    ),
    /does not hash/,
  );
  assert.match(
    r(genesisOf({ ...cm, data: { ...cm.data, [GENESIS_KEY]: '{' } }, owner.uid)),
    /not a valid genesis/,
  );
});

test('the chain ConfigMap holds genesis and records; unreadable ones give no records', () => {
  const keys = newAdminKeys();
  const g = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  const cm = chainConfigMap(owner, g, []);
  assert.notEqual(cm.immutable, true, 'it grows with every change');
  assert.deepEqual(recordsOf(cm), []);
  assert.deepEqual(recordsOf({ data: { 'chain.json': '{"records":[1,2]}' } }), [1, 2]);
  assert.deepEqual(recordsOf({ data: { 'chain.json': 'nope' } }), []);
  assert.deepEqual(recordsOf(undefined), []);
});

test("the quorum's sturdyref: the quorum VatID, the operator's secret, member pods as hints", () => {
  const keys = newAdminKeys();
  const g = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  const pods = new Map(g.members.map((m, i) => [m, `escrow-${i}`]));
  const uri = quorumSturdyref(owner, g, keys, (v) => pods.get(v));
  const ref = parseSturdyRef(uri);
  assert.equal(ref.vatId, quorumVatIdOf(g));
  assert.deepEqual(Buffer.from(ref.secret), Buffer.from(keys.sturdySecret));
  assert.deepEqual(
    ref.hints,
    g.members.map((m, i) => `/dns4/escrow-${i}.escrow.ns.svc.cluster.local/tcp/4001/p2p/${m}`),
  );
  assert.deepEqual(g.sturdyKeys, [sturdyKey(ref.secret)], 'it redeems with a genesis key');
});

test('the genesis pins the contract and gas limit the members must run', () => {
  const keys = newAdminKeys();
  const vat = vatPinOf(CONTRACT_SOURCE, 7_000_000);
  const g = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys, vat });
  assert.deepEqual(g.vat, vat);
  const unpinned = buildGenesis({ name: 'escrow', uid: owner.uid, members, threshold: 2, keys });
  assert.equal(unpinned.vat, undefined);
  assert.notEqual(quorumVatIdOf(g), quorumVatIdOf(unpinned));
});
