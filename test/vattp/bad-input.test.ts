/**
 * Bad input against a vat node process, from a raw libp2p client speaking the vattp protocol:
 * garbage, a truncated frame, a frame signed by the wrong key, one addressed to another vat,
 * a replay of an old valid frame, a forged sender, an oversized length prefix, a non-canonical
 * encoding. Each is logged with its reason and delivers nothing; the repeat offender ends up
 * banned; and the node still serves a good peer afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { Sequenced } from '../../vat-node/src/protocol/messages.ts';
import {
  canonicalJson,
  decodeHello,
  encodeFrame,
  type Frame,
  signFrame,
} from '../../vat-node/src/vattp/codec.ts';
import { createVatHost } from '../../vat-node/src/vattp/host.ts';
import { ephemeralIdentity } from '../../vat-node/src/vattp/identity.ts';
import { VATTP_PROTOCOL } from '../../vat-node/src/vattp/network-transport.ts';
import { messageBody } from './fixtures/workload.ts';
import { type Line, receivedFrom, spawnVat, tempDir } from './helpers.ts';

const message = (seq: number): Sequenced => ({
  seq,
  msg: {
    op: 'deliver',
    target: 'o-1',
    method: 'put',
    args: { body: messageBody(seq), slots: [] },
    result: null,
  },
});

test('bad input is logged with a reason, delivers nothing, gets the sender banned; good peers still served', async (t) => {
  const root = tempDir(t, 'vattp-bad-');
  const procT = spawnVat(t, [
    '--data-dir',
    join(root, 't'),
    '--max-strikes',
    '8',
    '--status-ms',
    '50',
  ]);
  const ready = await procT.waitFor('target ready', (l) => l.event === 'ready');
  const target = ready.vatId as string;
  const targetAddrs = ready.addrs as string[];

  const me = await ephemeralIdentity();
  const stranger = await ephemeralIdentity();
  const client = await createVatHost({ identity: me, dialTimeoutMs: 2_000 });
  t.after(() => client.stop());
  await client.addAddresses(target, targetAddrs);

  /** Opens a vattp stream, reads the hello, returns the session and a writer. */
  async function open(): Promise<{
    session: string;
    lp: ReturnType<typeof lpStream<Stream>>;
    stream: Stream;
  }> {
    const stream = await client.dial(target, VATTP_PROTOCOL, AbortSignal.timeout(30_000));
    const lp = lpStream(stream);
    const session = decodeHello(
      (await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray(),
    );
    return { session, lp, stream };
  }
  const frame = (session: string, over: Partial<Frame> = {}): Frame => ({
    from: me.vatId,
    to: target,
    session,
    ack: 0,
    messages: [message(1)],
    ...over,
  });
  let rejections = 0;
  /** Sends bytes on a fresh stream and waits for the target's log line with `reason`. */
  async function expectRejected(
    what: string,
    reason: RegExp,
    bytes: (session: string) => Uint8Array,
  ): Promise<void> {
    const { session, lp, stream } = await open();
    const closed = new Promise((resolve) =>
      stream.addEventListener('close', resolve, { once: true }),
    );
    await lp.write(bytes(session)).catch(() => undefined);
    const line = await procT.waitFor(
      `rejection #${rejections + 1} (${what})`,
      (l: Line) =>
        l.msg === 'rejected input from peer' &&
        procT.lines.filter((x) => x.msg === 'rejected input from peer').indexOf(l) === rejections,
      10_000,
    );
    rejections++;
    assert.equal(line.peer, me.vatId, what);
    assert.match(String(line.reason), reason, what);
    await closed; // the node closed the stream on us
  }

  // One good frame first: it is delivered, and its bytes are kept for a replay later.
  const first = await open();
  const valid = signFrame(encodeFrame(frame(first.session)), me.sign);
  await first.lp.write(valid);
  await procT.waitFor(
    'the good frame delivered',
    (l) => l.event === 'status' && receivedFrom(l, me.vatId).count === 1,
  );

  await expectRejected('garbage', /header|short/, () => new Uint8Array(randomBytes(300)));
  await expectRejected('truncated frame', /not JSON|not canonical|header|short/, (s) =>
    signFrame(encodeFrame(frame(s, { messages: [message(2)] })), me.sign).subarray(0, 150),
  );
  await expectRejected('signed by the wrong key', /bad signature/, (s) =>
    signFrame(encodeFrame(frame(s, { messages: [message(2)] })), stranger.sign),
  );
  await expectRejected('addressed to another vat', /another vat/, (s) =>
    signFrame(encodeFrame(frame(s, { to: stranger.vatId, messages: [message(2)] })), me.sign),
  );
  await expectRejected(
    'replay of the old valid frame',
    /another session \(replayed\)/,
    () => valid,
  );
  await expectRejected('forged sender', /not the connection peer/, (s) =>
    signFrame(
      encodeFrame(frame(s, { from: stranger.vatId, messages: [message(2)] })),
      stranger.sign,
    ),
  );
  await expectRejected('non-canonical encoding', /not canonical/, (s) => {
    const body = Buffer.from(` ${canonicalJson(frame(s, { messages: [message(2)] }))}`);
    return signFrame(Uint8Array.from([0x51, 0x56, 0x54, 0x50, 0x46, 1, ...body]), me.sign);
  });
  // Oversized: a length prefix announcing 2 MiB (the limit is 1 MiB); sent raw, not lp-framed.
  {
    const { stream } = await open();
    const closed = new Promise((resolve) =>
      stream.addEventListener('close', resolve, { once: true }),
    );
    stream.send(Uint8Array.of(0x80, 0x80, 0x80, 0x01)); // varint 2^21
    const line = await procT.waitFor(
      'oversized rejection',
      (l) => l.msg === 'rejected input from peer' && /oversized/.test(String(l.reason)),
    );
    assert.equal(line.peer, me.vatId);
    await closed;
  }
  // Eight strikes: banned. The connection is dropped and new ones are refused.
  await procT.waitFor(
    'ban',
    (l) => l.msg === 'peer banned after repeated bad input' && l.peer === me.vatId,
  );
  await assert.rejects(open(), 'a banned peer cannot open a stream');

  // A good peer is still served.
  const procG = spawnVat(t, [
    '--data-dir',
    join(root, 'g'),
    '--send-to',
    target,
    '--count',
    '50',
    ...targetAddrs.flatMap((a) => ['--hint', `${target}=${a}`]),
  ]);
  const g = await procG.waitFor('good peer ready', (l) => l.event === 'ready');
  const served = await procT.waitFor(
    '50 from the good peer',
    (l) => l.event === 'status' && receivedFrom(l, g.vatId as string).count === 50,
  );
  assert.deepEqual(receivedFrom(served, g.vatId as string).errors, []);
  // And nothing of the bad input was delivered: exactly the one good frame from the client.
  assert.equal(receivedFrom(served, me.vatId).count, 1);
  assert.deepEqual(receivedFrom(served, me.vatId).errors, []);
  assert.equal(procT.lines.filter((l) => l.msg === 'rejected input from peer').length, 8);
  for (const l of procT.lines.filter((x) => x.msg !== undefined))
    t.diagnostic(`${l.msg}: ${l.reason ?? ''}`);
});
