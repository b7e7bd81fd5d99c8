import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame } from '../vattp/codec.ts';
import {
  contentDigest,
  digestHex,
  STATEMENT_KINDS,
  type StatementKind,
  signatureFromText,
  signatureText,
  signStatement,
  statementBytes,
  statementKindOf,
  verifyMemberSignature,
} from './signatures.ts';
import { makeTestQuorum } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const other = await makeTestQuorum(4, 3);
const body = { quorum: q.config.quorum, position: 17, hash: 'ab'.repeat(32) };
const bytes = statementBytes('checkpoint', body);

test('statement bytes: header, canonical body, one kind byte per kind, none taken by VatTP', () => {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x51, 0x56, 0x54, 0x50, 0x43, 0x01]);
  assert.equal(
    Buffer.from(bytes.subarray(6)).toString(),
    `{"hash":"${'ab'.repeat(32)}","position":17,"quorum":"${q.config.quorum}"}`,
  );
  const bytesOfKind: number[] = Object.values(STATEMENT_KINDS);
  assert.equal(new Set(bytesOfKind).size, bytesOfKind.length, 'kind bytes are distinct');
  assert.ok(!bytesOfKind.includes(0x46) && !bytesOfKind.includes(0x48), "not VatTP's F or H");
  for (const kind of Object.keys(STATEMENT_KINDS) as StatementKind[]) {
    assert.equal(statementKindOf(statementBytes(kind, body)), kind);
  }
  // A VatTP frame is not a statement.
  const frame = encodeFrame({
    from: q.members[0]!.vatId,
    to: q.members[1]!.vatId,
    session: '0'.repeat(32),
    ack: 0,
    messages: [],
  });
  assert.equal(statementKindOf(frame), undefined);
  // Key order does not matter: the body is canonical.
  assert.deepEqual(
    statementBytes('checkpoint', { hash: body.hash, quorum: body.quorum, position: 17 }),
    bytes,
  );
  // A body must name a quorum VatID and be plain data.
  assert.throws(
    () => statementBytes('checkpoint', { quorum: q.members[0]!.vatId }),
    /quorum VatID/,
  );
  assert.throws(() => statementBytes('checkpoint', { ...body, x: -1 }), /canonical number/);
  assert.throws(() => statementBytes('nope' as StatementKind, body), /unknown statement kind/);
});

test('a signature on one kind, quorum or body never verifies as another', () => {
  const member = q.members[0]!;
  const sig = signStatement(member.sign, 'vote', body);
  assert.ok(verifyMemberSignature(member.vatId, statementBytes('vote', body), sig));
  for (const kind of Object.keys(STATEMENT_KINDS) as StatementKind[]) {
    if (kind === 'vote') continue;
    assert.equal(verifyMemberSignature(member.vatId, statementBytes(kind, body), sig), false, kind);
  }
  assert.equal(
    verifyMemberSignature(
      member.vatId,
      statementBytes('vote', { ...body, quorum: other.config.quorum }),
      sig,
    ),
    false,
    'another quorum',
  );
  assert.equal(
    verifyMemberSignature(member.vatId, statementBytes('vote', { ...body, position: 18 }), sig),
    false,
  );
  assert.equal(
    verifyMemberSignature(q.members[1]!.vatId, statementBytes('vote', body), sig),
    false,
  );
  assert.equal(verifyMemberSignature('not-a-vat', statementBytes('vote', body), sig), false);
  assert.equal(verifyMemberSignature(q.config.quorum, statementBytes('vote', body), sig), false);
});

test('signature text: canonical base64url of exactly 64 bytes, nothing else', () => {
  const sig = q.members[0]!.sign(bytes);
  const text = signatureText(sig);
  assert.deepEqual(signatureFromText(text), sig);
  for (const bad of [
    '',
    text.slice(1),
    `${text}A`,
    `${text.slice(0, -1)}=`,
    '+'.repeat(86),
    `${text.slice(0, -1)}B`,
  ]) {
    if (bad === text) continue;
    const back = signatureFromText(bad);
    assert.ok(back === undefined || signatureText(back) === bad, bad);
  }
  // 64 bytes leave 4 unused bits in the last digit: only one spelling is accepted.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = B64.indexOf(text.at(-1)!);
  const other = text.slice(0, -1) + B64[last ^ 1];
  assert.equal(signatureFromText(other), undefined);
});

test('digests: sha256 hex of the canonical JSON, independent of key order', () => {
  assert.equal(digestHex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(contentDigest({ b: 1, a: [2] }), contentDigest({ a: [2], b: 1 }));
  assert.equal(contentDigest({ a: 1 }), digestHex('{"a":1}'));
});
