/**
 * Two vat node processes over VatTP: a message too large for a frame is refused by the
 * sending kernel (before, it stalled the link for good: one 'delivery-undeliverable' line,
 * then nothing more reached the peer). Sizes up to the limit go through real frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HostError, HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { MAX_OUTBOUND_MESSAGE_BYTES } from '../../vat-node/src/protocol/messages.ts';
import { startDriver, startNode } from './nodes.ts';

const MiB = 1024 * 1024;

test('vat node processes: a 1 MiB argument is refused at the sender, the link keeps working', async (t) => {
  const [a, b] = await Promise.all([startNode('oversize.js'), startNode('oversize.js')]);
  t.after(() => Promise.all([a.kill(), b.kill()]));
  const k = (await startDriver(t)).kernel;
  const [aRoot, bRoot] = await Promise.all([k.redeem(a.sturdyRef()), k.redeem(b.sturdyRef())]);
  const peer = new HostRef(bRoot!);

  const refused = await k.call(aRoot!, 'sendBig', [peer, MiB]);
  assert.equal(refused.rejected, true);
  const reason = (refused.value as HostError).message;
  assert.match(
    reason,
    new RegExp(
      `^message to ${b.vatId} is \\d+ bytes, over the ${MAX_OUTBOUND_MESSAGE_BYTES}-byte limit$`,
    ),
  );
  assert.deepEqual(await k.call(aRoot!, 'sendBig', [peer, 10]), { rejected: false, value: 10 });

  // The largest message the kernel queues goes through a real frame (the refusal names the
  // size of a larger one, so the argument that fits exactly can be computed).
  const over = Number(/is (\d+) bytes/.exec(reason)![1]);
  const fits = MiB - (over - MAX_OUTBOUND_MESSAGE_BYTES);
  assert.deepEqual(await k.call(aRoot!, 'sendBig', [peer, fits]), {
    rejected: false,
    value: fits,
  });

  // Without a result: a warning line on A; in one crank with small sends: those arrive.
  assert.deepEqual(await k.call(aRoot!, 'sendBigOnly', [peer, MiB]), {
    rejected: false,
    value: 'sent',
  });
  const around = await k.call(aRoot!, 'sendAround', [peer, MiB]);
  assert.equal(around.rejected, false);
  const [before, big, after] = around.value as [number, string, number];
  assert.deepEqual([before, after], [1, 2]);
  assert.match(big, /^rejected: message to .* over the/);
  // An answer too large to go back: the caller's promise is rejected.
  const answer = await k.call(aRoot!, 'callPeer', [peer, 'bigAnswer', MiB]);
  assert.equal(answer.rejected, true);
  assert.match((answer.value as HostError).message, /^resolution to .* over the/);

  assert.deepEqual(await k.call(bRoot!, 'got', []), {
    rejected: false,
    value: [
      ['big', 10],
      ['big', fits],
      ['before', 1],
      ['after', 2],
    ],
  });
  const warned = a.logs.filter((l) => l['msg'] === 'message too large for a VatTP frame: not sent');
  assert.equal(warned.length, 1, 'one line for the send without a result');
  assert.equal(warned[0]!['peer'], b.vatId);
  for (const n of [a, b]) {
    const bad = n.logs.filter((l) => (l['level'] as number) >= 50);
    assert.deepEqual(bad, [], `errors in ${n.vatId}'s log`);
  }
});
