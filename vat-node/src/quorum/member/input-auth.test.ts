// A sender's auth on a message to a quorum vat: it verifies for exactly that quorum, sender,
// seq and message, and for nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatMessage } from '../../protocol/messages.ts';
import { ephemeralIdentity } from '../../vattp/identity.ts';
import { quorumVatIdOf } from '../config.ts';
import type { Input } from '../ordering/types.ts';
import { makeTestQuorum } from '../testing.ts';
import { authenticateInput, messageBody, signInput } from './input-auth.ts';

const msg: VatMessage = {
  op: 'deliver',
  target: 'o-0',
  method: 'count',
  args: { body: '#[]', slots: [] },
  result: 'p+1',
};

test('an input auth verifies for its quorum, sender, seq and body only', async () => {
  const q = await makeTestQuorum(3, 2);
  const other = await makeTestQuorum(3, 2);
  const Q = quorumVatIdOf(q.genesis);
  const Q2 = quorumVatIdOf(other.genesis);
  const alice = await ephemeralIdentity();
  const mallory = await ephemeralIdentity();
  const auth = signInput(alice.sign, Q, alice.vatId, 7, msg);
  const input: Input = { kind: 'message', from: alice.vatId, seq: 7, body: messageBody(msg), auth };
  assert.equal(authenticateInput(Q)(input), true);
  const refused: [string, Input, string][] = [
    ['another quorum', input, Q2],
    ['another seq', { ...input, seq: 8 }, Q],
    ['another body', { ...input, body: messageBody({ ...msg, method: 'drain' }) }, Q],
    ['another sender', { ...input, from: mallory.vatId }, Q],
    ['no auth', { ...input, auth: undefined }, Q],
    ['a flipped bit', { ...input, auth: auth.map((b, i) => (i === 5 ? b ^ 1 : b)) }, Q],
    ['a short signature', { ...input, auth: auth.subarray(1) }, Q],
    ['a reconfigure input', { ...input, kind: 'reconfigure' }, Q],
    ['a quorum sender', { ...input, from: Q2 }, Q],
  ];
  for (const [what, i, quorum] of refused) {
    assert.equal(authenticateInput(quorum)(i), false, what);
  }
  // Mallory's own signature on alice's message does not pass as alice's.
  const forged = signInput(mallory.sign, Q, alice.vatId, 7, msg);
  assert.equal(authenticateInput(Q)({ ...input, auth: forged }), false);
});
