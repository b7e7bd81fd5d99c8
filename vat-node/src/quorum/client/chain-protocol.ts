/**
 * `/quorumvat/quorum-chain/1.0.0`: how anyone learns a quorum vat's configuration chain from
 * one of its members. The member host answers every stream with one length-prefixed message,
 * the chain document (status.ts: {quorum, genesis, records}) as canonical JSON, and closes it.
 * Nothing in it is trusted: the fetcher verifies the whole chain from the quorum VatID
 * (readChainDocument → verifyChain), so any member, honest or not, can serve it; a member can
 * at worst serve an older (shorter) chain, which the fetcher keeps only if it knows no newer one.
 *
 * Serving the protocol is also how a host says "I am a member host": a peer that does not
 * speak it is a solo vat (client/port.ts classifies unknown peers so).
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { VatId } from '../../protocol/identity.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { ConfigChain } from '../chain.ts';
import { type ChainDocument, readChainDocument } from '../status.ts';

export const QUORUM_CHAIN_PROTOCOL = '/quorumvat/quorum-chain/1.0.0';
/** Largest chain document accepted (genesis + records of a long-lived quorum). */
export const MAX_CHAIN_BYTES = 4 * 1024 * 1024;

/**
 * A member host serves its quorum's chain. `chain` is read at each request, so a member that
 * applied a change serves the new chain at once.
 */
export async function serveQuorumChain(
  host: Pick<VatHost, 'handle'>,
  chain: () => ChainDocument,
): Promise<void> {
  await host.handle(QUORUM_CHAIN_PROTOCOL, (stream: Stream) => {
    void (async () => {
      try {
        const bytes = Buffer.from(canonicalJson(chain()), 'utf8');
        await lpStream(stream, { maxDataLength: MAX_CHAIN_BYTES }).write(bytes);
        await stream.close();
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}

/**
 * Fetches a quorum's chain from host `peer` (dialled through known addresses, hints or the DHT)
 * and verifies it. With `expected`, the chain must be that quorum's. Throws on any failure:
 * unreachable, does not serve the protocol, malformed or forged chain (ChainError).
 */
export async function fetchQuorumChain(
  host: Pick<VatHost, 'dial'>,
  peer: VatId,
  signal: AbortSignal,
  expected?: VatId,
): Promise<ConfigChain> {
  const stream = await host.dial(peer, QUORUM_CHAIN_PROTOCOL, signal);
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_CHAIN_BYTES });
    const bytes = await lp.read({ signal });
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray());
    return readChainDocument(text, expected);
  } finally {
    stream.abort(new Error('chain fetched'));
  }
}

/**
 * `/quorumvat/quorum-chain-news/1.0.0`: a member whose chain grew (a membership change was
 * certified) pushes the new chain document to the hosts its quorum vat talks to, so a receiver
 * stops counting a removed member at once instead of when it next happens to refetch. One
 * length-prefixed chain document per stream; the receiver verifies it like a fetched one and
 * keeps it only if it is a longer chain of a quorum it already knows.
 */
export const QUORUM_CHAIN_NEWS_PROTOCOL = '/quorumvat/quorum-chain-news/1.0.0';

export async function pushQuorumChain(
  host: Pick<VatHost, 'dial'>,
  peer: VatId,
  chain: ChainDocument,
  signal: AbortSignal,
): Promise<void> {
  const stream = await host.dial(peer, QUORUM_CHAIN_NEWS_PROTOCOL, signal);
  try {
    const bytes = Buffer.from(canonicalJson(chain), 'utf8');
    await lpStream(stream, { maxDataLength: MAX_CHAIN_BYTES }).write(bytes, { signal });
    await stream.close();
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

/** Takes pushed chain documents; `take` gets each one that verifies. */
export async function serveChainNews(
  host: Pick<VatHost, 'handle'>,
  take: (chain: ConfigChain) => void,
): Promise<void> {
  await host.handle(QUORUM_CHAIN_NEWS_PROTOCOL, (stream: Stream) => {
    void (async () => {
      try {
        const lp = lpStream(stream, { maxDataLength: MAX_CHAIN_BYTES });
        const bytes = await lp.read({ signal: AbortSignal.timeout(10_000) });
        const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray());
        take(readChainDocument(text));
        await stream.close();
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}
