// Shared by restart.bench.ts and restart-1m.bench.ts: a vat with constant live state, filled
// with N deliveries, then restarted from its data directory.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Kernel, type KernelOptions } from '../vat-node/src/kernel/kernel.ts';
import { KernelDB } from '../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../vat-node/src/transport/local-link.ts';
import { round } from './lib.ts';

/** Calls in flight during a fill. */
const WINDOW = 1000;

/** Live state: `live` durable objects (a kind's instances, each in baggage); bump(i) updates one. */
export const contractFor = (live: number) => `
import { Far } from '@endo/far';
export function buildRootObject({ baggage, defineKind }) {
  const makeItem = defineKind('item', (v) => ({ v }), {
    set: ({ state }, v) => {
      state.v = v;
    },
  });
  if (!baggage.has('n')) baggage.init('n', 0);
  return Far('root', {
    bump: (i) => {
      const k = 'obj.' + (i % ${live});
      if (baggage.has(k)) baggage.get(k).set(i);
      else baggage.init(k, makeItem(i));
      baggage.set('n', baggage.get('n') + 1);
    },
    n: () => baggage.get('n'),
  });
}
`;

export const NEVER = {
  maxRows: Number.MAX_SAFE_INTEGER,
  minBytes: Number.MAX_SAFE_INTEGER,
  refreshWorker: 'never',
} as const;

export function options(
  dataDir: string,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
): KernelOptions {
  const contractSource = contractFor(live);
  return { vatId: 'V', vatName: 'V', contractSource, gasLimit: 1_000_000, dataDir, checkpoint };
}

/**
 * Fills a vat with `n` bump deliveries, `WINDOW` in flight. sender 'host': the node's own host
 * calls. sender 'peer': calls from another vat's kernel over a link (each with a result promise,
 * c-list entries on both sides: they must not pile up either).
 */
export async function fill(
  dataDir: string,
  n: number,
  live: number,
  checkpoint: KernelOptions['checkpoint'],
  sender: 'host' | 'peer' = 'host',
) {
  const net = new LocalNetwork();
  const v = await Kernel.create(options(dataDir, live, checkpoint), net.transport());
  let peer: Kernel | null = null;
  let target = 'o+0';
  let caller = v;
  if (sender === 'peer') {
    const p = await Kernel.create(
      { vatId: 'P', vatName: 'P', contractSource: contractFor(1), gasLimit: 1_000_000 },
      net.transport(),
    );
    peer = p;
    caller = p;
    target = p.importGranted('V', v.grantRoot('P'));
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i += WINDOW) {
    const calls: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + WINDOW); j++) calls.push(caller.call(target, 'bump', [j]));
    await Promise.all(calls);
  }
  const r = await v.call('o+0', 'n', []);
  if (r.value !== n) throw Error(`filled ${String(r.value)} of ${n}`);
  const ms = performance.now() - t0;
  await v.idle();
  await Promise.all([v.close(), peer?.close()]);
  return ms;
}

export function dirBytes(dir: string): number {
  let bytes = 0;
  for (const f of readdirSync(dir)) bytes += statSync(join(dir, f)).size;
  return bytes;
}

/**
 * Fill a fresh vat in `dir` with `n` deliveries, then time a restart (Kernel.create on the
 * directory until the vat answers a call). Returns the `restart` bench line.
 */
export async function measureRestart(
  dir: string,
  n: number,
  live: number,
  sender: 'host' | 'peer',
): Promise<{ bench: string } & Record<string, unknown>> {
  const fillMs = await fill(dir, n, live, undefined, sender);
  const dataBytes = dirBytes(dir);
  // The transcript since the last checkpoint: under the store's policy (1,000 cranks), wherever
  // in that window the fill happened to stop; the rest of data_bytes is live state.
  const db = KernelDB.open(dir, { readOnly: true });
  const transcriptRows = db.stats().transcriptRows;
  db.close();
  const t0 = performance.now();
  const v = await Kernel.create(options(dir, live, undefined), new LocalNetwork().transport());
  const r = await v.call('o+0', 'n', []);
  const restartMs = performance.now() - t0;
  if (r.value !== n) throw Error(`restarted with ${String(r.value)} of ${n}`);
  const sizes = v.tableSizes();
  await v.close();
  return {
    bench: 'restart',
    deliveries: n,
    live_objects: live,
    sender,
    restart_ms: round(restartMs),
    data_bytes: dataBytes,
    transcript_rows: transcriptRows,
    promise_records: sizes.promises,
    clist_entries: sizes.clistEntries,
    fill_deliveries_per_s: round((n / fillMs) * 1000),
  };
}
