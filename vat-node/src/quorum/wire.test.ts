import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced } from '../protocol/messages.ts';
import { canonicalJson } from '../vattp/codec.ts';
import { AckCombiner, signAck } from './ack.ts';
import { OutboundCombiner, signOutbound } from './outbound.ts';
import { makeTestMembers, makeTestQuorum } from './testing.ts';
import {
  ackFromWire,
  ackToWire,
  outboundFromWire,
  outboundToWire,
  QuorumWireError,
} from './wire.ts';

const q = await makeTestQuorum(4, 3);
const [receiver] = await makeTestMembers(1);
const R = receiver!.vatId;
const msgs: Sequenced[] = [1, 2].map((seq) => ({
  seq,
  msg: { op: 'echo', target: 'o-1', token: seq },
}));

test('member statements survive the wire and still count', () => {
  const c = new OutboundCombiner({ receiver: R });
  c.setConfig(q.config);
  let delivered: readonly Sequenced[] = [];
  for (const m of q.members.slice(0, 3)) {
    const wire = outboundToWire(signOutbound(m.sign, m.vatId, q.config.quorum, R, msgs));
    const back = outboundFromWire(JSON.parse(canonicalJson(wire)));
    delivered = c.offer(back, msgs).delivered;
  }
  assert.deepEqual(delivered, msgs);
  const acks = new AckCombiner(R, q.config);
  for (const m of q.members.slice(0, 3)) {
    const a = { quorum: q.config.quorum, peer: R, signer: m.vatId, ack: 5 };
    const wire = ackToWire({ ...a, signature: signAck(m.sign, q.config.quorum, R, 5) });
    const back = ackFromWire(JSON.parse(JSON.stringify(wire)));
    acks.offer(back.signer, back.ack, back.signature);
  }
  assert.equal(acks.certified, 5);
});

test('malformed statements are refused with a reason, never anything else', () => {
  const m = q.members[0]!;
  const good = outboundToWire(signOutbound(m.sign, m.vatId, q.config.quorum, R, msgs));
  const table: [string, unknown][] = [
    ['null', null],
    ['array', [good]],
    ['extra key', { ...good, x: 1 }],
    ['missing key', { ...good, signature: undefined }],
    ['a solo VatID as quorum', { ...good, quorum: m.vatId }],
    ['to not a VatID', { ...good, to: 'bob!' }],
    ['signer too long', { ...good, signer: '1'.repeat(200) }],
    ['first 0', { ...good, first: 0 }],
    ['first a float', { ...good, first: 1.5 }],
    ['no digests', { ...good, digests: [] }],
    ['65 digests', { ...good, digests: Array(65).fill('a'.repeat(64)) }],
    ['a digest upper case', { ...good, digests: ['A'.repeat(64), 'a'.repeat(64)] }],
    ['a digest not a string', { ...good, digests: [1, 2] }],
    ['signature short', { ...good, signature: good.signature.slice(2) }],
    ['signature padded', { ...good, signature: `${good.signature}==` }],
  ];
  for (const [what, v] of table) {
    assert.throws(() => outboundFromWire(v), QuorumWireError, what);
  }
  const ack = ackToWire({
    quorum: q.config.quorum,
    peer: R,
    signer: m.vatId,
    ack: 3,
    signature: signAck(m.sign, q.config.quorum, R, 3),
  });
  const acks: [string, unknown][] = [
    ['negative ack', { ...ack, ack: -1 }],
    ['ack a string', { ...ack, ack: '3' }],
    ['quorum a solo VatID', { ...ack, quorum: m.vatId }],
    ['extra key', { ...ack, epoch: 0 }],
    ['signature not text', { ...ack, signature: 5 }],
  ];
  for (const [what, v] of acks) assert.throws(() => ackFromWire(v), QuorumWireError, what);
  assert.equal(ackFromWire(ack).ack, 3);
});
