// VatTP between two vat node processes on 127.0.0.1: signed, acknowledged messages, each one
// answered by a message from the other vat (compare with `libp2p-raw`'s echoed messages).
//   msgs_per_s       messages per second answered, WINDOW in flight (each message and each
//                    answer is sequenced, batched in Ed25519-signed frames, committed by the
//                    receiving kernel, then acknowledged by a piggybacked or idle ack)
//   rtt_p50/p99_ms   one message, wait for its answer, repeat
// The kernels are the in-memory test kernel (test/vattp/fixtures), without fsync: this measures
// the transport, not the store.
//
// Runs twice, each variant in fresh processes (both ends alike): without SES and under SES
// `lockdown()` (default options), like the project's vats. Field `lockdown` says which.
//
// Process layout: this file (no args) runs the variants one after the other, each as
// `--client [--lockdown]`, which spawns its own `--serve [--lockdown]` peer.

import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { MemoryKernel } from '../test/vattp/fixtures/memory-kernel.ts';
import { logEvents } from '../vat-node/src/events/log.ts';
import type { VatMessage } from '../vat-node/src/protocol/messages.ts';
import { ephemeralIdentity } from '../vat-node/src/vattp/identity.ts';
import { NetworkTransport } from '../vat-node/src/vattp/network-transport.ts';
import {
  emit,
  exitWhenParentGoes,
  measureAsync,
  quick,
  round,
  runSubBench,
  runWindowed,
  sampleLatencyNs,
  spawnPeer,
  summarize,
} from './lib.ts';

const BENCH = 'vattp-2proc';
const WINDOW = 1000;
const SELF = fileURLToPath(import.meta.url);
const PAD = 'x'.repeat(120);
const LOCKDOWN = process.argv.includes('--lockdown');

/** SES lockdown after the modules loaded (libp2p, pino and node:crypto keep working). */
async function maybeLockdown(): Promise<void> {
  if (!LOCKDOWN) return;
  await import('ses');
  lockdown();
}

const request = (n: number, method: string): VatMessage => ({
  op: 'deliver',
  target: 'o-1',
  method,
  args: { body: `#[${n},"${PAD}"]`, slots: [] },
  result: null,
});

async function vat(hints: Map<string, string[]> = new Map()) {
  const identity = await ephemeralIdentity();
  // Warnings only (to stderr): a bench's stdout carries nothing but its result line.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const transport = await NetworkTransport.create({ identity, events: logEvents(logger), hints });
  return { identity, transport };
}

async function serve(): Promise<void> {
  await maybeLockdown();
  const { identity, transport } = await vat();
  // Answer every delivered message with one message back (committed in the next crank).
  const kernel: MemoryKernel = new MemoryKernel(
    identity.vatId,
    {},
    {
      deliver(peer, _seq, msg) {
        if (msg.op === 'deliver') kernel.send(peer, { ...msg, method: 'answer' });
      },
    },
  );
  kernel.connect(transport);
  exitWhenParentGoes(() => transport.close());
  process.stdout.write(
    `${JSON.stringify({ vatId: identity.vatId, addrs: transport.multiaddrs() })}\n`,
  );
}

async function client(): Promise<void> {
  await maybeLockdown();
  const peer = await spawnPeer(SELF, ['--serve', ...(LOCKDOWN ? ['--lockdown'] : [])]);
  const server = peer.hello.vatId as string;
  const { identity, transport } = await vat(new Map([[server, peer.hello.addrs as string[]]]));
  const waiting = new Map<number, () => void>();
  const kernel = new MemoryKernel(
    identity.vatId,
    {},
    {
      deliver(_peer, _seq, msg) {
        if (msg.op !== 'deliver') return;
        const n = (JSON.parse(msg.args.body.slice(1)) as number[])[0] ?? -1;
        const done = waiting.get(n);
        waiting.delete(n);
        done?.();
      },
    },
  );
  kernel.connect(transport);
  let next = 0;
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      const n = next++;
      waiting.set(n, resolve);
      kernel.send(server, request(n, 'ask'));
    });
  try {
    const t0 = performance.now();
    await roundTrip(); // dial + first exchange
    const firstMs = performance.now() - t0;
    const rtt = summarize(
      await sampleLatencyNs(roundTrip, {
        count: quick(5_000, 500),
        durationMs: quick(3000, 300),
        warmup: quick(500, 50),
      }),
      1e6,
    );
    const roundSize = quick(20_000, 3_000);
    const pipelined = await measureAsync(
      async () => {
        await runWindowed(roundSize, WINDOW, roundTrip);
        return roundSize;
      },
      { durationMs: quick(3000, 1), warmupMs: quick(300, 0) },
    );
    const s = transport.stats;
    emit({
      bench: BENCH,
      lockdown: LOCKDOWN,
      ...(LOCKDOWN ? { lockdown_options: 'default' } : {}),
      transport: 'vattp over libp2p (tcp 127.0.0.1 + noise + yamux), Ed25519-signed frames',
      msg_bytes: 200,
      msgs_per_s: Math.round(pipelined.perSecond),
      window: WINDOW,
      reply: 'one answering message per message',
      rtt_p50_ms: round(rtt.p50),
      rtt_p99_ms: round(rtt.p99),
      rtt_mean_ms: round(rtt.mean),
      first_exchange_ms: round(firstMs),
      client_frames_sent: s.framesSent,
      client_ack_only_frames: s.ackOnlyFramesSent,
      client_msgs_per_frame: round(
        s.messagesSent / Math.max(1, s.framesSent - s.ackOnlyFramesSent),
      ),
      samples: { rtt: rtt.n, pipelined: pipelined.ops },
    });
  } finally {
    await transport.close();
    await peer.stop();
  }
}

if (process.argv.includes('--serve')) await serve();
else if (process.argv.includes('--client')) await client();
else {
  await runSubBench(SELF, ['--client']);
  await runSubBench(SELF, ['--client', '--lockdown']);
}
