import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatMessage } from '../../protocol/messages.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { Input } from '../ordering/types.ts';
import { statementKindOf } from '../signatures.ts';
import { makeTestMembers, makeTestQuorum } from '../testing.ts';
import { authenticateInputFor, inputStatement, signInput, verifyInputAuth } from './auth.ts';

const q = await makeTestQuorum(3, 2);
const other = await makeTestQuorum(3, 2);
const Q = q.config.quorum;
const [sender, stranger] = await makeTestMembers(2);
const msg: VatMessage = { op: 'echo', target: 'o-1', token: 5 };
const body = new Uint8Array(Buffer.from(canonicalJson(msg), 'utf8'));

function input(overrides: Partial<Input> = {}): Input {
  return {
    kind: 'message',
    from: sender!.vatId,
    seq: 3,
    body,
    auth: signInput(sender!.sign, Q, sender!.vatId, 3, msg),
    ...overrides,
  };
}

test('a sender signs {quorum, from, seq, digest}; members check it against the canonical body', () => {
  assert.equal(statementKindOf(inputStatement(Q, sender!.vatId, 1, '00'.repeat(32))), 'input');
  assert.ok(verifyInputAuth(Q, input()));
  assert.ok(authenticateInputFor(Q)(input()));
});

test('every other quorum, sender, seq, content or signer fails; nothing throws', () => {
  const good = input();
  const cases: [string, Partial<Input>][] = [
    ['seq', { seq: 4 }],
    ['seq 0', { seq: 0 }],
    ['from', { from: stranger!.vatId }],
    ['from not a VatID', { from: 'nonsense' }],
    ['content', { body: new Uint8Array(Buffer.from(canonicalJson({ ...msg, token: 6 }))) }],
    ['signer', { auth: signInput(stranger!.sign, Q, sender!.vatId, 3, msg) }],
    ['no auth', { auth: undefined }],
    ['short auth', { auth: good.auth!.subarray(1) }],
  ];
  for (const [name, o] of cases) assert.equal(verifyInputAuth(Q, input(o)), false, name);
  assert.equal(verifyInputAuth(other.config.quorum, good), false, 'another quorum');
  assert.equal(verifyInputAuth('not-a-quorum', good), false, 'not a quorum VatID');
  assert.equal(authenticateInputFor(Q)({ ...good, kind: 'reconfigure' }), false);
  // A frame signature or any member statement never passes for an input auth (domain separation).
  assert.notEqual(
    statementKindOf(inputStatement(Q, sender!.vatId, 3, '00'.repeat(32))),
    'outbound',
  );
});
