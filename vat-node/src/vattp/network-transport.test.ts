import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryKernel } from '../../../test/vattp/fixtures/memory-kernel.ts';
import { logEvents } from '../events/log.ts';
import type { VatMessage } from '../protocol/messages.ts';
import { ephemeralIdentity, type HostIdentity } from './identity.ts';
import { NetworkTransport } from './network-transport.ts';

type After = { after: (fn: () => Promise<void> | void) => void };

/** A pino logger whose JSON lines land in an array. */
function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

interface Vat {
  identity: HostIdentity;
  transport: NetworkTransport;
  kernel: MemoryKernel;
  got: Map<string, number[]>;
  lines: Array<Record<string, unknown>>;
}

async function startVat(
  t: After,
  opts: {
    listen?: string[];
    identity?: HostIdentity;
    ackDelayMs?: number;
    maxFrameBytes?: number;
  } = {},
): Promise<Vat> {
  const identity = opts.identity ?? (await ephemeralIdentity());
  const { logger, lines } = captureLogger();
  const transport = await NetworkTransport.create({
    identity,
    events: logEvents(logger),
    listen: opts.listen,
    backoff: { baseMs: 20, capMs: 200, factor: 2 },
    ackDelayMs: opts.ackDelayMs,
    maxFrameBytes: opts.maxFrameBytes,
    connectTimeoutMs: 2_000,
    dialTimeoutMs: 1_000,
  });
  t.after(() => transport.close());
  const got = new Map<string, number[]>();
  const kernel = new MemoryKernel(
    identity.vatId,
    {},
    {
      deliver(peer, _seq, msg) {
        if (msg.op !== 'echoed') return;
        const list = got.get(peer) ?? [];
        list.push(msg.token);
        got.set(peer, list);
      },
    },
  );
  kernel.connect(transport);
  return { identity, transport, kernel, got, lines };
}

function introduce(a: Vat, b: Vat): void {
  a.transport.addHints(b.identity.vatId, b.transport.multiaddrs());
  b.transport.addHints(a.identity.vatId, a.transport.multiaddrs());
}

/** Waits for `cond`; the timeout only catches a wedge (wide, so a loaded machine is not one). */
async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const echoed = (token: number): VatMessage => ({ op: 'echoed', token });
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('messages flow both ways, in order, exactly once, and acks empty both outboxes', async (t) => {
  const a = await startVat(t);
  const b = await startVat(t);
  introduce(a, b);
  for (let i = 1; i <= 500; i++) a.kernel.send(b.identity.vatId, echoed(i));
  for (let i = 1; i <= 300; i++) b.kernel.send(a.identity.vatId, echoed(i));
  await until(
    'delivery',
    () =>
      (b.got.get(a.identity.vatId)?.length ?? 0) === 500 &&
      (a.got.get(b.identity.vatId)?.length ?? 0) === 300,
  );
  assert.deepEqual(b.got.get(a.identity.vatId), range(1, 500));
  assert.deepEqual(a.got.get(b.identity.vatId), range(1, 300));
  await until(
    'acks',
    () =>
      a.kernel.outboxSize(b.identity.vatId) === 0 && b.kernel.outboxSize(a.identity.vatId) === 0,
  );
});

test('batching: a burst goes out in few frames; acks ride on messages or wait for the idle delay', async (t) => {
  // An ack waits this long for a message to ride on. Long enough that the 1 ms pauses between
  // the rounds below stay shorter than it on a loaded machine (they took 10 ms and more).
  const ackDelayMs = 200;
  const a = await startVat(t, { ackDelayMs });
  const b = await startVat(t, { ackDelayMs });
  introduce(a, b);
  for (let i = 1; i <= 1000; i++) a.kernel.send(b.identity.vatId, echoed(i));
  await until('delivery', () => (b.got.get(a.identity.vatId)?.length ?? 0) === 1000);
  await until('acks', () => a.kernel.outboxSize(b.identity.vatId) === 0);
  const sa = a.transport.stats;
  const sb = b.transport.stats;
  t.diagnostic(`A: ${JSON.stringify(sa)}`);
  t.diagnostic(`B: ${JSON.stringify(sb)}`);
  assert.equal(sa.messagesSent, 1000);
  assert.ok(sa.framesSent <= 3, `1000 small messages of one crank: ${sa.framesSent} frames`);
  assert.equal(sb.messagesReceived, 1000);
  // B only owes acks: a handful of ack-only frames, not one per message or per frame.
  assert.ok(sb.ackOnlyFramesSent >= 1 && sb.ackOnlyFramesSent <= 5, `${sb.ackOnlyFramesSent}`);
  // Now both sides talk: acks ride on messages, ack-only frames stay rare.
  const before = a.transport.stats.ackOnlyFramesSent + b.transport.stats.ackOnlyFramesSent;
  for (let round = 0; round < 20; round++) {
    a.kernel.send(b.identity.vatId, echoed(1001 + round));
    b.kernel.send(a.identity.vatId, echoed(1 + round));
    await new Promise((r) => setTimeout(r, 1));
  }
  await until(
    'both acked',
    () =>
      a.kernel.outboxSize(b.identity.vatId) === 0 && b.kernel.outboxSize(a.identity.vatId) === 0,
  );
  const after = a.transport.stats.ackOnlyFramesSent + b.transport.stats.ackOnlyFramesSent;
  assert.ok(after - before < 20, `ack-only frames for 40 messages: ${after - before}`);
});

test('an unreachable peer: one log line, retries only while pending, one line when it is back', async (t) => {
  const a = await startVat(t);
  const bId = await ephemeralIdentity();
  // Reserve a port for B, start nothing there yet.
  const probe = await startVat(t);
  const port = Number(/tcp\/(\d+)/.exec(probe.transport.multiaddrs()[0] ?? '')?.[1]);
  await probe.transport.close();
  const bAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${bId.vatId}`;
  a.transport.addHints(bId.vatId, [bAddr]);
  for (let i = 1; i <= 10; i++) a.kernel.send(bId.vatId, echoed(i));
  // It retries (however slow the machine), and only one line says so.
  await until('three failed dials', () => a.transport.stats.connectFailures >= 3);
  const unreachable = () => a.lines.filter((l) => l.msg?.toString().startsWith('peer unreachable'));
  assert.equal(unreachable().length, 1);
  assert.equal(unreachable()[0]?.peer, bId.vatId);
  // Backoff (20 ms doubling to 200 ms, full jitter): a handful of tries, not a busy loop. A
  // slow machine makes fewer tries in the same time, never more.
  const before = a.transport.stats.connectFailures;
  await new Promise((r) => setTimeout(r, 800));
  const tries = a.transport.stats.connectFailures - before;
  assert.ok(tries <= 40, `${tries} dials in 800 ms`);
  assert.equal(unreachable().length, 1);
  const b = await startVat(t, { identity: bId, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
  await until('delivery after B comes up', () => (b.got.get(a.identity.vatId)?.length ?? 0) === 10);
  assert.deepEqual(b.got.get(a.identity.vatId), range(1, 10));
  await until('reachable line', () => a.lines.some((l) => l.msg === 'peer reachable again'));
  assert.equal(unreachable().length, 1);
});

test('a connection cut mid-stream: retransmit, receiver drops duplicates, nothing lost', async (t) => {
  const a = await startVat(t);
  const b = await startVat(t);
  introduce(a, b);
  let sent = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 50 && sent < 2000; i++) a.kernel.send(b.identity.vatId, echoed(++sent));
  }, 2);
  t.after(() => clearInterval(timer));
  await until('some delivered', () => (b.got.get(a.identity.vatId)?.length ?? 0) > 300);
  await a.transport.host.hangUp(b.identity.vatId); // both directions' streams die with it
  await until('all delivered', () => (b.got.get(a.identity.vatId)?.length ?? 0) >= 2000);
  await until('all acked', () => a.kernel.outboxSize(b.identity.vatId) === 0);
  assert.deepEqual(b.got.get(a.identity.vatId), range(1, 2000));
  assert.ok(a.transport.stats.connects >= 2, 'A reconnected');
  t.diagnostic(`duplicates dropped by B: ${b.transport.stats.duplicatesReceived}`);
});

test('close() stops everything: no more dials, no timers left behind', async (t) => {
  const a = await startVat(t);
  const ghost = await ephemeralIdentity();
  a.transport.addHints(ghost.vatId, [`/ip4/127.0.0.1/tcp/9/p2p/${ghost.vatId}`]);
  a.kernel.send(ghost.vatId, echoed(1));
  await until('a failed dial', () => a.transport.stats.connectFailures >= 1);
  await a.transport.close();
  const failures = a.transport.stats.connectFailures;
  a.transport.wake(ghost.vatId); // ignored after close
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.transport.stats.connectFailures, failures, 'no dial after close');
});

test('a message too large for a frame stalls its link with one error line (never skipped)', async (t) => {
  const a = await startVat(t, { maxFrameBytes: 4096 });
  const b = await startVat(t);
  introduce(a, b);
  a.kernel.send(b.identity.vatId, echoed(1));
  a.kernel.send(b.identity.vatId, {
    op: 'deliver',
    target: 'o-1',
    method: 'big',
    args: { body: `#"${'x'.repeat(10_000)}"`, slots: [] },
    result: null,
  });
  a.kernel.send(b.identity.vatId, echoed(3));
  await until('first delivered', () => (b.got.get(a.identity.vatId)?.length ?? 0) === 1);
  for (let i = 0; i < 5; i++) {
    a.transport.wake(b.identity.vatId);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(
    a.lines.filter((l) => String(l.msg).startsWith('cannot frame outbound messages')).length,
    1,
  );
  assert.deepEqual(
    b.got.get(a.identity.vatId),
    [1],
    'nothing after the stuck message overtakes it',
  );
});
