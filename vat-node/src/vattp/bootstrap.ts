/**
 * Bootstrap peers, kept: each configured address is dialled at start and again whenever we
 * hold no connection to a peer it named, for as long as the node runs (capped backoff with
 * full jitter between tries). A DNS name (/dns4/NAME/tcp/PORT) is resolved again before every
 * try, through the system resolver (/etc/hosts, the cluster's DNS), and every address it
 * resolves to is dialled: a headless Service names all its pods, and a pod that restarted
 * with a new IP is found under its old name. Without /p2p/ID the peers are whoever answers.
 *
 * One warning when an address becomes unreachable, one info line when it is back: not one
 * line per try.
 */
import { lookup } from 'node:dns/promises';
import type { Connection, PeerId } from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import type { EventSink } from '../events/events.ts';
import { Backoff, type BackoffPolicy } from './backoff.ts';
import { VATTP_DEFAULTS } from './defaults.ts';

/** The part of a libp2p node this needs. */
export interface BootstrapNode {
  readonly status: string;
  dial(addr: Multiaddr, options: { signal: AbortSignal }): Promise<Connection>;
  getConnections(peer?: PeerId): Connection[];
  getMultiaddrs(): Multiaddr[];
  addEventListener(event: 'peer:disconnect', listener: (e: CustomEvent<PeerId>) => void): void;
}

/** A /dns4|/dns6|/dns multiaddr → the /ip4|/ip6 ones its name resolves to now. */
export async function resolveAddr(addr: string): Promise<string[]> {
  const parts = multiaddr(addr).getComponents();
  const [net, ...rest] = parts;
  if (net === undefined || !['dns4', 'dns6', 'dns'].includes(net.name)) return [addr];
  const family = net.name === 'dns4' ? 4 : net.name === 'dns6' ? 6 : 0;
  const found = await lookup(net.value ?? '', { all: true, family });
  const tail = rest.map((c) => `/${c.name}${c.value === undefined ? '' : `/${c.value}`}`).join('');
  return [...new Set(found.map((a) => `/${a.family === 6 ? 'ip6' : 'ip4'}/${a.address}${tail}`))];
}

export class BootstrapKeeper {
  readonly #node: BootstrapNode;
  readonly #events: EventSink | undefined;
  readonly #policy: BackoffPolicy;
  readonly #dialTimeoutMs: number;
  readonly #stopped = new AbortController();
  readonly #firstRound: Promise<void>;
  /** Peers each address led to (to know when we lost them all). */
  readonly #peers = new Map<string, Set<string>>();
  readonly #wakers = new Map<string, () => void>();

  constructor(
    node: BootstrapNode,
    addrs: readonly string[],
    options: { events?: EventSink; backoff?: BackoffPolicy; dialTimeoutMs?: number } = {},
  ) {
    this.#node = node;
    this.#events = options.events;
    this.#policy = options.backoff ?? VATTP_DEFAULTS.bootstrapBackoff;
    this.#dialTimeoutMs = options.dialTimeoutMs ?? VATTP_DEFAULTS.dialTimeoutMs;
    const firsts = addrs.map((addr) => new Promise<void>((first) => void this.#keep(addr, first)));
    this.#firstRound = Promise.all(firsts).then(() => undefined);
    node.addEventListener('peer:disconnect', (e) => {
      const peer = e.detail.toString();
      for (const [addr, peers] of this.#peers) {
        if (peers.has(peer)) this.#wakers.get(addr)?.();
      }
    });
  }

  /** Resolves once every address was tried once (reached or not). */
  firstRound(): Promise<void> {
    return this.#firstRound;
  }

  stop(): void {
    this.#stopped.abort();
    for (const wake of this.#wakers.values()) wake();
  }

  #connected(addr: string): boolean {
    const peers = this.#peers.get(addr);
    if (peers === undefined || peers.size === 0) return false;
    return this.#node
      .getConnections()
      .some((c) => peers.has(c.remotePeer.toString()) && c.status === 'open');
  }

  /** Our own addresses: a name that lists every pod of a Service lists us too. */
  #isSelf(addr: string): boolean {
    const own = this.#node.getMultiaddrs().map((m) => m.toString().split('/p2p/')[0]);
    return own.includes(addr.split('/p2p/')[0]);
  }

  async #keep(addr: string, first: () => void): Promise<void> {
    const backoff = new Backoff(this.#policy);
    let downSince: number | undefined;
    while (!this.#stopped.signal.aborted && this.#node.status === 'started') {
      if (this.#connected(addr)) {
        first();
        // Until a peer of this address disconnects (checked again now and then, in case the
        // event came between the check and the wait).
        await this.#sleep(addr, VATTP_DEFAULTS.bootstrapRecheckMs);
        continue;
      }
      const outcome = await this.#tryOnce(addr);
      if (this.#stopped.signal.aborted) break;
      if (outcome.ok) {
        if (downSince !== undefined) {
          this.#events?.({
            type: 'bootstrap-reachable',
            bootstrap: addr,
            downMs: Date.now() - downSince,
          });
        }
        downSince = undefined;
        backoff.reset();
        first();
        continue;
      }
      if (downSince === undefined) {
        downSince = Date.now();
        this.#events?.({ type: 'bootstrap-unreachable', bootstrap: addr, err: outcome.reason });
      } else {
        this.#events?.({ type: 'bootstrap-retry-failed', bootstrap: addr, err: outcome.reason });
      }
      first();
      await this.#sleep(addr, VATTP_DEFAULTS.bootstrapRetryFloorMs + backoff.next());
    }
    first();
  }

  async #tryOnce(addr: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    let targets: string[];
    try {
      targets = (await resolveAddr(addr)).filter((a) => !this.#isSelf(a));
    } catch (err) {
      return { ok: false, reason: `cannot resolve: ${(err as Error).message}` };
    }
    if (targets.length === 0) {
      // The name lists only us (the first pod of a Service): nothing to join yet.
      return { ok: false, reason: 'resolves only to this node' };
    }
    const results = await Promise.allSettled(
      targets.map((t) =>
        this.#node.dial(multiaddr(t), {
          signal: AbortSignal.any([this.#stopped.signal, AbortSignal.timeout(this.#dialTimeoutMs)]),
        }),
      ),
    );
    const peers = new Set<string>();
    let reason = '';
    for (const r of results) {
      if (r.status === 'fulfilled') peers.add(r.value.remotePeer.toString());
      else
        reason ||=
          r.reason instanceof Error ? `${r.reason.name}: ${r.reason.message}` : String(r.reason);
    }
    if (peers.size === 0) return { ok: false, reason };
    this.#peers.set(addr, peers);
    return { ok: true };
  }

  /** Waits `ms`, or less when woken by a disconnect or stop(). */
  #sleep(addr: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(addr);
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (this.#stopped.signal.aborted) done();
      else this.#wakers.set(addr, done);
    });
  }
}
