import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { collectEvents } from '../events/events.ts';
import { ProtocolError } from '../protocol/errors.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import { LocalNetwork } from './local-link.ts';
import type { KernelPort } from './types.ts';

/** A kernel port that sends `outbox` and records what it receives (pure logic, no worker). */
function port(vatId: string, outbox: Sequenced[], refuse?: (seq: number) => ProtocolError | null) {
  const received: Sequenced[] = [];
  const p: KernelPort = {
    vatId,
    receive(_peer, seq, msg) {
      const err = refuse?.(seq);
      if (err) throw err;
      received.push({ seq, msg });
      return 'accepted';
    },
    committedInbound: () => received.at(-1)?.seq ?? 0,
    acked() {},
    unacked: (_peer, after) => outbox.filter((s) => s.seq > after),
    owed: (_peer, after) => outbox.some((s) => s.seq > after),
  };
  return { port: p, received };
}

const ok = (seq: number): Sequenced => ({ seq, msg: { op: 'echoed', token: seq } });

async function link(outbox: Sequenced[], refuse?: (seq: number) => ProtocolError | null) {
  const { sink, events } = collectEvents();
  const net = new LocalNetwork({ events: sink });
  const a = port('A', outbox);
  const b = port('B', [], refuse);
  const ta = net.transport();
  const tb = net.transport();
  ta.attach(a.port);
  tb.attach(b.port);
  ta.wake('B');
  await tick();
  await tick();
  return { net, received: b.received, events };
}

test('the in-process link delivers valid messages, validated and rebuilt', async () => {
  const extra = { op: 'echoed', token: 2, stray: 'dropped?' } as unknown as VatMessage;
  const { net, received } = await link([ok(1), ok(3)]);
  assert.deepEqual(received, [ok(1), ok(3)]);
  assert.deepEqual(net.refused, []);
  // A message with a key the protocol does not know is refused, not passed on.
  const r = await link([ok(1), { seq: 2, msg: extra }, ok(3)]);
  assert.deepEqual(r.received, [ok(1)], 'nothing after the bad message is delivered');
  assert.equal(r.net.refused.length, 1);
  assert.equal(r.net.refused[0]!.code, 'malformed');
});

test('every family of malformed message is refused at the link with its code', async () => {
  const bad: unknown[] = [
    { op: 'deliver', target: 'o+0', method: 'm', args: { body: '#[]', slots: [] }, result: null },
    { op: 'deliver', target: 'o-1', method: 7, args: { body: '#[]', slots: [] }, result: null },
    {
      op: 'deliver',
      target: 'o-1',
      method: 'm',
      args: { body: '#[]', slots: ['x'] },
      result: null,
    },
    { op: 'deliver', target: 'o-1', method: 'm', args: { body: '#[]', slots: [] }, result: 'o+1' },
    { op: 'resolve', resolutions: [] },
    { op: 'echo', target: 'p-1', token: -1 },
    { op: 'take', cert: 'nope', result: 'p+1' },
    { op: 'redeem', key: 'k', proof: 'p', result: 'p+1' },
    { op: 'drop', refs: ['o+01'] },
    { op: 'gossip' },
  ];
  for (const msg of bad) {
    const { net, received, events } = await link([{ seq: 1, msg: msg as VatMessage }]);
    assert.deepEqual(received, [], JSON.stringify(msg));
    assert.deepEqual(
      net.refused.map((r) => [r.from, r.to, r.code]),
      [['A', 'B', 'malformed']],
      JSON.stringify(msg),
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'peer-input-rejected');
  }
});

test("the receiving kernel's ProtocolError is recorded with its code; the process keeps going", async () => {
  const refuse = (seq: number) =>
    seq === 2 ? new ProtocolError('out-of-order', 'seq gap from A: got 2, expected 1') : null;
  const { net, received } = await link([ok(1), ok(2), ok(3)], refuse);
  assert.deepEqual(received, [ok(1)]);
  assert.deepEqual(
    net.refused.map((r) => r.code),
    ['out-of-order'],
  );
  assert.match(net.refused[0]!.reason, /seq gap/);
});
