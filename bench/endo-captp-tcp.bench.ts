// Peer for CapTP between processes: @endo/captp between this process and a child process it
// spawns (this file with `--serve`), over plain TCP on 127.0.0.1, each CapTP message framed as
// a 4-byte big-endian length + JSON (UTF-8). Both processes run under SES lockdown (default).
// The child's bootstrap is `Far('counter', {incr(n){return n+1}})`.
//   msgs_per_s        E(counter).incr(i) calls completed per second, WINDOW calls in flight
//                     (each call = one CTP_CALL + one CTP_RETURN frame)
//   rtt_p50/p99_ms    sequential awaited E(counter).incr(i) round trips
import './endo-lockdown.ts';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { E, Far } from '@endo/far';
import { type CapTPConnection, makeCapTP } from './captp.ts';
import { LOCKDOWN_OPTIONS } from './endo-lockdown.ts';
import {
  emit,
  exitWhenParentGoes,
  measureAsync,
  quick,
  round,
  runWindowed,
  sampleLatencyNs,
  spawnPeer,
  summarize,
} from './lib.ts';

const BENCH = 'endo-captp-tcp';
const WINDOW = 1000;
const MAX_FRAME = 16 * 1024 * 1024;

interface Framed {
  send(message: Record<string, unknown>): void;
  stats: { framesOut: number; bytesOut: number; framesIn: number; bytesIn: number };
}

/**
 * Length-prefixed JSON framing over a socket. Writes issued in the same tick are corked and
 * flushed together on the next tick (one writev), as a reasonable Node server would do.
 */
function frame(sock: Socket, onMessage: (m: Record<string, unknown>) => void): Framed {
  const stats = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0 };
  let corked = false;
  const send = (message: Record<string, unknown>) => {
    if (sock.destroyed) return;
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    sock.write(head);
    sock.write(body);
    stats.framesOut++;
    stats.bytesOut += 4 + body.length;
  };
  let pending: Buffer = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (pending.length - off >= 4) {
      const len = pending.readUInt32BE(off);
      if (len > MAX_FRAME) {
        sock.destroy(new Error(`frame too large: ${len}`));
        return;
      }
      if (pending.length - off - 4 < len) break;
      const text = pending.toString('utf8', off + 4, off + 4 + len);
      off += 4 + len;
      stats.framesIn++;
      stats.bytesIn += 4 + len;
      onMessage(JSON.parse(text) as Record<string, unknown>);
    }
    pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
  });
  return { send, stats };
}

async function serve(): Promise<void> {
  const counter = Far('counter', {
    incr(n: number) {
      return n + 1;
    },
  });
  const conns = new Set<{ sock: Socket; conn: CapTPConnection }>();
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    let conn: CapTPConnection | undefined;
    const framed = frame(sock, (m) => conn?.dispatch(m));
    conn = makeCapTP('server', framed.send, counter, { onReject: () => {} });
    const entry = { sock, conn };
    conns.add(entry);
    sock.on('error', () => {});
    sock.on('close', () => {
      conn?.abort();
      conns.delete(entry);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  exitWhenParentGoes(() => {
    for (const { sock } of conns) sock.destroy();
    server.close();
  });
  process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`);
}

async function drive(): Promise<void> {
  const peer = await spawnPeer(fileURLToPath(import.meta.url), ['--serve']);
  let sock: Socket | undefined;
  let conn: CapTPConnection | undefined;
  try {
    const port = Number(peer.hello.port);
    sock = connect({ host: '127.0.0.1', port });
    await once(sock, 'connect');
    sock.setNoDelay(true);
    const errors: unknown[] = [];
    const framed = frame(sock, (m) => conn?.dispatch(m));
    conn = makeCapTP('client', framed.send, undefined, { onReject: (e) => errors.push(e) });
    const counter = conn.getBootstrap() as Promise<{ incr(n: number): number }>;
    const check = await E(counter).incr(41);
    if (check !== 42) throw new Error(`E(counter).incr(41) returned ${String(check)}`);

    const rttNs = await sampleLatencyNs(
      async (i) => {
        const r = await E(counter).incr(i);
        if (r !== i + 1) throw new Error(`incr(${i}) returned ${String(r)}`);
      },
      { count: quick(20_000, 1000), durationMs: quick(3000, 300), warmup: quick(1000, 100) },
    );
    const rtt = summarize(rttNs, 1e6);

    const before = { ...framed.stats };
    const round_ = quick(10_000, 2000);
    const pipelined = await measureAsync(
      async () => {
        await runWindowed(round_, WINDOW, (i) => E(counter).incr(i));
        return round_;
      },
      { durationMs: quick(3000, 1), warmupMs: quick(300, 0) },
    );
    const framesOut = framed.stats.framesOut - before.framesOut;
    const bytesOut = framed.stats.bytesOut - before.bytesOut;
    const bytesIn = framed.stats.bytesIn - before.bytesIn;
    if (errors.length > 0) throw new Error(`CapTP rejections: ${String(errors[0])}`);

    emit({
      bench: BENCH,
      lockdown: true,
      lockdown_options: LOCKDOWN_OPTIONS,
      transport: 'tcp 127.0.0.1, u32 length + JSON',
      msgs_per_s: Math.round(pipelined.perSecond),
      window: WINDOW,
      rtt_p50_ms: round(rtt.p50),
      rtt_p99_ms: round(rtt.p99),
      rtt_mean_ms: round(rtt.mean),
      seq_calls_per_s: Math.round(1000 / rtt.mean),
      // Includes warm-up traffic of the pipelined phase: approximate per-call sizes.
      wire_bytes_per_call_out: Math.round(bytesOut / framesOut),
      wire_bytes_per_call_in: Math.round(bytesIn / framesOut),
      samples: { rtt: rtt.n, pipelined: pipelined.ops },
    });
  } finally {
    try {
      conn?.abort();
    } catch {
      // already closed
    }
    sock?.destroy();
    await peer.stop();
  }
}

if (process.argv.includes('--serve')) await serve();
else await drive();
