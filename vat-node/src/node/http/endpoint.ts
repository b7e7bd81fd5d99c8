/**
 * What a vat node shows its platform, on its own HTTP port (off unless configured; on in the
 * container image):
 *   GET /healthz   200 while the process serves requests (liveness); 503 on a halted quorum
 *                  member, which only a restart recovers
 *   GET /readyz    200 once the store is open and the transport listens, while the store
 *                  works and the data directory takes writes; 503 with the reason otherwise
 *                  (starting, stopping, store failed, data directory read-only or full)
 *   GET /metrics   Prometheus text (node-metrics.ts)
 *   GET /identity  the VatID and the addresses peers dial
 * A quorum member (a QuorumProvider given to attach) adds its quorum fields to /readyz and
 * /identity, quorum gauges to /metrics, GET /quorum/chain and POST /quorum/changes (quorum.ts);
 * a solo node serves exactly the above.
 * Nothing here is a secret: no key, no sturdyref. The endpoint starts before the vat node
 * (so a probe sees "starting", not a refused connection) and is given the node once it runs.
 */
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { VatNode } from '../vat-node.ts';
import { CONTENT_TYPE, type Histogram, MetricsRegistry } from './metrics.ts';
import { registerNodeMetrics } from './node-metrics.ts';
import {
  identityFields,
  MAX_CHANGE_BYTES,
  type QuorumMemberStatus,
  type QuorumProvider,
  readBody,
  registerQuorumMetrics,
  submitChange,
  waitOf,
} from './quorum.ts';

export interface EndpointAddress {
  readonly host: string;
  readonly port: number;
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not (one line), when not ready. */
  readonly reason?: string;
  /** A quorum member's view of its quorum and the ordering. */
  readonly quorum?: QuorumMemberStatus;
}

/** Bytes written (and removed) to check that the data directory takes writes. */
const PROBE_BYTES = 4096;

export class NodeEndpoint {
  readonly metrics = new MetricsRegistry();
  /** Commit latency, in seconds (fed by the kernel through VatNodeOptions.onCommit). */
  readonly commitSeconds: Histogram;
  readonly #server: Server;
  #log: Logger;
  #node: { vat: VatNode; dataDir: string | undefined; quorum?: QuorumProvider } | undefined;
  #stopping = false;
  #lastReady: Readiness | undefined;

  private constructor(server: Server, log: Logger) {
    this.#server = server;
    this.#log = log;
    this.commitSeconds = this.metrics.histogram(
      'quorumvat_commit_seconds',
      'Time to commit one transaction of the kernel (cranks, received messages, acks) to the store, fsync included.',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    registerNodeMetrics(
      this.metrics,
      () => this.#node?.vat,
      () => this.#lastReady,
    );
    registerQuorumMetrics(this.metrics, () => this.#node?.quorum);
  }

  /** Listens on `address`; rejects (with the address in the message) when it cannot. */
  static async start(address: EndpointAddress, logger: Logger): Promise<NodeEndpoint> {
    const log = logger.child({ component: 'http' });
    const server = createServer();
    const endpoint = new NodeEndpoint(server, log);
    server.on('request', (req, res) => void endpoint.#serve(req, res));
    // Probes and scrapes are short requests: bound what a slow client can hold.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          Error(`cannot serve HTTP on ${address.host}:${address.port}: ${e.code ?? e.message}`),
        ),
      );
      server.listen(address.port, address.host, () => resolve());
    });
    server.on('error', (e) => log.error({ err: e.message }, 'http server error'));
    return endpoint;
  }

  address(): EndpointAddress {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** The vat node runs: its store is open and its transport listens. `quorum`: on a member. */
  attach(vat: VatNode, dataDir?: string, quorum?: QuorumProvider): void {
    this.#node = { vat, dataDir, quorum };
    this.#log = this.#log.child({ vat: vat.vatId });
  }

  /** A graceful stop began: not ready any more (a Service stops sending new work here). */
  stopping(): void {
    this.#stopping = true;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async readiness(): Promise<Readiness> {
    let r = await this.#check();
    const quorum = this.#node?.quorum?.status();
    if (quorum !== undefined) {
      // The halt is the cause when the kernel also reports its store failed (a backstop halt).
      if (quorum.halted !== null && !this.#stopping) {
        r = { ready: false, reason: `quorum member halted: ${quorum.halted}` };
      }
      r = { ...r, quorum };
    }
    // One line per change, not per probe.
    if (this.#lastReady?.ready !== r.ready || this.#lastReady?.reason !== r.reason) {
      if (r.ready) this.#log.info('ready');
      else if (this.#lastReady !== undefined) this.#log.warn({ reason: r.reason }, 'not ready');
    }
    this.#lastReady = r;
    return r;
  }

  async #check(): Promise<Readiness> {
    if (this.#stopping) return { ready: false, reason: 'stopping' };
    const node = this.#node;
    if (!node)
      return { ready: false, reason: 'starting: store not open or transport not listening' };
    const failure = node.vat.kernel.storeFailure;
    if (failure) return { ready: false, reason: failure };
    if (node.vat.multiaddrs().length === 0)
      return { ready: false, reason: 'transport not listening' };
    if (node.dataDir !== undefined) {
      const problem = await probeWrite(node.dataDir);
      if (problem) return { ready: false, reason: `data directory ${problem}` };
    }
    return { ready: true };
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      const quorum = this.#node?.quorum;
      if (req.method === 'POST' && path === '/quorum/changes' && quorum) {
        const answer = await submitChange(
          quorum,
          await readBody(req, MAX_CHANGE_BYTES),
          waitOf(req.url),
        );
        return send(res, answer.status, answer.body);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 405, { error: 'only GET' }, { allow: 'GET, HEAD' });
      }
      switch (path) {
        case '/healthz': {
          // A halted member runs nothing more until it restarts (from its last commit): failing
          // liveness lets the platform restart it.
          const halted = this.#node?.quorum?.status().halted ?? null;
          if (halted !== null) return send(res, 503, { status: 'halted', reason: halted });
          return send(res, 200, { status: 'alive' });
        }
        case '/readyz': {
          const r = await this.readiness();
          return send(res, r.ready ? 200 : 503, r);
        }
        case '/metrics':
          // Readiness is a gauge too: a scrape refreshes it.
          await this.readiness();
          return sendText(res, 200, this.metrics.render(), CONTENT_TYPE);
        case '/identity': {
          const node = this.#node;
          if (!node) return send(res, 503, { error: 'starting' });
          const base = { vatId: node.vat.vatId, addresses: node.vat.multiaddrs() };
          if (!node.quorum) return send(res, 200, base);
          return send(res, 200, { ...base, quorum: identityFields(node.quorum.status()) });
        }
        case '/quorum/chain':
          if (quorum) return send(res, 200, quorum.chain());
          break;
      }
      return send(res, 404, {
        error: 'not found',
        paths: [
          '/healthz',
          '/readyz',
          '/metrics',
          '/identity',
          ...(quorum ? ['/quorum/chain', 'POST /quorum/changes'] : []),
        ],
      });
    } catch (e) {
      this.#log.error({ err: (e as Error).message, path: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  }
}

/** Writes, syncs and removes a small file: undefined if that works, else why not (EROFS, ENOSPC…). */
async function probeWrite(dir: string): Promise<string | undefined> {
  const path = join(dir, `.readyz-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.write(Buffer.alloc(PROBE_BYTES));
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await unlink(path).catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    const what: Record<string, string> = {
      EROFS: 'is read-only',
      EACCES: 'is not writable',
      EPERM: 'is not writable',
      ENOSPC: 'is full',
      EDQUOT: 'is over quota',
    };
    return `${code ? (what[code] ?? 'cannot be written') : 'cannot be written'} (${code ?? (e as Error).message})`;
  }
  await unlink(path).catch(() => {});
  return undefined;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendText(res, status, `${JSON.stringify(body)}\n`, 'application/json', headers);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
