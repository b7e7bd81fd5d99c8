// Peer for VatTP (the project's transport must reach 50% of it): two libp2p 3 nodes in two
// processes on 127.0.0.1 (TCP + Noise + Yamux, Ed25519 peer ids, identify + ping services),
// one stream of a custom protocol carrying varint-length-prefixed 200-byte messages via
// `lpStream` from @libp2p/utils. The serving node echoes every message back.
//   msgs_per_s       200-byte messages per second, each echoed back, WINDOW in flight
//                    (one stream, writes pipelined, echoes read by a concurrent reader)
//   rtt_p50/p99_ms   sequential request/response (write 200 B, read the 200 B echo)
// Runs twice, each variant in fresh processes (both ends alike): without SES and under SES
// `lockdown()` (default options), like the project's vats. Field `lockdown` says which.
//
// Process layout: this file (no args) runs the variants one after the other, each as
// `--client [--lockdown]`, which spawns its own `--serve [--lockdown]` peer.

import { fileURLToPath } from 'node:url';
import {
  emit,
  exitWhenParentGoes,
  measureAsync,
  quick,
  round,
  runSubBench,
  sampleLatencyNs,
  spawnPeer,
  summarize,
} from './lib.ts';

const BENCH = 'libp2p-raw';
const PROTOCOL = '/quorumvat-bench/echo/1.0.0';
const MSG_BYTES = 200;
const WINDOW = 1000;
const SELF = fileURLToPath(import.meta.url);
const LOCKDOWN = process.argv.includes('--lockdown');

async function maybeLockdown(): Promise<void> {
  if (!LOCKDOWN) return;
  await import('ses');
  lockdown();
}

/** Loads libp2p after the optional lockdown, so both variants load modules the same way. */
async function makeNode(listen: string[]) {
  const [
    { createLibp2p },
    { tcp },
    { noise },
    { yamux },
    { identify },
    { ping },
    { generateKeyPair },
  ] = await Promise.all([
    import('libp2p'),
    import('@libp2p/tcp'),
    import('@chainsafe/libp2p-noise'),
    import('@chainsafe/libp2p-yamux'),
    import('@libp2p/identify'),
    import('@libp2p/ping'),
    import('@libp2p/crypto/keys'),
  ]);
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
  });
}

async function serve(): Promise<void> {
  await maybeLockdown();
  const { lpStream } = await import('@libp2p/utils');
  const node = await makeNode(['/ip4/127.0.0.1/tcp/0']);
  await node.handle(PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
    try {
      // Bounded by the client: it closes the stream (read then throws) when done.
      for (;;) {
        const msg = await lp.read();
        await lp.write(msg);
      }
    } catch {
      stream.abort(new Error('bench done'));
    }
  });
  exitWhenParentGoes(() => node.stop());
  const addrs = node.getMultiaddrs().map((a) => a.toString());
  process.stdout.write(`${JSON.stringify({ addrs, peer: node.peerId.toString() })}\n`);
}

async function client(): Promise<void> {
  await maybeLockdown();
  const { lpStream } = await import('@libp2p/utils');
  const { multiaddr } = await import('@multiformats/multiaddr');
  const peer = await spawnPeer(SELF, ['--serve', ...(LOCKDOWN ? ['--lockdown'] : [])]);
  const node = await makeNode([]);
  try {
    const addrs = peer.hello.addrs as string[];
    const target = addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'));
    if (target === undefined) throw new Error(`no loopback address in ${addrs.join(' ')}`);
    const tDial = performance.now();
    const stream = await node.dialProtocol(multiaddr(target), PROTOCOL);
    const dialMs = performance.now() - tDial;
    const lp = lpStream(stream, { maxDataLength: 64 * 1024 });
    const msg = new Uint8Array(MSG_BYTES).map((_, i) => i & 0xff);

    const echo = async () => {
      await lp.write(msg);
      const back = await lp.read();
      if (back.byteLength !== MSG_BYTES) throw new Error(`echo of ${back.byteLength} bytes`);
    };
    const rttNs = await sampleLatencyNs(echo, {
      count: quick(20_000, 1000),
      durationMs: quick(3000, 300),
      warmup: quick(1000, 100),
    });
    const rtt = summarize(rttNs, 1e6);

    // Windowed pipelining on the same stream: a writer keeps up to WINDOW messages
    // unanswered; a concurrent reader consumes the echoes.
    const pipelinedRound = async (total: number): Promise<number> => {
      let sent = 0;
      let received = 0;
      let wake: (() => void) | undefined;
      const reader = (async () => {
        while (received < total) {
          const back = await lp.read();
          if (back.byteLength !== MSG_BYTES) throw new Error(`echo of ${back.byteLength} bytes`);
          received++;
          const w = wake;
          wake = undefined;
          w?.();
        }
      })();
      reader.catch(() => {});
      while (sent < total) {
        if (sent - received >= WINDOW) {
          await new Promise<void>((r) => {
            wake = r;
          });
          continue;
        }
        await lp.write(msg);
        sent++;
      }
      await reader;
      return total;
    };
    // Quick mode: one round, no warm-up (the RTT phase has warmed the stream up).
    const roundSize = quick(20_000, 3000);
    const pipelined = await measureAsync(() => pipelinedRound(roundSize), {
      durationMs: quick(3000, 1),
      warmupMs: quick(300, 0),
    });

    emit({
      bench: BENCH,
      lockdown: LOCKDOWN,
      ...(LOCKDOWN ? { lockdown_options: 'default' } : {}),
      transport: 'tcp 127.0.0.1 + noise + yamux, one stream, lpStream',
      msg_bytes: MSG_BYTES,
      msgs_per_s: Math.round(pipelined.perSecond),
      window: WINDOW,
      reply: 'echo (200 B)',
      rtt_p50_ms: round(rtt.p50),
      rtt_p99_ms: round(rtt.p99),
      rtt_mean_ms: round(rtt.mean),
      seq_rtt_per_s: Math.round(1000 / rtt.mean),
      dial_ms: round(dialMs),
      samples: { rtt: rtt.n, pipelined: pipelined.ops },
    });
    await Promise.resolve(stream.close()).catch(() => {});
  } finally {
    await Promise.resolve(node.stop()).catch(() => {});
    await peer.stop();
  }
}

if (process.argv.includes('--serve')) await serve();
else if (process.argv.includes('--client')) await client();
else {
  await runSubBench(SELF, ['--client']);
  await runSubBench(SELF, ['--client', '--lockdown']);
}
