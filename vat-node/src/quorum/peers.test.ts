import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced } from '../protocol/messages.ts';
import { signAck } from './ack.ts';
import { assembleCertificate } from './certificate.ts';
import {
  ChainError,
  type ChainRecord,
  ConfigChain,
  type ConfigChange,
  changeStatement,
  requestChange,
} from './chain.ts';
import { formatQuorumHandoffSlot, readQuorumHandoffSlot, signHandoff } from './handoff.ts';
import { signOutbound } from './outbound.ts';
import { QuorumPeers } from './peers.ts';
import { makeTestMembers, makeTestQuorum, type TestMember, type TestQuorum } from './testing.ts';

const bank = await makeTestQuorum(4, 3);
const escrow = await makeTestQuorum(3, 2);
const unknown = await makeTestQuorum(3, 2);
const [me, newcomer, stranger] = await makeTestMembers(3);
const ME = me!.vatId;
bank.signerOf.set(newcomer!.vatId, newcomer!.sign);

function msgs(first: number, n: number, tag = 'ok'): Sequenced[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: first + i,
    msg: {
      op: 'deliver',
      target: 'o-1',
      method: tag,
      args: { body: '#[]', slots: [] },
      result: null,
    },
  }));
}

function record(
  t: TestQuorum,
  chain: ConfigChain,
  change: ConfigChange,
  position: number,
): ChainRecord {
  const config = chain.current;
  const { request, admin } = requestChange(t.admin.sign, config, change);
  const statement = changeStatement(request, position);
  const certificate = assembleCertificate(
    config,
    config.members
      .slice(0, config.threshold)
      .map((m) => [m, t.signerOf.get(m)!(statement)] as const),
  );
  const r = { request, admin, position, certificate };
  chain.append(r);
  return r;
}

test('one vat talking to two quorum vats: routes, messages, acks and status for each', () => {
  const peers = new QuorumPeers(ME);
  peers.add(bank.config.quorum, { genesis: bank.genesis });
  peers.add(escrow.config.quorum, { genesis: escrow.genesis, delivered: 10, acked: 4 });
  assert.deepEqual(peers.routeOf(bank.config.quorum), bank.config.members);
  assert.deepEqual(peers.routeOf(stranger!.vatId), [stranger!.vatId]);
  assert.equal(peers.routeOf(unknown.config.quorum), undefined, 'a quorum whose chain we lack');
  // The bank's messages: k = 3 of its members.
  const m = msgs(1, 3);
  const send = (t: TestQuorum, who: TestMember, x: Sequenced[]) =>
    peers.offerOutbound(signOutbound(who.sign, who.vatId, t.config.quorum, ME, x), x);
  assert.deepEqual(send(bank, bank.members[0]!, m).delivered, []);
  assert.deepEqual(send(bank, bank.members[1]!, m).delivered, []);
  assert.deepEqual(send(bank, bank.members[2]!, m).delivered, m);
  // The escrow resumes after seq 10; k = 2.
  const e = msgs(11, 1);
  send(escrow, escrow.members[0]!, e);
  assert.deepEqual(send(escrow, escrow.members[1]!, e).delivered, e);
  // A bank member's signature does not count for the escrow.
  assert.equal(send(escrow, bank.members[0]!, msgs(12, 1)).outcome, 'not-a-member');
  // Acks of our messages to the escrow, from its members.
  const ack = (t: TestQuorum, who: TestMember, n: number) =>
    peers.offerAck({
      quorum: t.config.quorum,
      peer: ME,
      signer: who.vatId,
      ack: n,
      signature: signAck(who.sign, t.config.quorum, ME, n),
    });
  ack(escrow, escrow.members[0]!, 9);
  assert.equal(ack(escrow, escrow.members[1]!, 7).certified, 7);
  assert.equal(
    peers.offerAck({
      quorum: escrow.config.quorum,
      peer: stranger!.vatId,
      signer: escrow.members[0]!.vatId,
      ack: 9,
      signature: new Uint8Array(64),
    }).outcome,
    'unknown-quorum',
    'an ack addressed to someone else',
  );
  const s = peers.status(escrow.config.quorum)!;
  assert.deepEqual([s.delivered, s.acked, s.pending, s.members.length], [11, 7, 0, 3]);
  assert.match(s.summary, /tolerates 0 Byzantine and 1 crashed/);
  assert.equal(peers.status(stranger!.vatId), undefined);
});

test('learning the chain: records from anyone, in order; combiners follow; forgeries refused', () => {
  const peers = new QuorumPeers(ME);
  peers.add(bank.config.quorum, { genesis: bank.genesis });
  const chain = new ConfigChain(bank.config.quorum, bank.genesis);
  const r0 = record(bank, chain, { op: 'add-learner', member: newcomer!.vatId }, 10);
  const r1 = record(bank, chain, { op: 'add', member: newcomer!.vatId, threshold: 4 }, 11);
  const [A, B, C, D] = bank.members as [TestMember, TestMember, TestMember, TestMember];
  const r2 = record(bank, chain, { op: 'remove', member: D.vatId, threshold: 3 }, 12);
  // Two votes before the changes: A and D.
  const m = msgs(1, 1);
  const send = (who: TestMember) =>
    peers.offerOutbound(signOutbound(who.sign, who.vatId, bank.config.quorum, ME, m), m);
  send(A);
  send(D);
  assert.equal(peers.learn(r1).outcome, 'ahead', 'a gap: the records in between are needed');
  assert.equal(peers.learn(r0).outcome, 'appended');
  assert.equal(peers.learn(r0).outcome, 'duplicate');
  assert.equal(peers.learn(r1).outcome, 'appended');
  assert.equal(peers.learn(r2).outcome, 'appended');
  assert.deepEqual(
    peers.routeOf(bank.config.quorum),
    [A, B, C]
      .map((x) => x.vatId)
      .concat(newcomer!.vatId)
      .sort(),
  );
  // D was removed: its vote is gone. A, then B and the newcomer make 3.
  assert.deepEqual(send(B).delivered, []);
  assert.deepEqual(
    peers.offerOutbound(signOutbound(newcomer!.sign, newcomer!.vatId, bank.config.quorum, ME, m), m)
      .delivered,
    m,
  );
  assert.equal(send(D).outcome, 'not-a-member', 'D was removed');
  assert.equal(
    peers.learn({ ...r2, request: { ...r2.request, quorum: escrow.config.quorum } }).outcome,
    'unknown-quorum',
  );
  const forged = { ...r2, position: 99 };
  const peers2 = new QuorumPeers(ME);
  peers2.add(bank.config.quorum, { genesis: bank.genesis });
  peers2.learn(r0);
  peers2.learn(r1);
  assert.throws(() => peers2.learn(forged), ChainError);
  assert.equal(peers2.status(bank.config.quorum)!.epoch, 2, 'a refused record changes nothing');
  assert.throws(() => peers.add(escrow.config.quorum, { genesis: bank.genesis }), ChainError);
});

test('handoffs given by a known quorum are checked against the chain it learned', () => {
  const peers = new QuorumPeers(ME);
  peers.add(bank.config.quorum, { genesis: bank.genesis });
  const body = {
    exporter: stranger!.vatId,
    ref: 'o+1',
    giver: bank.config.quorum,
    recipient: ME,
    nonce: 1,
  };
  const cert = assembleCertificate(
    bank.config,
    bank.members.slice(0, 3).map((m) => [m.vatId, signHandoff(m.sign, body)] as const),
  );
  const slot = formatQuorumHandoffSlot(body, cert);
  assert.equal(readQuorumHandoffSlot(slot, peers.chainOf).signers.length, 3);
  const other = new QuorumPeers(ME);
  assert.throws(() => readQuorumHandoffSlot(slot, other.chainOf), /not known here/);
});
