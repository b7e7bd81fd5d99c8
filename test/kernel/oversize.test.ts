/**
 * A message too large for a VatTP frame is refused by the sending kernel (it never enters the
 * outbox, where it would stall its link): a send's result is rejected with the reason, a send
 * without a result is a warning event, a settlement goes as a rejection, and every message
 * before and after it arrives, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectEvents } from '../../vat-node/src/events/events.ts';
import { type HostError, HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { MAX_OUTBOUND_MESSAGE_BYTES } from '../../vat-node/src/protocol/messages.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { encodeSequenced } from '../../vat-node/src/vattp/codec.ts';
import { contract, introduce, startVats } from './harness.ts';

const MiB = 1024 * 1024;
const TOO_LARGE = new RegExp(
  `^(message|resolution) to B is \\d+ bytes, over the ${MAX_OUTBOUND_MESSAGE_BYTES}-byte limit$`,
);

async function twoVats(t: test.TestContext) {
  const net = new LocalNetwork();
  const { sink, events } = collectEvents();
  const [a, b] = await startVats(net, ['A', 'B'], contract('oversize.js'), {
    gasLimit: 50_000_000,
    events: sink,
  });
  t.after(() => Promise.all([a!.close(), b!.close()]));
  return { a: a!, b: b!, bRoot: new HostRef(introduce(a!, b!)), events };
}

/** Every message A ever queued for B fits a frame (none is over the limit). */
function assertOutboxFits(a: Kernel): void {
  for (const s of a.unacked('B', 0)) {
    assert.ok(Buffer.byteLength(encodeSequenced(s)) <= MAX_OUTBOUND_MESSAGE_BYTES);
  }
}

test('a 1 MiB argument: the call is rejected with the size, later calls arrive', async (t) => {
  const { a, b, bRoot } = await twoVats(t);
  const r = await a.call('o+0', 'sendBig', [bRoot, MiB]);
  assert.equal(r.rejected, true);
  const message = (r.value as HostError).message;
  assert.match(message, TOO_LARGE);
  assert.ok(Number(/is (\d+) bytes/.exec(message)![1]) > MiB, message);
  assertOutboxFits(a);
  assert.deepEqual(await a.call('o+0', 'sendBig', [bRoot, 10]), { rejected: false, value: 10 });
  assert.deepEqual(await b.call('o+0', 'got', []), { rejected: false, value: [['big', 10]] });
});

test('sizes around the limit: what fits is delivered whole, one character more is refused', async (t) => {
  const { a, b, bRoot } = await twoVats(t);
  // The largest argument the kernel accepts: found by the size in the refusal of a larger one.
  const probe = await a.call('o+0', 'sendBig', [bRoot, MAX_OUTBOUND_MESSAGE_BYTES]);
  const over = Number(/is (\d+) bytes/.exec((probe.value as HostError).message)![1]);
  const fits = MAX_OUTBOUND_MESSAGE_BYTES - (over - MAX_OUTBOUND_MESSAGE_BYTES);
  assert.deepEqual(await a.call('o+0', 'sendBig', [bRoot, fits]), {
    rejected: false,
    value: fits,
  });
  const one = await a.call('o+0', 'sendBig', [bRoot, fits + 1]);
  assert.equal(one.rejected, true);
  assert.match((one.value as HostError).message, /is \d+ bytes/);
  // Multi-byte characters count as their UTF-8 bytes: a third as many 3-byte characters.
  const r = await a.call('o+0', 'callPeer', [
    bRoot,
    'take',
    'wide',
    '€'.repeat(Math.floor(fits / 3) + 1),
  ]);
  assert.equal(r.rejected, true);
  assertOutboxFits(a);
  assert.deepEqual(await b.call('o+0', 'got', []), { rejected: false, value: [['big', fits]] });
});

test('a send without a result is a warning event; nothing is queued', async (t) => {
  const { a, b, bRoot, events } = await twoVats(t);
  assert.deepEqual(await a.call('o+0', 'sendBigOnly', [bRoot, MiB]), {
    rejected: false,
    value: 'sent',
  });
  const warned = events.filter((e) => e.type === 'message-too-large');
  assert.equal(warned.length, 1);
  const e = warned[0]!;
  assert.ok(e.type === 'message-too-large');
  assert.equal(e.peer, 'B');
  assert.equal(e.method, 'take');
  assert.equal(e.maxBytes, MAX_OUTBOUND_MESSAGE_BYTES);
  assert.ok(e.bytes > MiB);
  assert.match(e.reason, TOO_LARGE);
  assertOutboxFits(a);
  assert.deepEqual(await a.call('o+0', 'sendBig', [bRoot, 3]), { rejected: false, value: 3 });
  assert.deepEqual(await b.call('o+0', 'got', []), { rejected: false, value: [['big', 3]] });
});

test('messages before and after a refused one in the same crank all arrive, in order', async (t) => {
  const { a, b, bRoot } = await twoVats(t);
  const r = await a.call('o+0', 'sendAround', [bRoot, MiB]);
  assert.equal(r.rejected, false);
  const [before, big, after] = r.value as [number, string, number];
  assert.equal(before, 1);
  assert.match(big, /^rejected: message to B is \d+ bytes/);
  assert.equal(after, 2);
  assert.deepEqual(await b.call('o+0', 'got', []), {
    rejected: false,
    value: [
      ['before', 1],
      ['after', 2],
    ],
  });
});

test('an answer too large to go back rejects the caller’s promise; the link keeps working', async (t) => {
  const { a, bRoot, events } = await twoVats(t);
  const r = await a.call('o+0', 'callPeer', [bRoot, 'bigAnswer', MiB]);
  assert.equal(r.rejected, true);
  assert.match((r.value as HostError).message, /^resolution to A is \d+ bytes, over the/);
  // B (the one that could not send it) says so.
  assert.ok(events.some((e) => e.type === 'message-too-large' && e.peer === 'A'));
  assert.deepEqual(await a.call('o+0', 'callPeer', [bRoot, 'bigAnswer', 5]), {
    rejected: false,
    value: 'xxxxx',
  });
});
