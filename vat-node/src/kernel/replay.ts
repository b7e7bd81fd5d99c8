/**
 * Replays a vat's transcript on a fresh worker and checks that every crank does exactly what
 * it did the first time: the test of determinism, and (with a checkpoint) of a data directory.
 */
import type { VatOptions } from '../liveslots/protocol.ts';
import { Transcript, type TranscriptEntry } from './transcript.ts';
import { DEFAULT_LIMITS, VatWorker, type WorkerLimits } from './vat-worker.ts';

export class ReplayMismatch extends Error {
  override name = 'ReplayMismatch';
}

/** Returns the transcript hash of the replay; throws ReplayMismatch at the first divergence. */
export async function replayTranscript(
  options: VatOptions,
  entries: readonly TranscriptEntry[],
  limits: WorkerLimits = DEFAULT_LIMITS,
): Promise<string> {
  const transcript = new Transcript();
  let store = new Map<string, string>();
  let worker = await VatWorker.start(options, [], limits);
  try {
    for (const [i, { delivery, outcome }] of entries.entries()) {
      const again = await worker.crank(delivery);
      if (JSON.stringify(again) !== JSON.stringify(outcome)) {
        throw new ReplayMismatch(
          `crank ${i} (${delivery.type}) diverged: expected ${JSON.stringify(outcome).slice(0, 200)}, got ${JSON.stringify(again).slice(0, 200)}`,
        );
      }
      transcript.append(delivery, again);
      if (again.ok) {
        store = applyWrites(store, again.writes);
      } else {
        await worker.terminate();
        worker = await VatWorker.start(options, [...store], limits);
      }
    }
    return transcript.hash;
  } finally {
    await worker.terminate();
  }
}

function applyWrites(
  store: Map<string, string>,
  writes: readonly (readonly [string, string | null])[],
): Map<string, string> {
  for (const [k, v] of writes) {
    if (v === null) store.delete(k);
    else store.set(k, v);
  }
  return store;
}
