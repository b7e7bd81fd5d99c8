import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../../protocol/identity.ts';
import type { VatMessage } from '../../protocol/messages.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import { ConfigChain } from '../chain.ts';
import {
  formatUnsignedQuorumHandoffSlot,
  type QuorumHandoffBody,
  readQuorumHandoffSlot,
} from '../handoff.ts';
import type { Input } from '../ordering/types.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from '../testing.ts';
import { decodeInputCertificate, verifyInputAuth } from './auth.ts';
import { completeFromMembers, memberAuth } from './member-auth.ts';

// Q1 (3 members, k = 2) sends to Q2 (4 members, k = 3) and to a solo vat.
const q1 = await makeTestQuorum(3, 2);
const q2 = await makeTestQuorum(4, 3);
const impostor = await makeTestQuorum(3, 2);
const [solo, exporter, outsider] = await makeTestMembers(3);
const Q1 = q1.config.quorum;
const Q2 = q2.config.quorum;
const chains = new Map<VatId, ConfigChain>([[Q1, new ConfigChain(Q1, q1.genesis)]]);
const chainOf = (id: VatId) => chains.get(id);

const call: VatMessage = {
  op: 'deliver',
  target: 'o-1',
  method: 'count',
  args: { body: '#[]', slots: [] },
  result: 'p+5',
};
const bodyOf = (m: VatMessage) => new Uint8Array(Buffer.from(canonicalJson(m), 'utf8'));
const claim = (m: TestMember, receiver: VatId, seq: number, msg: VatMessage) => {
  const auth = memberAuth(m.sign, Q1, receiver, seq, msg);
  return auth === undefined ? { member: m.vatId } : { member: m.vatId, auth };
};

test('to a quorum: k members input signatures become the certificate a member of the receiver checks', () => {
  const claims = q1.members.map((m) => claim(m, Q2, 7, call));
  const done = completeFromMembers(q1.config, Q2, 7, call, claims);
  assert.ok(done?.auth);
  assert.equal(done.msg, call);
  const input: Input = { kind: 'message', from: Q1, seq: 7, body: bodyOf(call), auth: done.auth };
  assert.ok(verifyInputAuth(Q2, input, chainOf));
  assert.ok(done.auth.length <= 1024, 'fits the ordering codec');
  // Not for another receiver, seq, content or sender; not without Q1's chain.
  assert.equal(verifyInputAuth(impostor.config.quorum, input, chainOf), false);
  assert.equal(verifyInputAuth(Q2, { ...input, seq: 8 }, chainOf), false);
  assert.equal(
    verifyInputAuth(Q2, { ...input, body: bodyOf({ ...call, method: 'fail' }) }, chainOf),
    false,
  );
  assert.equal(
    verifyInputAuth(Q2, input, () => undefined),
    false,
    'unknown chain',
  );
  assert.equal(verifyInputAuth(Q2, input), false, 'no chains at all');
});

test('to a quorum: fewer than k valid member signatures is no certificate (wait for more)', () => {
  const [a, b, c] = q1.members;
  // One member alone (a Byzantine member speaking for Q1) never makes a certificate.
  assert.equal(completeFromMembers(q1.config, Q2, 7, call, [claim(a!, Q2, 7, call)]), undefined);
  // A bad signature (over other content) does not count; an honest third completes it.
  const forged = claim(b!, Q2, 7, { ...call, method: 'fail' });
  assert.equal(
    completeFromMembers(q1.config, Q2, 7, call, [claim(a!, Q2, 7, call), forged]),
    undefined,
  );
  assert.ok(
    completeFromMembers(q1.config, Q2, 7, call, [
      claim(a!, Q2, 7, call),
      forged,
      claim(c!, Q2, 7, call),
    ]),
  );
  // A signer outside Q1's configuration never counts, nor a claim without auth.
  const stranger = { member: outsider!.vatId, auth: memberAuth(outsider!.sign, Q1, Q2, 7, call) };
  assert.equal(
    completeFromMembers(q1.config, Q2, 7, call, [claim(a!, Q2, 7, call), stranger]),
    undefined,
  );
  assert.equal(
    completeFromMembers(q1.config, Q2, 7, call, [claim(a!, Q2, 7, call), { member: c!.vatId }]),
    undefined,
  );
});

test('a certificate with too few signers, or signers of another quorum, fails at the receiver', () => {
  const claims = q1.members.map((m) => claim(m, Q2, 7, call));
  const done = completeFromMembers(q1.config, Q2, 7, call, claims)!;
  const cert = decodeInputCertificate(done.auth!)!;
  const input = (auth: Uint8Array): Input => ({
    kind: 'message',
    from: Q1,
    seq: 7,
    body: bodyOf(call),
    auth,
  });
  const enc = (c: object) => new Uint8Array(Buffer.from(canonicalJson(c), 'utf8'));
  // The first signer only: one signature, threshold 2.
  const one = { ...cert, signers: '01', signatures: cert.signatures.slice(0, 86) };
  assert.equal(verifyInputAuth(Q2, input(enc(one)), chainOf), false);
  // Impostor members signing for Q1.
  const theirs = completeFromMembers(
    { ...impostor.config, quorum: Q1 },
    Q2,
    7,
    call,
    impostor.members.map((m) => ({ member: m.vatId, auth: memberAuth(m.sign, Q1, Q2, 7, call) })),
  );
  assert.ok(theirs?.auth);
  assert.equal(verifyInputAuth(Q2, input(theirs.auth), chainOf), false);
  // Garbage never throws.
  for (const bad of [new Uint8Array(0), enc({}), new Uint8Array(64), enc({ ...cert, epoch: 9 })]) {
    assert.equal(verifyInputAuth(Q2, input(bad), chainOf), false);
  }
});

test('to a solo vat: an unsigned handoff slot is completed with k member signatures', () => {
  const body: QuorumHandoffBody = {
    exporter: exporter!.vatId,
    ref: 'o+3',
    giver: Q1,
    recipient: solo!.vatId,
    nonce: 1,
    hints: [`/ip4/127.0.0.1/tcp/4001/p2p/${exporter!.vatId}`],
  };
  const slot = formatUnsignedQuorumHandoffSlot(body);
  const msg: VatMessage = { ...call, args: { body: '#["$0.Alleged: x"]', slots: [slot] } };
  assert.throws(() => readQuorumHandoffSlot(slot, chainOf), /certificate/);
  // A plain message to a solo vat needs no signature.
  assert.equal(memberAuth(q1.members[0]!.sign, Q1, solo!.vatId, 1, call), undefined);
  assert.deepEqual(completeFromMembers(q1.config, solo!.vatId, 1, call, []), { msg: call });
  const claims = q1.members.map((m) => claim(m, solo!.vatId, 1, msg));
  assert.equal(
    completeFromMembers(q1.config, solo!.vatId, 1, msg, claims.slice(0, 1)),
    undefined,
    'one member alone',
  );
  const done = completeFromMembers(q1.config, solo!.vatId, 1, msg, claims);
  assert.ok(done);
  assert.equal(done.auth, undefined);
  const completed = (done.msg as unknown as { args: { slots: string[] } }).args.slots[0]!;
  const read = readQuorumHandoffSlot(completed, chainOf);
  assert.equal(read.signers.length, 2);
  assert.deepEqual(read.hints, body.hints);
  assert.equal(read.recipient, solo!.vatId);
});
