/**
 * `quorumvat verify --data-dir D` from the directory alone: the contract source, vat name and
 * gas limit come from the store's `meta.` rows (the kernel writes them at its first start),
 * and the replay is the real one (kernel/replay.ts: a fresh vat worker from the checkpointed
 * vat store, every crank since the checkpoint compared bit for bit).
 */
import { hash } from 'node:crypto';
import { replayFrom } from '../kernel/replay.ts';
import type { WorkerLimits } from '../kernel/vat-worker.ts';
import { STORE_DEFAULTS } from '../store/defaults.ts';
import { KernelDB, StoreError } from '../store/kernel-db.ts';
import { type ReplayFn, VerifyFailed, type VerifyReport, verifyDataDir } from '../store/verify.ts';

export interface VatVerifyReport extends VerifyReport {
  readonly vatName: string;
  readonly vatId: string;
}

export interface VerifyVatOptions {
  readonly limits?: WorkerLimits;
  readonly busyTimeoutMs?: number;
}

/** Verifies a stopped vat node's data directory; throws VerifyFailed with a one-line reason. */
export async function verifyVatDataDir(
  dataDir: string,
  options: VerifyVatOptions = {},
): Promise<VatVerifyReport> {
  const meta = readMeta(dataDir, options.busyTimeoutMs);
  const replay: ReplayFn = async (checkpointKv, rows, start) =>
    replayFrom(
      { vatName: meta.vatName, contractSource: meta.contractSource, gasLimit: meta.gasLimit },
      { store: checkpointKv, hash: start.hash, position: start.position },
      rows.map((r) => r.entry),
      options.limits,
    );
  const report = await verifyDataDir(dataDir, replay, { busyTimeoutMs: options.busyTimeoutMs });
  return { ...report, vatName: meta.vatName, vatId: meta.vatId };
}

function readMeta(dataDir: string, busyTimeoutMs: number = STORE_DEFAULTS.busyTimeoutMs) {
  let db: KernelDB;
  try {
    db = KernelDB.open(dataDir, { readOnly: true, check: 'none', busyTimeoutMs });
  } catch (err) {
    const reason = err instanceof StoreError ? err.reason : 'open';
    throw new VerifyFailed(
      reason,
      `${dataDir}: ${(err as Error).name}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    const get = (k: string) => {
      const v = db.get(`meta.${k}`);
      if (v === undefined)
        throw new VerifyFailed('meta', `${dataDir}: no meta.${k} row: not a vat's data directory`);
      return v;
    };
    const contractSource = get('contractSource');
    if (hash('sha256', contractSource, 'hex') !== get('contractHash')) {
      throw new VerifyFailed('meta', `${dataDir}: the stored contract does not match its hash`);
    }
    const gasLimit = Number(get('gasLimit'));
    if (!Number.isSafeInteger(gasLimit) || gasLimit <= 0) {
      throw new VerifyFailed('meta', `${dataDir}: bad gas limit in meta.gasLimit`);
    }
    return { contractSource, gasLimit, vatName: get('vatName'), vatId: get('vatId') };
  } catch (err) {
    if (err instanceof VerifyFailed) throw err;
    const reason = err instanceof StoreError ? err.reason : 'meta';
    throw new VerifyFailed(reason, `${dataDir}: ${(err as Error).message}`, { cause: err });
  } finally {
    db.close();
  }
}
