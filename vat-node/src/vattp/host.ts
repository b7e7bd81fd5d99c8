/**
 * The libp2p 3 host of one vat node, behind a narrow facade: the rest of vattp never touches
 * the libp2p object (and nobody may harden() it: that breaks its next stream).
 *
 * TCP + Noise + Yamux, identify and ping (the DHT needs both), Kad-DHT under its own prefix
 * so it never joins the public IPFS DHT. Pitfalls of libp2p's defaults, each handled below:
 * the default peerInfoMapper drops loopback/private addresses (lookups on a LAN then fail),
 * the DHT defaults to client mode, the first self-query waits 1 s, and inbound connections
 * are limited to 5 per second per IP.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { PeerId, Stream } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { EventSink } from '../events/events.ts';
import type { VatId } from '../protocol/identity.ts';
import { BootstrapKeeper } from './bootstrap.ts';
import { VATTP_DEFAULTS } from './defaults.ts';
import type { HostIdentity } from './identity.ts';

export const DHT_PROTOCOL = '/quorumvat/kad/1.0.0';
/** The identify agent of a short-lived client vat. */
export const CLIENT_AGENT = 'quorumvat-client/';

export interface VatHostOptions {
  readonly identity: HostIdentity;
  /** Listen multiaddrs; default one random port on loopback. */
  readonly listen?: readonly string[];
  /**
   * A short-lived client (`quorumvat send`): it says so in identify (CLIENT_AGENT), and its
   * peers do not dial it once it has left.
   */
  readonly client?: boolean;
  /** What peers should dial: replaces the listen addresses in everything we advertise. */
  readonly announce?: readonly string[];
  /** Bootstrap peers (bootstrap.ts): dialled at start and whenever lost, names re-resolved. */
  readonly bootstrap?: readonly string[];
  readonly dialTimeoutMs?: number;
  /** Where the host reports what an operator should know (bootstrap peers lost and found). */
  readonly events?: EventSink;
}

/** A stream handler: the remote side is always the authenticated VatID of the connection. */
export type VatStreamHandler = (stream: Stream, remote: VatId) => void;

export interface VatHost {
  readonly vatId: VatId;
  /** Our listen addresses, each ending in /p2p/<vatId>. */
  multiaddrs(): string[];
  handle(protocol: string, handler: VatStreamHandler): Promise<void>;
  /**
   * Opens a stream to `peer`: over a live connection, else to known addresses (peer store,
   * hints), else to addresses the DHT finds for the VatID.
   */
  dial(peer: VatId, protocol: string, signal: AbortSignal): Promise<Stream>;
  /** Address hints (e.g. from a sturdyref or configuration). */
  addAddresses(peer: VatId, addrs: readonly string[]): Promise<void>;
  isConnected(peer: VatId): boolean;
  /** The peer told us (identify) that it is a short-lived client, or that it listens nowhere. */
  isClient(peer: VatId): Promise<boolean>;
  hangUp(peer: VatId): Promise<void>;
  /** Refuse connections with peers for which `denied` is true (inbound and outbound). */
  setDenied(denied: (peer: VatId) => boolean): void;
  onPeerConnect(listener: (peer: VatId) => void): void;
  /** Resolves once every bootstrap peer was reached or given up on. */
  bootstrapped(): Promise<void>;
  stop(): Promise<void>;
}

type Node = Libp2p<{ dht: KadDHT; identify: unknown; ping: unknown }>;

export async function createVatHost(options: VatHostOptions): Promise<VatHost> {
  const { identity, events } = options;
  let denied: (peer: VatId) => boolean = () => false;
  const dialTimeout = options.dialTimeoutMs ?? VATTP_DEFAULTS.dialTimeoutMs;
  const listen = [...(options.listen ?? ['/ip4/127.0.0.1/tcp/0'])];
  const node: Node = await createLibp2p({
    privateKey: identity.privateKey,
    ...(options.client ? { nodeInfo: { userAgent: CLIENT_AGENT } } : {}),
    addresses: { listen, announce: [...(options.announce ?? [])] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { dialTimeout, inboundConnectionThreshold: 1_000 },
    connectionGater: {
      denyDialPeer: (peerId: PeerId) => denied(peerId.toString()),
      denyInboundEncryptedConnection: (peerId: PeerId) => denied(peerId.toString()),
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        initialQuerySelfInterval: 50,
      }),
    },
  });
  await node.start();

  const bootstrap = new BootstrapKeeper(node, options.bootstrap ?? [], { events });

  const host: VatHost = {
    vatId: identity.vatId,
    multiaddrs: () => node.getMultiaddrs().map((ma) => ma.toString()),
    handle: (protocol, handler) =>
      node.handle(protocol, (stream, connection) =>
        handler(stream, connection.remotePeer.toString()),
      ),
    async dial(peer, protocol, signal) {
      const peerId = peerIdFromString(peer);
      // Ask the network, not our own peer store (useCache: false): what we know may be the
      // address the peer had before it restarted. What the network says replaces it.
      const lookUp = async () => {
        // Nobody to ask (the query would only wait for its timeout).
        if (node.getConnections().length === 0) throw new Error(`no address known for ${peer}`);
        const found = await node.peerRouting.findPeer(peerId, { signal, useCache: false });
        await node.peerStore.patch(peerId, { multiaddrs: found.multiaddrs });
      };
      if (node.getConnections(peerId).length > 0)
        return node.dialProtocol(peerId, protocol, { signal });
      const known = await node.peerStore.get(peerId).catch(() => undefined);
      if (known === undefined || known.addresses.length === 0) {
        await lookUp();
        return node.dialProtocol(peerId, protocol, { signal });
      }
      try {
        return await node.dialProtocol(peerId, protocol, { signal });
      } catch (err) {
        // The known addresses may be stale (a restarted pod has a new IP): ask the DHT once.
        if (signal.aborted) throw err;
        try {
          await lookUp();
        } catch {
          throw err; // the DHT knows nothing better: report the dial error
        }
        return node.dialProtocol(peerId, protocol, { signal });
      }
    },
    async addAddresses(peer, addrs) {
      if (addrs.length === 0) return;
      await node.peerStore.merge(peerIdFromString(peer), {
        multiaddrs: addrs.map((a) => multiaddr(a)),
      });
    },
    isConnected: (peer) => node.getConnections(peerIdFromString(peer)).length > 0,
    async isClient(peer) {
      const known = await node.peerStore.get(peerIdFromString(peer)).catch(() => undefined);
      if (known === undefined) return false;
      const agent = new TextDecoder().decode(known.metadata.get('AgentVersion'));
      if (agent.startsWith(CLIENT_AGENT)) return true;
      return known.protocols.length > 0 && known.addresses.length === 0;
    },
    hangUp: (peer) => node.hangUp(peerIdFromString(peer)),
    setDenied(fn) {
      denied = fn;
    },
    onPeerConnect(listener) {
      node.addEventListener('peer:connect', (event) => listener(event.detail.toString()));
    },
    bootstrapped: () => bootstrap.firstRound(),
    stop: async () => {
      bootstrap.stop();
      await node.stop();
    },
  };
  return host;
}
