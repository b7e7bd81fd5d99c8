/**
 * `/quorumvat/quorum-snapshot/1.0.0`: a member serves the state at its latest stable
 * checkpoint (snapshot.ts) to a host that cannot catch up from decided blocks alone.
 *
 * One stream per request, length-prefixed messages: the asker sends `{quorum, after}` (its
 * decided tip); the member answers a header, then for a snapshot its JSON in chunks of at most
 * 1 MiB:
 *   {status: "snapshot", height, bytes}      the snapshot follows (`bytes` in total, capped)
 *   {status: "not-needed", oldestKept, height}  decided blocks from after + 1 on are still kept
 *   {status: "none", reason}                no stable checkpoint above `after` yet
 * Only members and learners of a configuration the member knows may ask (like sync); at most
 * two snapshots are sent at once. Nothing in the answer is trusted: the asker checks it all
 * (snapshot.ts snapshotProblem).
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import type { VatId } from '../../protocol/identity.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { Snapshot } from './snapshot.ts';

export const QUORUM_SNAPSHOT_PROTOCOL = '/quorumvat/quorum-snapshot/1.0.0';
/** Largest snapshot accepted or served. */
export const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const MAX_SERVING = 2;

export type SnapshotHeader =
  | { readonly status: 'snapshot'; readonly height: number; readonly bytes: number }
  | { readonly status: 'not-needed'; readonly oldestKept: number; readonly height: number }
  | { readonly status: 'none'; readonly reason: string };

export interface SnapshotSource {
  /** May this host fetch? */
  allowed(peer: VatId): boolean;
  /** What to answer a host whose decided tip is `after`: a header, and the bytes if any. */
  answer(after: number): { header: SnapshotHeader; bytes?: Uint8Array };
}

export async function serveQuorumSnapshot(
  host: Pick<VatHost, 'handle'>,
  quorum: VatId,
  source: SnapshotSource,
): Promise<void> {
  let serving = 0;
  await host.handle(QUORUM_SNAPSHOT_PROTOCOL, (stream: Stream, peer: VatId) => {
    void (async () => {
      const lp = lpStream(stream, { maxDataLength: CHUNK + 1024 });
      try {
        const req = JSON.parse(
          Buffer.from((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()).toString(
            'utf8',
          ),
        ) as { quorum?: unknown; after?: unknown };
        let answer: ReturnType<SnapshotSource['answer']>;
        if (!source.allowed(peer)) {
          answer = { header: { status: 'none', reason: 'not a member or learner' } };
        } else if (req.quorum !== quorum) {
          answer = { header: { status: 'none', reason: 'another quorum vat' } };
        } else if (typeof req.after !== 'number' || !Number.isSafeInteger(req.after)) {
          answer = { header: { status: 'none', reason: 'malformed request' } };
        } else if (serving >= MAX_SERVING) {
          answer = { header: { status: 'none', reason: 'busy' } };
        } else {
          answer = source.answer(req.after);
        }
        await lp.write(Buffer.from(JSON.stringify(answer.header), 'utf8'));
        if (answer.bytes !== undefined) {
          serving++;
          try {
            for (let at = 0; at < answer.bytes.length; at += CHUNK) {
              await lp.write(answer.bytes.subarray(at, at + CHUNK));
            }
          } finally {
            serving--;
          }
        }
        await stream.close();
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}

/** The member could not be reached (or does not serve the protocol): not a refusal. */
export class SnapshotUnreachable extends Error {
  override name = 'SnapshotUnreachable';
}

export type Fetched =
  | { readonly status: 'snapshot'; readonly snapshot: Snapshot; readonly bytes: number }
  | Exclude<SnapshotHeader, { status: 'snapshot' }>;

/**
 * Asks member host `peer` for its snapshot above `after`. Throws SnapshotUnreachable when the
 * peer cannot be reached or does not answer within `reach` (a member that is down, or not
 * started yet), another error when it sends something that is not a snapshot of the announced
 * size; a snapshot that parses is returned unchecked (snapshotProblem). `signal` bounds the
 * whole transfer.
 */
export async function fetchQuorumSnapshot(
  host: Pick<VatHost, 'dial'>,
  peer: VatId,
  quorum: VatId,
  after: number,
  signal: AbortSignal,
  reach: AbortSignal = signal,
): Promise<Fetched> {
  let stream: Stream;
  let header: SnapshotHeader;
  try {
    stream = await host.dial(peer, QUORUM_SNAPSHOT_PROTOCOL, AbortSignal.any([signal, reach]));
  } catch (err) {
    throw new SnapshotUnreachable(err instanceof Error ? err.message : String(err));
  }
  try {
    const lp = lpStream(stream, { maxDataLength: CHUNK + 1024 });
    await lp.write(Buffer.from(JSON.stringify({ quorum, after }), 'utf8'), { signal });
    header = JSON.parse(
      Buffer.from(
        (await lp.read({ signal: AbortSignal.any([signal, reach]) })).subarray(),
      ).toString('utf8'),
    ) as SnapshotHeader;
    if (!['snapshot', 'not-needed', 'none'].includes(header?.status)) {
      throw new Error('malformed snapshot header');
    }
    if (header.status !== 'snapshot') return header;
    if (
      !Number.isSafeInteger(header.bytes) ||
      header.bytes <= 0 ||
      header.bytes > MAX_SNAPSHOT_BYTES
    ) {
      throw new Error(`snapshot of ${header.bytes} bytes (at most ${MAX_SNAPSHOT_BYTES})`);
    }
    const chunks: Uint8Array[] = [];
    let got = 0;
    while (got < header.bytes) {
      const chunk = (await lp.read({ signal })).subarray();
      got += chunk.length;
      if (got > header.bytes) throw new Error('snapshot longer than announced');
      chunks.push(chunk);
    }
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    return { status: 'snapshot', snapshot: parseSnapshot(text), bytes: got };
  } finally {
    stream.abort(new Error('snapshot fetched'));
  }
}

/** The snapshot's JSON, its shape checked (not its content: snapshotProblem). */
export function parseSnapshot(text: string): Snapshot {
  const o = JSON.parse(text) as Record<string, unknown>;
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string') throw new Error(`snapshot: ${what} is not a string`);
    return v;
  };
  const nat = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new Error(`snapshot: ${what} is not a count`);
    }
    return v;
  };
  const pairs = (v: unknown, what: string): [string, string][] => {
    if (!Array.isArray(v)) throw new Error(`snapshot: ${what} is not a list`);
    return v.map((p, i) => {
      if (!Array.isArray(p) || p.length !== 2) throw new Error(`snapshot: ${what}[${i}]`);
      return [str(p[0], what), str(p[1], what)];
    });
  };
  const heap = (o.heap ?? {}) as Record<string, unknown>;
  const cp = (heap.checkpoint ?? {}) as Record<string, unknown>;
  if (!Array.isArray(o.epochs) || !Array.isArray(heap.transcript)) {
    throw new Error('snapshot: epochs or transcript is not a list');
  }
  const cert = (o.certificate ?? {}) as Record<string, unknown>;
  return {
    quorum: str(o.quorum, 'quorum'),
    height: nat(o.height, 'height'),
    hash: str(o.hash, 'hash'),
    state: str(o.state, 'state'),
    certificate: {
      epoch: nat(cert.epoch, 'certificate.epoch'),
      signers: str(cert.signers, 'certificate.signers'),
      signatures: str(cert.signatures, 'certificate.signatures'),
    },
    rows: pairs(o.rows, 'rows'),
    epochs: (o.epochs as Record<string, unknown>[]).map((e) => ({
      epoch: nat(e?.epoch, 'epochs.epoch'),
      root: str(e?.root, 'epochs.root'),
      since: nat(e?.since, 'epochs.since'),
    })),
    heap: {
      checkpoint: {
        prefix: str(cp.prefix, 'heap.checkpoint.prefix'),
        position: nat(cp.position, 'heap.checkpoint.position'),
        hash: str(cp.hash, 'heap.checkpoint.hash'),
        entries: pairs(cp.entries, 'heap.checkpoint.entries'),
      },
      transcript: (heap.transcript as unknown[]).map((e) => str(e, 'heap.transcript')),
    },
  };
}
