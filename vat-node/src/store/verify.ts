/**
 * `quorumvat verify --data-dir …`: checks a (stopped) node's data directory end to end.
 *
 * 1. The store opens read-only with every check: header and schema, `PRAGMA integrity_check`,
 *    every row checksum, the checkpoint's row count and digest, transcript contiguity.
 * 2. The hash chain from the checkpoint over the transcript since it.
 * 3. A replay (injected: the kernel passes a real worker replay) from the checkpointed vat
 *    store over the transcript entries must end with the stored head hash and exactly the
 *    vat store the kv table holds.
 *
 * Any failure throws VerifyFailed with a one-line reason (never a key or a value).
 */
import { GENESIS_HASH } from './chain.ts';
import { STORE_DEFAULTS } from './defaults.ts';
import { type Head, KernelDB, StoreError, stateDigest, type TranscriptRow } from './kernel-db.ts';

/**
 * Replays `entries` (in order, each `entry` the crank's JSON string) on a fresh vat whose
 * store starts as `checkpointKv`, continuing the hash chain from `start`. Keys are the vat's
 * own (the `vs.` prefix removed). Returns the chain hash after the last entry and the vat
 * store it ends with.
 */
export type ReplayFn = (
  checkpointKv: ReadonlyMap<string, string>,
  entries: readonly TranscriptRow[],
  start: Head,
) => Promise<{ hash: string; finalKv: ReadonlyMap<string, string> }>;

export interface VerifyReport {
  readonly ok: true;
  readonly dataDir: string;
  readonly checkpoint: { readonly position: number; readonly hash: string; readonly rows: number };
  readonly transcriptRows: number;
  readonly head: Head;
  /** Rows of the vat store (under the prefix) the replay reproduced. */
  readonly stateRows: number;
  /** `stateDigest` of the final vat store (prefixed keys), comparable across replicas. */
  readonly stateDigest: string;
  readonly ms: number;
}

export class VerifyFailed extends Error {
  override name = 'VerifyFailed';
  /**
   * The store's own reason when it refused the directory (StoreCorrupt / StoreUnavailable:
   * integrity, checksum, checkpoint, chain, schema, foreign, missing, read-only...), 'open'
   * for anything else at open, then 'replay' (the replay threw), 'hash' (it ended elsewhere
   * on the chain), 'state' (it ended with another vat store).
   */
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

export interface VerifyOptions {
  /** The vat store's key prefix in the kernel's kv table. Default 'vs.'. */
  readonly prefix?: string;
  /** How long to wait for a running node's lock before failing 'busy'. Default 2000 ms. */
  readonly busyTimeoutMs?: number;
}

export async function verifyDataDir(
  dataDir: string,
  replay: ReplayFn,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const t0 = performance.now();
  const prefix = options.prefix ?? 'vs.';
  let db: KernelDB;
  try {
    db = KernelDB.open(dataDir, {
      readOnly: true,
      check: 'full',
      busyTimeoutMs: options.busyTimeoutMs ?? STORE_DEFAULTS.busyTimeoutMs,
    });
  } catch (err) {
    throw new VerifyFailed(reasonOf(err), oneLine(`${dataDir}: ${errMessage(err)}`), {
      cause: err,
    });
  }
  try {
    let checkpoint: ReturnType<KernelDB['checkpointState']>;
    let rows: TranscriptRow[];
    let live: [string, string][];
    try {
      checkpoint = db.checkpointState();
      const chain = db.verifyChain();
      if (!chain.ok) throw new VerifyFailed('chain', oneLine(`${dataDir}: ${chain.message}`));
      rows = db.transcriptSince();
      live = db.entries(prefix);
    } catch (err) {
      if (err instanceof VerifyFailed) throw err;
      throw new VerifyFailed(reasonOf(err), oneLine(`${dataDir}: ${errMessage(err)}`), {
        cause: err,
      });
    }
    if (checkpoint.prefix !== prefix) {
      throw new VerifyFailed(
        'open',
        `${dataDir}: the checkpoint holds prefix ${JSON.stringify(checkpoint.prefix)}, not ${JSON.stringify(prefix)}`,
      );
    }
    const head = db.head;
    const start: Head = { position: checkpoint.position, hash: checkpoint.hash };
    const initial = new Map(checkpoint.entries.map(([k, v]) => [k.slice(prefix.length), v]));

    let result: Awaited<ReturnType<ReplayFn>>;
    try {
      result = await replay(initial, rows, start);
    } catch (err) {
      throw new VerifyFailed(
        'replay',
        oneLine(
          `${dataDir}: replay of ${rows.length} cranks from position ${start.position} failed: ${errMessage(err)}`,
        ),
        { cause: err },
      );
    }
    if (result.hash !== head.hash) {
      throw new VerifyFailed(
        'hash',
        `${dataDir}: replay of positions ${start.position + 1}..${head.position} ends with hash ${short(result.hash)}, the store holds ${short(head.hash)}`,
      );
    }
    const diff = compareState(live, prefix, result.finalKv);
    if (diff !== undefined) {
      throw new VerifyFailed(
        'state',
        `${dataDir}: replayed vat store differs from the stored one at position ${head.position}: ${diff}`,
      );
    }
    return {
      ok: true,
      dataDir,
      checkpoint: { position: checkpoint.position, hash: checkpoint.hash, rows: checkpoint.rows },
      transcriptRows: rows.length,
      head,
      stateRows: live.length,
      stateDigest: stateDigest(live),
      ms: performance.now() - t0,
    };
  } finally {
    db.close();
  }
}

/** undefined when equal; else counts only (keys and values may be secrets). */
function compareState(
  stored: readonly (readonly [string, string])[],
  prefix: string,
  replayed: ReadonlyMap<string, string>,
): string | undefined {
  let missing = 0;
  let different = 0;
  for (const [k, v] of stored) {
    const r = replayed.get(k.slice(prefix.length));
    if (r === undefined) missing++;
    else if (r !== v) different++;
  }
  const extra = replayed.size - (stored.length - missing);
  if (missing === 0 && different === 0 && extra === 0) return undefined;
  return `${different} key(s) with other values, ${missing} stored key(s) the replay lacks, ${extra} replayed key(s) not stored`;
}

function reasonOf(err: unknown): string {
  return err instanceof StoreError ? err.reason : 'open';
}

function short(h: string): string {
  return h === GENESIS_HASH ? 'genesis' : `${h.slice(0, 16)}…`;
}

function errMessage(err: unknown): string {
  if (err instanceof StoreError) return `${err.name}: ${err.message}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
