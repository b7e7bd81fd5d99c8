import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandoffError, makeHandoffSlot, readHandoffSlot } from '../kernel/handoff.ts';
import type { VatIdentity as HandoffIdentity, VatId } from '../protocol/identity.ts';
import { publicKeyOfVatId } from '../vattp/identity.ts';
import { verifySignature } from '../vattp/signing.ts';
import { assembleCertificate, type Certificate } from './certificate.ts';
import { ConfigChain, changeStatement, requestChange } from './chain.ts';
import type { QuorumConfig } from './config.ts';
import {
  formatQuorumHandoffSlot,
  handoffGiver,
  handoffStatement,
  handoffTarget,
  MAX_SLOT_CHARS,
  type QuorumHandoffBody,
  QuorumHandoffError,
  readQuorumHandoffSlot,
  signHandoff,
} from './handoff.ts';
import { makeTestMembers, makeTestQuorum, type TestMember, type TestQuorum } from './testing.ts';

const q = await makeTestQuorum(4, 3);
const other = await makeTestQuorum(4, 3);
const [exporter, recipient, outsider, newcomer] = await makeTestMembers(4);
q.signerOf.set(newcomer!.vatId, newcomer!.sign);
const chain = new ConfigChain(q.config.quorum, q.genesis);
const chains = new Map<VatId, ConfigChain>([[q.config.quorum, chain]]);
const chainOf = (id: VatId) => chains.get(id);

const body: QuorumHandoffBody = {
  exporter: exporter!.vatId,
  ref: 'o+7',
  giver: q.config.quorum,
  recipient: recipient!.vatId,
  nonce: 3,
};

function certBy(config: QuorumConfig, signers: readonly TestMember[], b = body): Certificate {
  return assembleCertificate(
    config,
    signers.map((m) => [m.vatId, signHandoff(m.sign, b)] as const),
  );
}

/** The identity a vat node gives its kernel (node/vat-node.ts handoffIdentity). */
function nodeIdentity(member: TestMember): HandoffIdentity {
  return {
    vatId: member.vatId,
    sign: member.sign,
    verify: (signer, data, signature) => {
      try {
        return verifySignature(publicKeyOfVatId(signer), data, signature);
      } catch {
        return false;
      }
    },
  };
}

test('a handoff given by a quorum vat carries k member signatures and names them', () => {
  const slot = formatQuorumHandoffSlot(body, certBy(q.config, q.members.slice(0, 3)));
  assert.equal(handoffGiver(slot), q.config.quorum);
  const read = readQuorumHandoffSlot(slot, chainOf);
  assert.deepEqual(
    read.signers,
    q.members.slice(0, 3).map((m) => m.vatId),
  );
  assert.equal(read.ref, 'o+7');
  assert.equal(read.recipient, recipient!.vatId);
});

test('forged or insufficient quorum handoffs are refused', () => {
  const good = certBy(q.config, q.members.slice(0, 3));
  const fromOther = assembleCertificate(
    other.config,
    other.members.slice(0, 3).map((m) => [m.vatId, signHandoff(m.sign, body)] as const),
  );
  const table: [string, string, RegExp][] = [
    [
      'two of three signatures',
      formatQuorumHandoffSlot(body, certBy(q.config, q.members.slice(0, 2))),
      /2 member signatures, threshold 3|threshold 3/,
    ],
    [
      'recipient changed after signing',
      formatQuorumHandoffSlot({ ...body, recipient: outsider!.vatId }, good),
      /does not verify/,
    ],
    ['nonce changed', formatQuorumHandoffSlot({ ...body, nonce: 4 }, good), /does not verify/],
    ['ref changed', formatQuorumHandoffSlot({ ...body, ref: 'o+8' }, good), /does not verify/],
    [
      'exporter changed',
      formatQuorumHandoffSlot({ ...body, exporter: outsider!.vatId }, good),
      /does not verify/,
    ],
    [
      "signed by another quorum's members",
      formatQuorumHandoffSlot(body, fromOther),
      /does not verify/,
    ],
    [
      'a giver whose chain is unknown',
      formatQuorumHandoffSlot({ ...body, giver: other.config.quorum }, fromOther),
      /not known here/,
    ],
    [
      'a solo giver',
      formatQuorumHandoffSlot({ ...body, giver: outsider!.vatId }, good),
      /names a quorum giver/,
    ],
    ['a bad ref', formatQuorumHandoffSlot({ ...body, ref: 'o-1' }, good), /bad ref/],
    ['nonce 0', formatQuorumHandoffSlot({ ...body, nonce: 0 }, good), /nonce/],
    [
      'a certificate of an epoch the chain lacks',
      formatQuorumHandoffSlot(body, { ...good, epoch: 5 }),
      /no epoch 5/,
    ],
    ['not base64url JSON', 'h:!!!', /malformed/],
    [
      'five parts',
      `h:${Buffer.from(JSON.stringify([1, 2, 3, 4, 5])).toString('base64url')}`,
      /malformed/,
    ],
  ];
  for (const [what, slot, message] of table) {
    assert.throws(
      () => readQuorumHandoffSlot(slot, chainOf),
      (e: unknown) => e instanceof QuorumHandoffError && message.test(e.message),
      what,
    );
  }
});

test('no single member can give for its quorum, in either certificate form', () => {
  const member = q.members[0]!;
  // Today's single-signer form, signed by a member, naming the quorum as giver.
  const solo = makeHandoffSlot(nodeIdentity(member), {
    exporter: body.exporter,
    ref: body.ref,
    recipient: body.recipient,
    nonce: body.nonce,
  });
  const parts = JSON.parse(Buffer.from(solo.slice(2), 'base64url').toString()) as unknown[];
  parts[2] = q.config.quorum;
  const claim = `h:${Buffer.from(JSON.stringify(parts)).toString('base64url')}`;
  assert.throws(() => readHandoffSlot(nodeIdentity(exporter!), claim), HandoffError);
  assert.throws(() => readQuorumHandoffSlot(claim, chainOf), /handoff certificate: /);
  // The quorum form with one member's signature.
  const one = formatQuorumHandoffSlot(body, certBy(q.config, [member]));
  assert.throws(() => readQuorumHandoffSlot(one, chainOf), QuorumHandoffError);
  // Today's reader refuses the quorum form instead of misreading it.
  const full = formatQuorumHandoffSlot(body, certBy(q.config, q.members.slice(0, 3)));
  assert.throws(() => readHandoffSlot(nodeIdentity(exporter!), full), HandoffError);
});

function grow(
  t: TestQuorum,
  c: ConfigChain,
  change: Parameters<typeof requestChange>[2],
  position: number,
) {
  const config = c.current;
  const { request, admin } = requestChange(t.admin.sign, config, change);
  const statement = changeStatement(request, position);
  const certificate = assembleCertificate(
    config,
    config.members
      .slice(0, config.threshold)
      .map((m) => [m, t.signerOf.get(m)!(statement)] as const),
  );
  c.append({ request, admin, position, certificate });
}

test('across membership changes: signers still members count, removed members never do', () => {
  const c = new ConfigChain(q.config.quorum, q.genesis);
  const local = (id: VatId) => (id === q.config.quorum ? c : undefined);
  const [A, B, C] = q.members as [TestMember, TestMember, TestMember];
  const given = formatQuorumHandoffSlot(body, certBy(q.config, [A, B, C]));
  // Epoch 1: a member added, (5, 4). A, B, C are still members but 3 < 4.
  grow(q, c, { op: 'add', member: newcomer!.vatId, threshold: 4 }, 10);
  assert.throws(
    () => readQuorumHandoffSlot(given, local),
    /3 of the signers are members of epoch 1, threshold 4/,
  );
  // Epoch 2: back to threshold 3 by removing D: A, B, C count again.
  grow(q, c, { op: 'remove', member: q.members[3]!.vatId, threshold: 3 }, 20);
  assert.deepEqual(readQuorumHandoffSlot(given, local).signers, [A.vatId, B.vatId, C.vatId]);
  // Epoch 3: A removed, (3, 2)... A's signature stops counting; B and C still make 2.
  grow(q, c, { op: 'remove', member: A.vatId, threshold: 2 }, 30);
  assert.deepEqual(readQuorumHandoffSlot(given, local).signers, [B.vatId, C.vatId]);
  // A certificate of A plus one current member no longer reaches the threshold.
  const withA = formatQuorumHandoffSlot(body, certBy(q.config, [A, B]));
  assert.throws(() => readQuorumHandoffSlot(withA, local), /1 of the signers/);
});

test('the take goes to the exporter, or to every member of a quorum exporter known here', () => {
  assert.deepEqual(handoffTarget(exporter!.vatId, chainOf), [exporter!.vatId]);
  assert.deepEqual(handoffTarget(q.config.quorum, chainOf), q.config.members);
  assert.throws(() => handoffTarget(other.config.quorum, chainOf), /not known here/);
});

test('the statement is a handoff statement of the giver quorum, and slots fit the VatTP limit', async () => {
  const s = handoffStatement(body);
  assert.equal(s[4], 0x44);
  const big = await makeTestQuorum(7, 7);
  const b = { ...body, giver: big.config.quorum };
  const slot = formatQuorumHandoffSlot(
    b,
    assembleCertificate(
      big.config,
      big.members.map((m) => [m.vatId, signHandoff(m.sign, b)] as const),
    ),
  );
  assert.ok(slot.length <= MAX_SLOT_CHARS, `${slot.length}`);
  assert.match(slot, /^h:[A-Za-z0-9_-]{1,2048}$/, 'what the VatTP codec accepts');
});
