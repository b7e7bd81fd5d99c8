/**
 * A TCP port to give a vat node (or any local listener) on 127.0.0.1: for the demo, the
 * multi-process tests and the benches. Picked below the kernel's ephemeral range, so that a
 * node that keeps its port across restarts cannot find it taken meanwhile by an outgoing
 * connection (a peer's redial gets its local port from that range), and never handed out
 * twice by one process.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const given = new Set<number>();

/** The first port of the ephemeral range (Linux's setting; the usual default elsewhere). */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    if (Number.isInteger(low) && low > 2_048) return low;
  } catch {
    // not Linux
  }
  return 32_768;
}

/** Whether `port` can be listened on at 127.0.0.1 right now. */
export function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 now, below the ephemeral range, not given before by this process. */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(1_024, Math.min(20_000, high - 2_000));
  for (let tries = 0; tries < 1_000; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (given.has(port) || !(await isFree(port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${low} and ${high}`);
}
