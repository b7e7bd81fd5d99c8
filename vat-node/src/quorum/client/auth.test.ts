import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatMessage } from '../../protocol/messages.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { Input } from '../ordering/types.ts';
import { statementKindOf } from '../signatures.ts';
import { makeTestMembers, makeTestQuorum } from '../testing.ts';
import {
  authenticateInputFor,
  inputStatement,
  inputsStatement,
  MAX_SIGNED_RUN,
  signInput,
  signInputs,
  verifyInputAuth,
} from './auth.ts';

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
  assert.equal(
    authenticateInputFor(Q)(input(), () => undefined),
    true,
  );
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
  assert.equal(
    authenticateInputFor(Q)({ ...good, kind: 'reconfigure' }, () => undefined),
    false,
  );
  // A frame signature or any member statement never passes for an input auth (domain separation).
  assert.notEqual(
    statementKindOf(inputStatement(Q, sender!.vatId, 3, '00'.repeat(32))),
    'outbound',
  );
});

test('one signature covers a run of messages: it checks with the whole run, never with part of it', () => {
  assert.equal(statementKindOf(inputsStatement(Q, sender!.vatId, 1, [])), 'inputs');
  const msgs: VatMessage[] = [5, 6, 7, 8].map((token) => ({ ...msg, token }));
  const auth = signInputs(sender!.sign, Q, sender!.vatId, 10, msgs);
  const run: Input[] = msgs.map((m, i) => ({
    kind: 'message',
    from: sender!.vatId,
    seq: 10 + i,
    body: new Uint8Array(Buffer.from(canonicalJson(m), 'utf8')),
    auth,
  }));
  const bySeq = (inputs: readonly Input[]) => (seq: number) => inputs.find((x) => x.seq === seq);
  for (const x of run) assert.ok(verifyInputAuth(Q, x, undefined, bySeq(run)), `#${x.seq}`);
  // Part of the run: the signature does not check out, and the hook says it cannot tell.
  const part = run.slice(1);
  assert.equal(verifyInputAuth(Q, run[2]!, undefined, bySeq(part)), false);
  assert.equal(authenticateInputFor(Q)(run[2]!, bySeq(part)), 'unknown');
  // A neighbour with other content under the same auth: not the sender's run either.
  const swapped = run.map((x, i) => (i === 0 ? { ...x, body: run[3]!.body } : x));
  assert.equal(authenticateInputFor(Q)(run[1]!, bySeq(swapped)), 'unknown');
  // Once a member checked the run, each of its inputs is known by digest: other content under
  // a covered seq is refused outright, the run's own inputs pass without another check.
  const hook = authenticateInputFor(Q);
  assert.equal(hook(run[0]!, bySeq(run)), true);
  assert.equal(
    hook(run[3]!, () => undefined),
    true,
  );
  assert.equal(
    hook({ ...run[3]!, body: run[0]!.body }, () => undefined),
    false,
  );
  // The run is bound to its first seq and to the quorum.
  const shifted = run.map((x) => ({ ...x, seq: x.seq + 1 }));
  assert.equal(verifyInputAuth(Q, shifted[0]!, undefined, bySeq(shifted)), false);
  assert.equal(verifyInputAuth(other.config.quorum, run[0]!, undefined, bySeq(run)), false);
  // A forged auth (another signer) never checks out.
  const forged = run.map((x) => ({
    ...x,
    auth: signInputs(stranger!.sign, Q, sender!.vatId, 10, msgs),
  }));
  assert.equal(authenticateInputFor(Q)(forged[0]!, bySeq(forged)), 'unknown');
  assert.equal(verifyInputAuth(Q, forged[0]!, undefined, bySeq(forged)), false);
  assert.throws(() => signInputs(sender!.sign, Q, sender!.vatId, 1, []), RangeError);
  assert.throws(
    () => signInputs(sender!.sign, Q, sender!.vatId, 1, Array(MAX_SIGNED_RUN + 1).fill(msg)),
    RangeError,
  );
});
