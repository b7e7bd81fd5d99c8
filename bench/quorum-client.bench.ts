// The receiving side of the quorum client layer (vat-node/src/quorum/client/), one core:
// messages per second from a quorum vat as a receiver takes them from k members' VatTP frames
// (frames of 1 or 64 messages, signed by the members beforehand): decoding and verifying each
// frame (what NetworkTransport does for every frame) and combining its messages
// (FrameCombiner: a digest per copy, delivery at k identical copies), for (n, k) = (3, 2),
// (4, 3), (7, 5). Every message must be delivered exactly once, in order (asserted).

import { strict as assert } from 'node:assert';
import type { Sequenced } from '../vat-node/src/protocol/messages.ts';
import { FrameCombiner } from '../vat-node/src/quorum/client/inbound.ts';
import { makeTestMembers, makeTestQuorum } from '../vat-node/src/quorum/testing.ts';
import { decodeWire, packFrames, verifyFrame } from '../vat-node/src/vattp/codec.ts';
import { emit, quick, round } from './lib.ts';

const SHAPES: readonly [number, number][] = [
  [3, 2],
  [4, 3],
  [7, 5],
];
const SESSION = '00112233445566778899aabbccddeeff';
const [receiver] = await makeTestMembers(1);

for (const [n, k] of SHAPES) {
  const q = await makeTestQuorum(n, k);
  for (const run of [1, 64]) {
    const total = quick(run === 1 ? 3000 : 19_200, run === 1 ? 300 : 1920);
    const messages: Sequenced[] = Array.from({ length: total }, (_, i) => ({
      seq: i + 1,
      msg: {
        op: 'deliver',
        target: 'o-1',
        method: 'deposit',
        args: { body: `#[${i},"moola"]`, slots: ['o+3'] },
        result: `p+${i + 1}`,
      },
    }));
    // Members frame and sign beforehand: what is measured is the receiver's work only.
    const wires: { member: string; wire: Uint8Array }[] = [];
    for (let first = 0; first < total; first += run) {
      const slice = messages.slice(first, first + run);
      for (const m of q.members.slice(0, k)) {
        const fields = { from: m.vatId, to: receiver!.vatId, session: SESSION, ack: 0 };
        const { frames } = packFrames(fields, slice, m.sign);
        assert.equal(frames.length, 1);
        wires.push({ member: m.vatId, wire: frames[0]!.wire });
      }
    }
    const combiner = new FrameCombiner();
    combiner.setConfig(q.config, 0);
    let delivered = 0;
    let expected = 1;
    const started = performance.now();
    for (const { member, wire } of wires) {
      const signed = decodeWire(wire);
      assert.ok(verifyFrame(signed));
      const proof = { signed: signed.signed, signature: signed.signature };
      for (const { seq, msg } of signed.frame.messages) {
        const r = combiner.offer(q.config.quorum, member, seq, msg, proof);
        for (const d of r.delivered) assert.equal(d.seq, expected++);
        delivered += r.delivered.length;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(delivered, total);
    emit({
      bench: 'quorum-client',
      what: 'frame-combiner',
      members: n,
      threshold: k,
      run,
      msgs: total,
      msgs_per_s: Math.round(total / seconds),
      us_per_msg: round((seconds * 1e6) / total, 3),
    });
  }
}
