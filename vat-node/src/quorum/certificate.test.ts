import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assembleCertificate,
  bitmapOf,
  type Certificate,
  CertificateError,
  indicesOf,
  requireCertificate,
  SignatureCollector,
  verifyCertificate,
} from './certificate.ts';
import { statementBytes } from './signatures.ts';
import { makeTestMembers, makeTestQuorum } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const other = await makeTestQuorum(4, 3);
const [outsider] = await makeTestMembers(1);
const body = { quorum: q.config.quorum, position: 17, hash: 'ab'.repeat(32) };
const bytes = statementBytes('checkpoint', body);

function certBy(indices: number[], statement = bytes): Certificate {
  return assembleCertificate(
    q.config,
    indices.map((i) => [q.members[i]!.vatId, q.members[i]!.sign(statement)] as const),
  );
}

test('bitmaps: canonical, one encoding per signer set', () => {
  assert.equal(bitmapOf(4, [0, 2, 3]), '0d');
  assert.deepEqual(indicesOf(4, '0d'), [0, 2, 3]);
  assert.equal(bitmapOf(9, [8]), '0001');
  assert.deepEqual(indicesOf(9, '0001'), [8]);
  assert.equal(indicesOf(4, '1d'), undefined, 'bit 4 of a 4-member set');
  assert.equal(indicesOf(4, '0d00'), undefined, 'too long');
  assert.equal(indicesOf(9, '0d'), undefined, 'too short');
  assert.equal(indicesOf(4, '0D'), undefined, 'upper case');
  assert.throws(() => bitmapOf(4, [4]), RangeError);
});

test('a k-certificate verifies and names its signers, for every k-subset and more', () => {
  const subsets = [
    [0, 1, 2],
    [0, 1, 3],
    [0, 2, 3],
    [1, 2, 3],
    [0, 1, 2, 3],
  ];
  for (const s of subsets) {
    const check = verifyCertificate(q.config, bytes, certBy(s));
    assert.ok(check.ok, JSON.stringify(check));
    assert.deepEqual(
      check.signers,
      s.map((i) => q.config.members[i]),
    );
  }
});

test('bad certificates are refused with a reason (never a throw)', () => {
  const good = certBy([0, 1, 2]);
  const sigs = Buffer.from(good.signatures, 'base64url');
  const flipped = Buffer.from(sigs);
  flipped[70]! ^= 1;
  const outsiderSig = Buffer.from(outsider!.sign(bytes));
  const withOutsider = Buffer.concat([sigs.subarray(0, 128), outsiderSig]);
  const swapped = Buffer.concat([sigs.subarray(64, 128), sigs.subarray(0, 64), sigs.subarray(128)]);
  const twice = Buffer.concat([sigs.subarray(0, 64), sigs.subarray(0, 64), sigs.subarray(128)]);
  const otherKind = certBy([0, 1, 2], statementBytes('vote', body));
  const otherQuorum = certBy(
    [0, 1, 2],
    statementBytes('checkpoint', { ...body, quorum: other.config.quorum }),
  );
  const b64 = (b: Buffer) => b.toString('base64url');
  // 128 signature bytes leave two unused bits in the last base64url digit: set one.
  const two = certBy([0, 1]);
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = B64.indexOf(two.signatures.at(-1)!);
  const nonCanonical = { ...two, signatures: two.signatures.slice(0, -1) + B64[last + 1] };
  assert.deepEqual(
    Buffer.from(nonCanonical.signatures, 'base64url'),
    Buffer.from(two.signatures, 'base64url'),
  );
  const table: [string, unknown, string][] = [
    ['too few signers', certBy([0, 1]), 'too-few-signers'],
    ['no signers', certBy([]), 'too-few-signers'],
    ['wrong epoch', { ...good, epoch: 1 }, 'wrong-epoch'],
    ['flipped signature bit', { ...good, signatures: b64(flipped) }, 'bad-signature'],
    [
      'an outsider signed in a member slot',
      { ...good, signatures: b64(withOutsider) },
      'bad-signature',
    ],
    ['signatures in the wrong order', { ...good, signatures: b64(swapped) }, 'bad-signature'],
    ['one member counted twice', { ...good, signatures: b64(twice) }, 'bad-signature'],
    ['signed as another kind', otherKind, 'bad-signature'],
    ['signed for another quorum', otherQuorum, 'bad-signature'],
    ['bitmap claims a fourth signer', { ...good, signers: bitmapOf(4, [0, 1, 2, 3]) }, 'malformed'],
    ['bitmap bit beyond n', { ...good, signers: 'f7' }, 'malformed'],
    ['bitmap too long', { ...good, signers: `${good.signers}00` }, 'malformed'],
    ['bitmap upper case', { ...good, signers: 'FF' }, 'malformed'],
    ['signatures truncated', { ...good, signatures: b64(sigs.subarray(0, 191)) }, 'malformed'],
    ['signatures not base64url', { ...good, signatures: `${good.signatures}=` }, 'malformed'],
    ['non-canonical base64url (padding bits set)', nonCanonical, 'malformed'],
    ['extra key', { ...good, k: 3 }, 'malformed'],
    ['missing key', { epoch: 0, signers: good.signers }, 'malformed'],
    ['negative epoch', { ...good, epoch: -1 }, 'malformed'],
    ['epoch a string', { ...good, epoch: '0' }, 'malformed'],
    ['null', null, 'malformed'],
    ['array', [0, good.signers, good.signatures], 'malformed'],
  ];
  for (const [what, cert, reason] of table) {
    const check = verifyCertificate(q.config, bytes, cert as Certificate);
    assert.equal(check.ok, false, what);
    if (!check.ok) assert.equal(check.reason, reason, `${what}: ${check.message}`);
    assert.throws(
      () => requireCertificate(q.config, bytes, cert as Certificate),
      (e: unknown) => e instanceof CertificateError && e.reason === reason,
    );
  }
  // The good one still verifies against the statement it was made for, and only that one.
  assert.ok(verifyCertificate(q.config, bytes, good).ok);
  assert.equal(
    verifyCertificate(q.config, statementBytes('checkpoint', { ...body, position: 18 }), good).ok,
    false,
  );
});

test('a certificate counts only members of its epoch', () => {
  assert.throws(
    () => assembleCertificate(q.config, [[outsider!.vatId, outsider!.sign(bytes)]]),
    (e: unknown) => e instanceof CertificateError && e.reason === 'not-a-member',
  );
  // The same signatures, checked against a configuration where one signer is no longer a member.
  const good = certBy([0, 1, 2]);
  const later = {
    ...q.config,
    epoch: 1,
    members: [...q.config.members.slice(1), outsider!.vatId].sort(),
  };
  const moved = { ...good, epoch: 1 };
  const check = verifyCertificate(later, bytes, moved);
  assert.equal(check.ok, false);
});

test('SignatureCollector: verifies as it goes, ignores repeats and outsiders, completes at k', () => {
  const c = new SignatureCollector(q.config, bytes);
  const [a, b, d] = q.members;
  assert.equal(c.add(outsider!.vatId, outsider!.sign(bytes)), 'not-a-member');
  assert.equal(c.add(a!.vatId, b!.sign(bytes)), 'bad-signature');
  assert.equal(c.add(a!.vatId, a!.sign(statementBytes('vote', body))), 'bad-signature');
  assert.equal(c.add(a!.vatId, a!.sign(bytes)), 'added');
  assert.equal(c.add(a!.vatId, a!.sign(bytes)), 'duplicate');
  assert.equal(c.add(b!.vatId, b!.sign(bytes)), 'added');
  assert.equal(c.complete, false);
  assert.equal(c.add(d!.vatId, d!.sign(bytes)), 'added');
  assert.equal(c.complete, true);
  assert.equal(c.count, 3);
  const check = verifyCertificate(q.config, bytes, c.certificate());
  assert.ok(check.ok);
});
