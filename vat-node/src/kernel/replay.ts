/**
 * Replays a vat's transcript on a fresh worker and checks that every crank does exactly what
 * it did the first time: the test of determinism, and (from a checkpoint) of a data directory.
 *
 * A replay starts where a worker started: from genesis with an empty vat store, or from a
 * checkpoint (the kernel takes checkpoints only just before a fresh worker's startVat crank).
 * After a failed crank the kernel replaced its worker; so does the replay.
 */
import type { VatOptions } from '../liveslots/protocol.ts';
import { chainHash, entryJson, GENESIS_HASH } from '../store/chain.ts';
import type { TranscriptEntry } from './transcript.ts';
import { DEFAULT_LIMITS, VatWorker, type WorkerLimits } from './vat-worker.ts';

export class ReplayMismatch extends Error {
  override name = 'ReplayMismatch';
}

export interface ReplayStart {
  /** The vat store the first worker starts with (the vat's own keys). Default: empty. */
  readonly store?: ReadonlyMap<string, string>;
  /** Chain head to continue from (a checkpoint's). Default: genesis. */
  readonly hash?: string;
  /** Position of that head, for messages. Default 0. */
  readonly position?: number;
}

export interface ReplayResult {
  /** The chain hash after the last entry. */
  readonly hash: string;
  /** The vat store after the last entry. */
  readonly finalKv: ReadonlyMap<string, string>;
}

/**
 * Replays `entries` (decoded entries, or the entry strings exactly as the store holds and
 * hashes them) from `start`. Throws ReplayMismatch at the first divergence.
 */
export async function replayFrom(
  options: VatOptions,
  start: ReplayStart,
  entries: Iterable<TranscriptEntry | string>,
  limits: WorkerLimits = DEFAULT_LIMITS,
): Promise<ReplayResult> {
  let hash = start.hash ?? GENESIS_HASH;
  const first = start.position ?? 0;
  const store = new Map(start.store ?? []);
  let worker = await VatWorker.start(options, [...store], limits);
  try {
    let i = 0;
    for (const e of entries) {
      const stored = typeof e === 'string' ? e : entryJson(e.delivery, e.outcome);
      const delivery =
        typeof e === 'string' ? (JSON.parse(e) as [TranscriptEntry['delivery']])[0] : e.delivery;
      const again = await worker.crank(delivery);
      const replayed = entryJson(delivery, again);
      if (replayed !== stored) {
        throw new ReplayMismatch(
          `crank ${first + i + 1} (${delivery.type}) diverged: expected ${stored.slice(0, 200)}, got ${replayed.slice(0, 200)}`,
        );
      }
      hash = chainHash(hash, replayed);
      if (again.ok) {
        for (const [k, v] of again.writes) {
          if (v === null) store.delete(k);
          else store.set(k, v);
        }
      } else {
        await worker.terminate();
        worker = await VatWorker.start(options, [...store], limits);
      }
      i++;
    }
    return { hash, finalKv: store };
  } finally {
    await worker.terminate();
  }
}

/** Replays from genesis; returns the transcript hash. Throws ReplayMismatch on divergence. */
export async function replayTranscript(
  options: VatOptions,
  entries: readonly TranscriptEntry[],
  limits: WorkerLimits = DEFAULT_LIMITS,
): Promise<string> {
  return (await replayFrom(options, {}, entries, limits)).hash;
}
