import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { peerIdFromString } from '@libp2p/peer-id';
import { formatSturdyRef, newSecret, parseSturdyRef } from '../kernel/sturdyref.ts';
import { canonicalJson, decodeWire, encodeFrame, signFrame } from '../vattp/codec.ts';
import { publicKeyOfVatId } from '../vattp/identity.ts';
import {
  checkArithmetic,
  checkGenesis,
  checkGenesisMatches,
  DEFAULT_PARAMS,
  describeFaultTolerance,
  faultTolerance,
  type Genesis,
  genesisConfig,
  isQuorumVatId,
  makeGenesis,
  memberIndex,
  QUORUM_VATID_PREFIX,
  QuorumConfigError,
  quorumVatIdOf,
  vatPinOf,
  vatPinProblem,
} from './config.ts';
import { makeTestKey, makeTestQuorum } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const PIN = { contractSha256: 'c'.repeat(64), gasLimit: 1_000_000 };

function refused(fn: () => unknown, reason: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof QuorumConfigError, `expected QuorumConfigError, got ${err}`);
    assert.equal(err.reason, reason, err.message);
    assert.ok(err.message.length > 10);
    return true;
  });
}

test('the arithmetic: intersection 2k − n, f = min(2k − n − 1, n − k), crashes n − k', () => {
  const table: [number, number, number, number, number][] = [
    // n, k, intersection, byzantine, crashes
    [1, 1, 1, 0, 0],
    [3, 2, 1, 0, 1],
    [3, 3, 3, 0, 0],
    [4, 3, 2, 1, 1],
    [5, 3, 1, 0, 2],
    [5, 4, 3, 1, 1],
    [7, 5, 3, 2, 2],
    [7, 6, 5, 1, 1],
    [10, 7, 4, 3, 3],
  ];
  for (const [n, k, intersection, byzantine, crashes] of table) {
    assert.deepEqual(
      checkArithmetic(n, k),
      { members: n, threshold: k, intersection, byzantine, crashes },
      `${n},${k}`,
    );
  }
  // Classic BFT n = 3f + 1, k = 2f + 1 tolerates exactly f.
  for (let f = 1; f <= 10; f++) assert.equal(checkArithmetic(3 * f + 1, 2 * f + 1).byzantine, f);
});

test('refused (n, k) with a reason that says why', () => {
  const table: [number, number, string, RegExp][] = [
    [4, 2, 'no-intersection', /2k ≤ n/],
    [2, 1, 'no-intersection', /k ≥ 2/],
    [6, 3, 'no-intersection', /k ≥ 4/],
    [7, 3, 'no-intersection', /k ≥ 4/],
    [3, 4, 'threshold-above-members', /nothing could ever be decided/],
    [3, 0, 'threshold-below-one', /at least 1/],
    [3, 1.5, 'threshold-below-one', /integer/],
    [0, 0, 'no-members', /needs members/],
    [65, 40, 'too-many-members', /at most 64/],
  ];
  for (const [n, k, reason, text] of table) {
    refused(() => checkArithmetic(n, k), reason);
    assert.throws(() => checkArithmetic(n, k), text);
  }
});

test('describeFaultTolerance states both numbers', () => {
  assert.equal(
    describeFaultTolerance(faultTolerance(4, 3)),
    '4 members, threshold 3: tolerates 1 Byzantine and 1 crashed (quorums intersect in 2)',
  );
  assert.match(describeFaultTolerance(faultTolerance(3, 2)), /tolerates 0 Byzantine and 1 crashed/);
  assert.match(describeFaultTolerance(faultTolerance(7, 5)), /tolerates 2 Byzantine and 2 crashed/);
});

test('the quorum VatID: derived from the genesis, stable, distinct from every solo VatID', () => {
  const id = quorumVatIdOf(q.genesis);
  assert.ok(isQuorumVatId(id));
  assert.ok(id.startsWith('quorum'));
  assert.equal(
    quorumVatIdOf(structuredClone(q.genesis) as Genesis),
    id,
    'same genesis, same VatID',
  );
  assert.equal(q.config.quorum, id);
  // Every field of the genesis is hashed.
  const variants: Partial<Genesis>[] = [
    { name: 'other' },
    { nonce: '0'.repeat(32) },
    { threshold: 4 },
    { admin: makeTestKey().publicKey },
    { params: { ...DEFAULT_PARAMS, viewTimeoutMs: 999 } },
    { sturdyKeys: ['a'.repeat(64)] },
    { members: q.genesis.members.slice(0, 3), threshold: 2 },
  ];
  for (const v of variants) {
    assert.notEqual(quorumVatIdOf({ ...q.genesis, ...v }), id, canonicalJson(v));
  }
  // Not a PeerId: libp2p refuses it, and so does the solo-VatID key lookup.
  assert.throws(() => peerIdFromString(id));
  assert.throws(() => publicKeyOfVatId(id));
  // Solo VatIDs are not quorum VatIDs.
  for (const m of q.members) assert.equal(isQuorumVatId(m.vatId), false);
  // It fits where VatIDs go today: the VatTP codec's pattern and a sturdyref's host.
  assert.match(id, /^[1-9A-HJ-NP-Za-km-z]{1,128}$/);
  const secret = newSecret();
  const parsed = parseSturdyRef(
    formatSturdyRef({ vatId: id, secret, hints: ['/ip4/127.0.0.1/tcp/1'] }),
  );
  assert.equal(parsed.vatId, id);
});

test('a quorum VatID passes where VatTP carries VatIDs (frame to and from)', () => {
  const id = quorumVatIdOf(q.genesis);
  const member = q.members[0]!;
  const frame = { from: member.vatId, to: id, session: '0'.repeat(32), ack: 0, messages: [] };
  const decoded = decodeWire(signFrame(encodeFrame(frame), member.sign));
  assert.equal(decoded.frame.to, id);
  const back = { ...frame, from: id, to: member.vatId };
  assert.equal(decodeWire(signFrame(encodeFrame(back), member.sign)).frame.from, id);
});

/**
 * The id with digits appended until it is one past the longest base58 form of 32 bytes (44):
 * a 43-digit id with one more digit can still be 32 bytes (a hash below 2^256 / 58).
 */
const tooLong = (id: string) => id.padEnd(QUORUM_VATID_PREFIX.length + 45, '1');

test('isQuorumVatId refuses near misses', () => {
  // Hashes with leading zero bytes have short base58 forms: still well-formed.
  assert.ok(isQuorumVatId(`quorum${'1'.repeat(32)}`), 'the all-zero hash');
  const id = quorumVatIdOf(q.genesis);
  const bad = [
    '',
    'quorum',
    `quorum${id.slice(6, 20)}`,
    tooLong(id),
    id.replace('quorum', 'Quorum'),
    id.replace('quorum', 'qorum'),
    `quorum${'1'.repeat(44)}`,
    `${id.slice(0, 10)}0${id.slice(11)}`,
    `${id.slice(0, 10)}l${id.slice(11)}`,
  ];
  for (const b of bad) if (b !== id) assert.equal(isQuorumVatId(b), false, b);
});

test('isQuorumVatId stays as strict when it has seen an id before (its cache of well-formed ids)', () => {
  const id = quorumVatIdOf(q.genesis);
  const bad = [
    tooLong(id),
    `quorum${'z'.repeat(44)}`,
    `quorum${'1'.repeat(31)}`,
    `${id.slice(0, -1)}0`,
  ];
  for (let pass = 0; pass < 3; pass++) {
    assert.ok(isQuorumVatId(id), `pass ${pass}`);
    for (const b of bad) assert.equal(isQuorumVatId(b), false, `${b} (pass ${pass})`);
    assert.equal(isQuorumVatId(1 as unknown as string), false, 'not a string');
  }
  // Many distinct well-formed ids (past the cache's bound): each still passes, the bad still fail.
  const many = Array.from({ length: 1500 }, (_, i) =>
    quorumVatIdOf({ ...q.genesis, name: `quorum-${i}` }),
  );
  for (const m of many) assert.ok(isQuorumVatId(m), m);
  for (const m of many.slice(0, 10)) assert.ok(isQuorumVatId(m), `again ${m}`);
  for (const b of bad) assert.equal(isQuorumVatId(b), false, `after overflow ${b}`);
});

test('genesis: sorted members, frozen, and the epoch-0 configuration', () => {
  const members = q.genesis.members;
  assert.deepEqual([...members], [...members].sort());
  assert.ok(Object.isFrozen(q.genesis) && Object.isFrozen(q.genesis.members));
  const shuffled = makeGenesis({ ...q.genesis, members: [...members].reverse() });
  assert.equal(quorumVatIdOf(shuffled), quorumVatIdOf(q.genesis), 'member order does not matter');
  const c = genesisConfig(q.genesis);
  assert.equal(c.epoch, 0);
  assert.equal(c.since, 0);
  assert.equal(c.threshold, 3);
  for (let i = 0; i < members.length; i++) assert.equal(memberIndex(c, members[i]!), i);
  assert.equal(memberIndex(c, c.quorum), -1);
  assert.doesNotThrow(() => checkGenesisMatches(c.quorum, q.genesis));
});

test('bad genesis configurations are refused with a reason', async () => {
  const other = await makeTestQuorum(3, 2);
  const g = q.genesis;
  const m = [...g.members];
  const table: [string, unknown, string][] = [
    ['not an object', null, 'malformed'],
    ['array', [], 'malformed'],
    ['extra key', { ...g, extra: 1 }, 'malformed'],
    ['missing key', { ...g, nonce: undefined }, 'malformed'],
    ['version 2', { ...g, version: 2 }, 'malformed'],
    ['bad name', { ...g, name: 'Bank!' }, 'malformed'],
    ['name too long', { ...g, name: 'a'.repeat(65) }, 'malformed'],
    ['bad nonce', { ...g, nonce: 'xyz' }, 'malformed'],
    ['unsorted members', { ...g, members: [...m].reverse() }, 'members-not-sorted'],
    ['duplicate member', { ...g, members: [m[0], m[0], m[1], m[2]] }, 'duplicate-member'],
    ['member not a VatID', { ...g, members: ['alice', ...m.slice(1)] }, 'not-a-member-vatid'],
    [
      'member is a quorum',
      { ...g, members: [...m.slice(1), other.config.quorum].sort() },
      'not-a-member-vatid',
    ],
    ['member is a number', { ...g, members: [1, 2, 3, 4] }, 'not-a-member-vatid'],
    ['no members', { ...g, members: [], threshold: 1 }, 'no-members'],
    ['2k = n', { ...g, threshold: 2 }, 'no-intersection'],
    ['k > n', { ...g, threshold: 5 }, 'threshold-above-members'],
    ['k = 0', { ...g, threshold: 0 }, 'threshold-below-one'],
    ['k not a number', { ...g, threshold: '3' }, 'threshold-below-one'],
    ['admin not hex', { ...g, admin: 'z'.repeat(64) }, 'bad-admin-key'],
    ['admin upper case', { ...g, admin: g.admin.toUpperCase() }, 'bad-admin-key'],
    ['admin short', { ...g, admin: g.admin.slice(2) }, 'bad-admin-key'],
    ['param out of range', { ...g, params: { ...g.params, viewTimeoutMs: 1 } }, 'bad-params'],
    ['param missing', { ...g, params: { maxBatch: 1 } }, 'bad-params'],
    ['param unknown', { ...g, params: { ...g.params, x: 1 } }, 'bad-params'],
    ['param float', { ...g, params: { ...g.params, maxBatch: 1.5 } }, 'bad-params'],
    ['sturdy key bad', { ...g, sturdyKeys: ['00'] }, 'bad-sturdy-key'],
    [
      'sturdy keys unsorted',
      { ...g, sturdyKeys: ['b'.repeat(64), 'a'.repeat(64)] },
      'bad-sturdy-key',
    ],
    [
      'sturdy keys duplicate',
      { ...g, sturdyKeys: ['a'.repeat(64), 'a'.repeat(64)] },
      'bad-sturdy-key',
    ],
    ['vat pin not an object', { ...g, vat: 'x' }, 'bad-vat'],
    ['vat pin null', { ...g, vat: null }, 'bad-vat'],
    ['vat pin without gas', { ...g, vat: { contractSha256: 'a'.repeat(64) } }, 'bad-vat'],
    ['vat pin extra key', { ...g, vat: { ...PIN, x: 1 } }, 'bad-vat'],
    ['vat pin short hash', { ...g, vat: { ...PIN, contractSha256: 'ab' } }, 'bad-vat'],
    [
      'vat pin upper-case hash',
      { ...g, vat: { ...PIN, contractSha256: 'A'.repeat(64) } },
      'bad-vat',
    ],
    ['vat pin gas 0', { ...g, vat: { ...PIN, gasLimit: 0 } }, 'bad-vat'],
    ['vat pin gas float', { ...g, vat: { ...PIN, gasLimit: 1.5 } }, 'bad-vat'],
    ['vat pin gas string', { ...g, vat: { ...PIN, gasLimit: '10' } }, 'bad-vat'],
  ];
  for (const [what, genesis, reason] of table) {
    assert.throws(
      () => checkGenesis(genesis),
      (err: unknown) => err instanceof QuorumConfigError && err.reason === reason,
      what,
    );
  }
  refused(() => checkGenesisMatches(other.config.quorum, g), 'genesis-mismatch');
});

test('a genesis may pin the contract and gas limit: another quorum VatID; members must run exactly those', () => {
  const source = 'export function buildRootObject() { return harden({}); }';
  const pin = vatPinOf(source, 5_000_000);
  assert.deepEqual(pin, {
    contractSha256: createHash('sha256').update(source).digest('hex'),
    gasLimit: 5_000_000,
  });
  const pinned = makeGenesis({ ...q.genesis, vat: pin });
  assert.deepEqual(checkGenesis(JSON.parse(JSON.stringify(pinned))), pinned);
  assert.notEqual(
    quorumVatIdOf(pinned),
    quorumVatIdOf(q.genesis),
    'the pin is part of the identity',
  );
  assert.equal(vatPinProblem(pinned, source, 5_000_000), undefined);
  assert.equal(vatPinProblem(q.genesis, 'anything', 1), undefined, 'no pin: nothing to check');
  assert.match(
    vatPinProblem(pinned, `${source} `, 5_000_000)!,
    /^the contract \(sha256 [0-9a-f]{64}\) is not the one the quorum's genesis pins \(sha256 [0-9a-f]{64}\)/,
  );
  assert.match(
    vatPinProblem(pinned, source, 5_000_001)!,
    /^the gas limit 5000001 is not the one the quorum's genesis pins \(5000000\)/,
  );
});
