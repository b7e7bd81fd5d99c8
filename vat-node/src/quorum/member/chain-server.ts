/**
 * `/quorumvat/quorum-chain/1.0.0`: every member host serves its quorum's configuration chain
 * (../status.ts chainDocument: genesis and change records, canonical JSON) so a client that
 * knows only the quorum VatID and one member's address can learn and verify the quorum's
 * current members (../chain.ts verifyChain checks it against the VatID). The protocol: the
 * dialler opens a stream, the member writes one length-prefixed document and closes.
 * Anyone may ask: the chain is public (it holds VatIDs and public keys only).
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { VatId } from '../../protocol/identity.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { ConfigChain } from '../chain.ts';
import { chainDocument, readChainDocument } from '../status.ts';

export const QUORUM_CHAIN_PROTOCOL = '/quorumvat/quorum-chain/1.0.0';

/** Largest chain document a client reads. */
export const MAX_CHAIN_DOCUMENT_BYTES = 4 << 20;

export async function serveChain(host: VatHost, chain: () => ConfigChain): Promise<void> {
  await host.handle(QUORUM_CHAIN_PROTOCOL, (stream: Stream) => {
    const doc = Buffer.from(canonicalJson(chainDocument(chain())), 'utf8');
    const lp = lpStream(stream, { maxDataLength: MAX_CHAIN_DOCUMENT_BYTES });
    lp.write(doc, { signal: AbortSignal.timeout(10_000) })
      .then(() => stream.close())
      .catch((err: unknown) => stream.abort(err instanceof Error ? err : new Error(String(err))));
  });
}

/** Fetches and verifies the chain of `quorum` from one of its member hosts. */
export async function fetchChain(
  host: VatHost,
  member: VatId,
  quorum: VatId,
  signal: AbortSignal,
): Promise<ConfigChain> {
  const stream = await host.dial(member, QUORUM_CHAIN_PROTOCOL, signal);
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_CHAIN_DOCUMENT_BYTES });
    const bytes = await lp.read({ signal });
    return readChainDocument(Buffer.from(bytes.subarray()).toString('utf8'), quorum);
  } finally {
    stream.abort(new Error('done'));
  }
}
