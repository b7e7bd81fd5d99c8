/**
 * Replays a vat's transcript on a fresh worker and checks that every crank does exactly what
 * it did the first time: the test of determinism, and (from a checkpoint) of a data directory.
 *
 * A replay starts where a worker started: from genesis with an empty vat store, or from a
 * checkpoint (the kernel takes checkpoints only just before a fresh worker's startVat crank).
 * After a failed crank the kernel replaced its worker; so does the replay.
 */
import type { CrankOutcome, Delivery, VatOptions } from '../liveslots/protocol.ts';
import { chainHash, entryJson, GENESIS_HASH } from '../store/chain.ts';
import { MAX_BATCH } from './options.ts';
import type { TranscriptEntry } from './transcript.ts';
import {
  DEFAULT_LIMITS,
  isBackstopAbort,
  VatWorker,
  type VatWorkerHandle,
  type WorkerLimits,
} from './vat-worker.ts';

export class ReplayMismatch extends Error {
  override name = 'ReplayMismatch';
}

/** A backstop (wall clock, memory) stopped a crank during a replay: try again, not a divergence. */
export class ReplayInterrupted extends Error {
  override name = 'ReplayInterrupted';
}

export interface RebuiltHeap {
  /** The worker, its heap as the last entry left it; null if that crank failed (no worker then). */
  readonly worker: VatWorkerHandle | null;
  /** The vat store after the last entry. */
  readonly store: Map<string, string>;
}

/**
 * Rebuilds a worker's heap from a checkpoint (the vat store `store` at transcript position
 * `position`) by running every crank since, as the kernel ran them: each stored `entries`
 * string (the first a startVat) must come out again exactly, else ReplayMismatch. Workers come
 * from `spawn`; where the kernel started a worker (a startVat entry) the replay does too, from
 * the store at that point. A crank that a backstop aborted (it depended on the machine, not on
 * the vat) is not run again: its heap was discarded then and is here too. A backstop during
 * the replay itself throws ReplayInterrupted (another attempt may well finish).
 */
export async function rebuildHeap(
  spawn: () => VatWorkerHandle,
  options: VatOptions,
  start: { readonly store: ReadonlyMap<string, string>; readonly position: number },
  entries: readonly string[],
): Promise<RebuiltHeap> {
  const store = new Map(start.store);
  const parsed = entries.map((e) => JSON.parse(e) as [Delivery, CrankOutcome]);
  const lost = (outcome: CrankOutcome) => !outcome.ok && isBackstopAbort(outcome.error);
  let worker: VatWorkerHandle | null = null;
  try {
    for (let i = 0; i < entries.length; ) {
      const [delivery, outcome] = parsed[i]!;
      const at = `crank ${start.position + i + 1} (${delivery.type})`;
      if (lost(outcome)) {
        await worker?.terminate();
        worker = null;
        i++;
        continue;
      }
      if (delivery.type === 'startVat') {
        // A planned refresh reused the process (lifecycle.ts startWorker): so does this.
        worker = worker !== null && !worker.dead ? worker : spawn();
        await worker.init(options, [...store]);
      } else if (worker === null) {
        throw new ReplayMismatch(`${at}: a worker's first crank must be startVat`);
      }
      let end = i + 1;
      while (end < entries.length && end - i < MAX_BATCH) {
        const [d, o] = parsed[end]!;
        if (d.type === 'startVat' || lost(o)) break;
        end++;
      }
      let ran = 0;
      let problem: Error | undefined;
      await worker.cranks(
        parsed.slice(i, end).map(([d]) => d),
        (n, again) => {
          ran = n + 1;
          if (problem !== undefined) return;
          const [d] = parsed[i + n]!;
          const replayed = entryJson(d, again);
          const where = `crank ${start.position + i + n + 1} (${d.type})`;
          if (replayed === entries[i + n]) {
            if (again.ok) {
              for (const [k, v] of again.writes) {
                if (v === null) store.delete(k);
                else store.set(k, v);
              }
            }
          } else if (!again.ok && isBackstopAbort(again.error)) {
            problem = new ReplayInterrupted(
              `${where} was stopped during the replay: ${again.error}`,
            );
          } else {
            problem = new ReplayMismatch(
              `${where} diverged: expected ${entries[i + n]!.slice(0, 200)}, got ${replayed.slice(0, 200)}`,
            );
          }
        },
      );
      if (problem !== undefined) throw problem;
      if (ran === 0) throw new ReplayInterrupted(`the worker ran nothing of ${at}`);
      const last = parsed[i + ran - 1]![1];
      if (!last.ok) {
        // The kernel replaced its worker after a failed crank: the next entry is a startVat.
        await worker.terminate();
        worker = null;
      }
      i += ran;
    }
    return { worker, store };
  } catch (e) {
    await worker?.terminate();
    throw e;
  }
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
