import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../protocol/identity.ts';
import { assembleCertificate, bitmapOf, type Certificate } from './certificate.ts';
import {
  applyChange,
  ChainError,
  type ChainRecord,
  type ChangeRequest,
  ConfigChain,
  type ConfigChange,
  changeStatement,
  checkSignedRequest,
  requestChange,
  requestStatement,
  sameChange,
  verifyChain,
} from './chain.ts';
import { isLearner, isMember, makeGenesis, type QuorumConfig, quorumVatIdOf } from './config.ts';
import { signatureText } from './signatures.ts';
import { makeTestKey, makeTestMembers, makeTestQuorum } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const [newcomer, outsider] = await makeTestMembers(2);
q.signerOf.set(newcomer!.vatId, newcomer!.sign);
const otherAdmin = makeTestKey();
const [A, B, C, D] = q.config.members as VatId[];

function sign(vatId: VatId, bytes: Uint8Array): Uint8Array {
  const s = q.signerOf.get(vatId) ?? (vatId === outsider!.vatId ? outsider!.sign : undefined);
  if (s === undefined) throw new Error(`no key for ${vatId}`);
  return s(bytes);
}

function certify(
  config: QuorumConfig,
  request: ChangeRequest,
  position: number,
  signers?: VatId[],
): Certificate {
  const statement = changeStatement(request, position);
  const who = signers ?? config.members.slice(0, config.threshold);
  return assembleCertificate(
    config,
    who.map((m) => [m, sign(m, statement)] as const),
  );
}

function adminSigned(request: ChangeRequest, key = q.admin): string {
  return signatureText(key.sign(requestStatement(request)));
}

/** A well-formed record for `change` on `config`, decided at `position`. */
function record(config: QuorumConfig, change: ConfigChange, position: number): ChainRecord {
  const { request, admin } = requestChange(q.admin.sign, config, change);
  return { request, admin, position, certificate: certify(config, request, position) };
}

// A valid chain: (4,3) → add newcomer (5,4) → remove A (4,3) → threshold 4 (4,4).
const c0 = q.config;
const r0 = record(c0, { op: 'add', member: newcomer!.vatId, threshold: 4 }, 10);
const c1 = applyChange(c0, r0.request.change, 11);
const r1 = record(c1, { op: 'remove', member: A!, threshold: 3 }, 20);
const c2 = applyChange(c1, r1.request.change, 21);
const r2 = record(c2, { op: 'threshold', threshold: 4 }, 30);
const chain = [r0, r1, r2];

test('a valid chain verifies from genesis given only the quorum VatID', () => {
  const configs = verifyChain(q.config.quorum, q.genesis, chain);
  assert.deepEqual(
    configs.map((c) => [c.epoch, c.members.length, c.threshold, c.since]),
    [
      [0, 4, 3, 0],
      [1, 5, 4, 11],
      [2, 4, 3, 21],
      [3, 4, 4, 31],
    ],
  );
  assert.ok(configs[1]!.members.includes(newcomer!.vatId));
  assert.ok(!configs[2]!.members.includes(A!));
  for (const c of configs) assert.equal(c.quorum, q.config.quorum, 'the VatID never changes');
  assert.deepEqual(verifyChain(q.config.quorum, q.genesis, []), [q.config]);
  // The chain survives a JSON round trip (what a CLI or status field carries).
  assert.equal(
    verifyChain(
      q.config.quorum,
      JSON.parse(JSON.stringify(q.genesis)),
      JSON.parse(JSON.stringify(chain)),
    ).length,
    4,
  );
});

test('ConfigChain: grows one record at a time, ignores repeats, knows which epoch governs a position', () => {
  const cc = new ConfigChain(q.config.quorum, q.genesis);
  assert.equal(cc.append(r0), 'appended');
  assert.equal(cc.append(r0), 'duplicate');
  assert.throws(
    () => cc.append(r2),
    (e: unknown) => e instanceof ChainError && e.reason === 'skipped-epoch',
  );
  assert.equal(cc.current.epoch, 1, 'a refused record changes nothing');
  assert.equal(cc.append(r1), 'appended');
  assert.equal(cc.append(r2), 'appended');
  assert.equal(cc.current.epoch, 3);
  assert.equal(cc.configAtPosition(0).epoch, 0);
  assert.equal(cc.configAtPosition(10).epoch, 0, 'the deciding position is still the old epoch');
  assert.equal(cc.configAtPosition(11).epoch, 1);
  assert.equal(cc.configAtPosition(25).epoch, 2);
  assert.equal(cc.configAtPosition(1e9).epoch, 3);
  assert.equal(cc.configAt(2)?.members.length, 4);
  assert.equal(cc.configAt(4), undefined);
  const copy = new ConfigChain(q.config.quorum, q.genesis, cc.records);
  assert.deepEqual(copy.current, cc.current);
});

test('every kind of forgery is refused with a reason and the index of the bad record', async () => {
  const other = await makeTestQuorum(4, 3, { admin: q.admin.publicKey });
  const req1 = r1.request;
  const removedSigns = (): Certificate => {
    // Epoch 2 no longer has A: a certificate whose bitmap claims three current members, where the
    // first signature is A's (removed at epoch 1 → 2).
    const statement = changeStatement(r2.request, 30);
    const sigs = [A!, C!, D!].map((m) => sign(m, statement));
    return {
      epoch: 2,
      signers: bitmapOf(4, [0, 1, 2]),
      signatures: Buffer.concat(sigs).toString('base64url'),
    };
  };
  const outsiderSigns = (): Certificate => {
    const statement = changeStatement(req1, 20);
    const good = certify(c1, req1, 20);
    const sigs = Buffer.from(good.signatures, 'base64url');
    sigs.set(outsider!.sign(statement), 0);
    return { ...good, signatures: sigs.toString('base64url') };
  };
  const twoAdds = {
    ...r1.request,
    change: { op: 'add', member: [outsider!.vatId, B!], threshold: 4 },
  };
  const addMembers = {
    ...r1.request,
    change: { op: 'add', members: [outsider!.vatId], threshold: 4 },
  };
  const rAnotherAtEpoch0 = record(c0, { op: 'threshold', threshold: 4 }, 12);
  const forOther = {
    quorum: other.config.quorum,
    epoch: 1,
    change: r1.request.change,
  } as ChangeRequest;
  const badThreshold = {
    quorum: c1.quorum,
    epoch: 1,
    change: { op: 'threshold', threshold: 2 },
  } as ChangeRequest;
  const removeBelowK = {
    quorum: c2.quorum,
    epoch: 2,
    change: { op: 'remove', member: B!, threshold: 3 },
  } as ChangeRequest;
  const readd = {
    quorum: c1.quorum,
    epoch: 1,
    change: { op: 'add', member: B!, threshold: 4 },
  } as ChangeRequest;
  const removeStranger = {
    quorum: c1.quorum,
    epoch: 1,
    change: { op: 'remove', member: outsider!.vatId, threshold: 3 },
  } as ChangeRequest;
  const sameK = {
    quorum: c1.quorum,
    epoch: 1,
    change: { op: 'threshold', threshold: 4 },
  } as ChangeRequest;
  const withRequest = (req: ChangeRequest, position = 20, config = c1): ChainRecord => ({
    request: req,
    admin: adminSigned(req),
    position,
    certificate: certify(config, req, position),
  });
  const table: [string, unknown[], string, number][] = [
    [
      'request signed by another key',
      [r0, { ...r1, admin: adminSigned(req1, otherAdmin) }],
      'bad-admin-signature',
      1,
    ],
    [
      'request signed by a member',
      [r0, { ...r1, admin: signatureText(sign(B!, requestStatement(req1))) }],
      'bad-admin-signature',
      1,
    ],
    [
      'request changed after signing',
      [r0, { ...r1, request: { ...req1, change: { op: 'remove', member: B!, threshold: 3 } } }],
      'bad-admin-signature',
      1,
    ],
    [
      'too few member signatures',
      [r0, { ...r1, certificate: certify(c1, req1, 20, [B!, C!, D!]) }],
      'too-few-member-signatures',
      1,
    ],
    [
      'signatures from a removed member',
      [r0, r1, { ...r2, certificate: removedSigns() }],
      'bad-member-signature',
      2,
    ],
    [
      'certificate of the epoch before a removal',
      [r0, r1, { ...r2, certificate: { ...certify(c1, r2.request, 30, [A!, B!, C!, D!]) } }],
      'certificate-wrong-epoch',
      2,
    ],
    [
      'a non-member signature in a member slot',
      [r0, { ...r1, certificate: outsiderSigns() }],
      'bad-member-signature',
      1,
    ],
    ['members signed another position', [r0, { ...r1, position: 21 }], 'bad-member-signature', 1],
    [
      'members signed another request',
      [r0, { ...r1, certificate: certify(c1, readd, 20) }],
      'bad-member-signature',
      1,
    ],
    ['replayed record', [r0, r1, r1], 'stale-epoch', 2],
    ['replayed first record', [r0, r0], 'stale-epoch', 1],
    ['a second change for the same epoch', [r0, rAnotherAtEpoch0], 'stale-epoch', 1],
    ['skipped epoch', [r0, r2], 'skipped-epoch', 1],
    ['two members added at once', [r0, { ...r1, request: twoAdds }], 'one-member-at-a-time', 1],
    ['a members list', [r0, { ...r1, request: addMembers }], 'one-member-at-a-time', 1],
    ['two records as one', [r0, [r1, r2]], 'one-member-at-a-time', 1],
    ['a request for another quorum', [r0, withRequest(forOther)], 'wrong-quorum', 1],
    [
      'position not after the last change',
      [r0, withRequest(req1, 10)],
      'position-not-increasing',
      1,
    ],
    ['2k ≤ n after the change', [r0, withRequest(badThreshold)], 'bad-configuration', 1],
    [
      'k > n after a removal',
      [
        r0,
        r1,
        r2,
        withRequest(
          { ...removeBelowK, epoch: 3, change: { op: 'remove', member: B!, threshold: 4 } },
          40,
          applyChange(c2, r2.request.change, 31),
        ),
      ],
      'bad-configuration',
      3,
    ],
    ['adding a member twice', [r0, withRequest(readd)], 'already-a-member', 1],
    ['removing a stranger', [r0, withRequest(removeStranger)], 'not-a-member', 1],
    ['threshold unchanged', [r0, withRequest(sameK)], 'threshold-unchanged', 1],
    [
      'adding a quorum VatID as member',
      [
        withRequest(
          {
            ...r0.request,
            change: { op: 'add', member: other.config.quorum, threshold: 4 },
          },
          10,
          c0,
        ),
      ],
      'malformed',
      0,
    ],
    ['record not an object', [null], 'malformed', 0],
    ['record with an extra key', [{ ...r0, extra: 1 }], 'malformed', 0],
    ['admin signature not base64url', [{ ...r0, admin: '!'.repeat(86) }], 'malformed', 0],
    [
      'unknown op',
      [{ ...r0, request: { ...r0.request, change: { op: 'rename', threshold: 3 } } }],
      'malformed',
      0,
    ],
    ['negative position', [{ ...r0, position: -1 }], 'malformed', 0],
    ['certificate not an object', [{ ...r0, certificate: 'x' }], 'malformed', 0],
  ];
  for (const [what, records, reason, index] of table) {
    assert.throws(
      () => verifyChain(q.config.quorum, q.genesis, records),
      (e: unknown) => {
        assert.ok(e instanceof ChainError, `${what}: ${e}`);
        assert.equal(e.reason, reason, `${what}: ${e.message}`);
        assert.equal(e.index, index, what);
        return true;
      },
      what,
    );
  }
});

test('the genesis must match the VatID', async () => {
  const other = await makeTestQuorum(4, 3);
  const table: [string, unknown, string][] = [
    ["another quorum's genesis", other.genesis, 'genesis-mismatch'],
    ['threshold raised', makeGenesis({ ...q.genesis, threshold: 4 }), 'genesis-mismatch'],
    [
      'a member swapped',
      makeGenesis({ ...q.genesis, members: [...q.genesis.members.slice(1), outsider!.vatId] }),
      'genesis-mismatch',
    ],
    [
      'admin swapped',
      makeGenesis({ ...q.genesis, admin: otherAdmin.publicKey }),
      'genesis-mismatch',
    ],
    ['not a genesis', { hello: 1 }, 'malformed'],
  ];
  for (const [what, genesis, reason] of table) {
    assert.throws(
      () => verifyChain(q.config.quorum, genesis, chain),
      (e: unknown) => e instanceof ChainError && e.reason === reason && e.index === -1,
      what,
    );
  }
  // The admin-swapped genesis is a valid genesis of a different quorum.
  const swapped = makeGenesis({ ...q.genesis, admin: otherAdmin.publicKey });
  assert.notEqual(quorumVatIdOf(swapped), q.config.quorum);
});

test('requestChange refuses a bad change before the administrator signs it', () => {
  const bad: [ConfigChange, string][] = [
    [{ op: 'threshold', threshold: 2 }, 'bad-configuration'],
    [{ op: 'threshold', threshold: 5 }, 'bad-configuration'],
    [{ op: 'threshold', threshold: 3 }, 'threshold-unchanged'],
    [{ op: 'add', member: B!, threshold: 3 }, 'already-a-member'],
    [{ op: 'add', member: outsider!.vatId, threshold: 2 }, 'bad-configuration'],
    [{ op: 'add', member: 'not-a-vat', threshold: 4 }, 'malformed'],
    [{ op: 'remove', member: outsider!.vatId, threshold: 3 }, 'not-a-member'],
    [{ op: 'remove', member: B!, threshold: 1 }, 'bad-configuration'],
  ];
  for (const [change, reason] of bad) {
    assert.throws(
      () => requestChange(q.admin.sign, c0, change),
      (e: unknown) => e instanceof ChainError && e.reason === reason,
      JSON.stringify(change),
    );
  }
  // A member checks a request before ordering it.
  const { request, admin } = requestChange(q.admin.sign, c0, { op: 'threshold', threshold: 4 });
  assert.equal(checkSignedRequest(c0, request, admin, 5).threshold, 4);
  assert.throws(() => checkSignedRequest(c1, request, admin, 50), /already at epoch 1/);
});

test('learners: admitted and dismissed by the chain, voted in by adding them; they never count', async () => {
  const t = await makeTestQuorum(3, 2);
  const [learner, stranger] = await makeTestMembers(2);
  t.signerOf.set(learner!.vatId, learner!.sign);
  const chain = new ConfigChain(t.config.quorum, t.genesis);
  const step = (change: ConfigChange, position: number, signers?: VatId[]) => {
    const config = chain.current;
    const { request, admin } = requestChange(t.admin.sign, config, change);
    const statement = changeStatement(request, position);
    const who = signers ?? config.members.slice(0, config.threshold);
    const certificate = assembleCertificate(
      config,
      who.map((m) => [m, t.signerOf.get(m)!(statement)] as const),
    );
    return chain.append({ request, admin, position, certificate });
  };
  step({ op: 'add-learner', member: learner!.vatId }, 5);
  assert.deepEqual(chain.current.learners, [learner!.vatId]);
  assert.deepEqual([chain.current.members.length, chain.current.threshold], [3, 2]);
  assert.ok(isLearner(chain.current, learner!.vatId) && !isMember(chain.current, learner!.vatId));
  // A learner's signature is not a member's: a certificate needing it fails.
  assert.throws(
    () => assembleCertificate(chain.current, [[learner!.vatId, learner!.sign(new Uint8Array(1))]]),
    /not a member/,
  );
  // Voted in: a member now, no longer a learner, with the new threshold.
  step({ op: 'add', member: learner!.vatId, threshold: 3 }, 6);
  assert.deepEqual(chain.current.learners, []);
  assert.ok(isMember(chain.current, learner!.vatId));
  step({ op: 'add-learner', member: stranger!.vatId }, 7);
  step({ op: 'remove-learner', member: stranger!.vatId }, 8);
  assert.deepEqual(chain.current.learners, []);
  assert.equal(verifyChain(t.config.quorum, t.genesis, chain.records).length, 5);
  const bad: [ConfigChange | Record<string, unknown>, string][] = [
    [{ op: 'add-learner', member: t.members[0]!.vatId }, 'already-a-member'],
    [{ op: 'remove-learner', member: stranger!.vatId }, 'not-a-learner'],
    [{ op: 'add-learner', member: t.config.quorum }, 'malformed'],
    [{ op: 'add-learner', member: stranger!.vatId, threshold: 2 }, 'malformed'],
    [{ op: 'add-learner', members: [stranger!.vatId] }, 'one-member-at-a-time'],
    [{ op: 'remove-learner', member: [stranger!.vatId, learner!.vatId] }, 'one-member-at-a-time'],
  ];
  for (const [change, reason] of bad) {
    assert.throws(
      () => requestChange(t.admin.sign, chain.current, change as ConfigChange),
      (e: unknown) => e instanceof ChainError && e.reason === reason,
      JSON.stringify(change),
    );
  }
  step({ op: 'add-learner', member: stranger!.vatId }, 9);
  assert.throws(
    () => step({ op: 'add-learner', member: stranger!.vatId }, 10),
    (e: unknown) => e instanceof ChainError && e.reason === 'already-a-learner',
  );
});

test('a crash mid-change leaves a state the next request completes or cleanly aborts', () => {
  // The requester (operator) crashes after signing and asks again: the very same request and
  // signature (Ed25519 is deterministic), so ordering it twice applies it once.
  const change: ConfigChange = { op: 'threshold', threshold: 4 };
  const first = requestChange(q.admin.sign, c0, change);
  const again = requestChange(q.admin.sign, c0, change);
  assert.deepEqual(again, first);
  const next = checkSignedRequest(c0, first.request, first.admin, 50);
  assert.throws(
    () => checkSignedRequest(next, again.request, again.admin, 51),
    (e: unknown) => e instanceof ChainError && e.reason === 'stale-epoch',
    'the second copy, ordered later, is refused: no double application',
  );
  // Two different requests for one epoch (a new operator after a crash changed its mind): the
  // one ordered first applies, the other is refused as stale, whatever the order.
  const other = requestChange(q.admin.sign, c0, {
    op: 'add',
    member: newcomer!.vatId,
    threshold: 4,
  });
  for (const [a, b] of [
    [first, other],
    [other, first],
  ] as const) {
    const after = checkSignedRequest(c0, a.request, a.admin, 60);
    assert.throws(
      () => checkSignedRequest(after, b.request, b.admin, 61),
      (e: unknown) => e instanceof ChainError && e.reason === 'stale-epoch',
    );
  }
  // Members that crash after the decision sign it again on restart: the same certificate, and a
  // chain that already has the record calls it a duplicate.
  const cc = new ConfigChain(q.config.quorum, q.genesis);
  const record = {
    request: first.request,
    admin: first.admin,
    position: 50,
    certificate: certify(c0, first.request, 50),
  };
  assert.equal(cc.append(record), 'appended');
  const resigned = { ...record, certificate: certify(c0, first.request, 50) };
  assert.deepEqual(resigned, record);
  assert.equal(cc.append(resigned), 'duplicate');
});

test('one change certified by different k members is one record; another change is a conflict', () => {
  const other = { ...r0, certificate: certify(c0, r0.request, 10, [B!, C!, D!]) };
  assert.notDeepEqual(other.certificate, r0.certificate);
  assert.ok(sameChange(r0, other));
  const grown = new ConfigChain(q.config.quorum, q.genesis, [r0]);
  assert.equal(grown.append(other), 'duplicate', 'each member assembles its own k signatures');
  const elsewhere = { ...other, position: 11, certificate: certify(c0, r0.request, 11) };
  assert.ok(!sameChange(r0, elsewhere));
  assert.throws(() => grown.append(elsewhere), ChainError);
  assert.equal(grown.records.length, 1);
});
