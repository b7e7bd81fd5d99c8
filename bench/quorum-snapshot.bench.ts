// Cost of state transfer's parts (vat-node/src/quorum/member/snapshot.ts), one core, for a
// member's kernel store of `rows` rows (keys ~30 characters, values ~120; a quarter of them
// vat store rows, also in the kernel's checkpoint; 200 transcript entries since it):
//  - `digest_ms`: what a member does at every checkpoint height (every checkpointInterval
//    decided blocks, default 1,000): read the committed store whole, drop its local rows, hash
//    the rest and the heap part (KernelDB.image + agreedRows + stateDigestOf);
//  - `serialize_ms`: once the checkpoint is certified, the snapshot as the member serves it;
//  - `verify_ms`: on the fetching side, parse + every check (certificate, digest, position,
//    epochs) of snapshotProblem;
//  - `install_ms`: KernelDB.install of the snapshot (one transaction, synchronous FULL).
// Each figure is the median of 5 runs; the checks' results are asserted.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleCertificate } from '../vat-node/src/quorum/certificate.ts';
import { ConfigChain } from '../vat-node/src/quorum/chain.ts';
import {
  agreedRows,
  HASH_ROW,
  imageOf,
  type Snapshot,
  snapshotProblem,
  stateDigestOf,
  TIP_ROW,
} from '../vat-node/src/quorum/member/snapshot.ts';
import { parseSnapshot } from '../vat-node/src/quorum/member/snapshot-protocol.ts';
import {
  checkpointStatement,
  checkpointValue,
} from '../vat-node/src/quorum/ordering/statements.ts';
import { makeTestQuorum } from '../vat-node/src/quorum/testing.ts';
import { KernelDB } from '../vat-node/src/store/kernel-db.ts';
import { emit, quick, round } from './lib.ts';

const SIZES = quick([1_000, 10_000, 100_000], [1_000, 10_000]);
const q = await makeTestQuorum(3, 2);
const quorum = q.config.quorum;
const chain = new ConfigChain(quorum, q.genesis);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

for (const n of SIZES) {
  const dir = mkdtempSync(join(tmpdir(), 'qv-snapbench-'));
  const other = mkdtempSync(join(tmpdir(), 'qv-snapbench-'));
  try {
    const db = KernelDB.open(dir, { synchronous: 'OFF' });
    const prefixes = ['vs.', 'clist.', 'prom.', 'out.'];
    const value = 'v'.repeat(120);
    const writes: [string, string][] = [];
    for (let i = 0; i < n; i++) {
      writes.push([`${prefixes[i % 4]}${String(i).padStart(24, '0')}`, value]);
    }
    const hash = 'a'.repeat(64);
    writes.push([HASH_ROW, hash]);
    writes.push([
      TIP_ROW,
      JSON.stringify({ id: 'b'.repeat(64), epoch: 0, round: 9, height: 1000 }),
    ]);
    db.commit(writes);
    db.checkpoint();
    for (let i = 0; i < 200; i++) db.commit([], { entry: `["crank",${i},"${value}"]` });

    let snapshot: Snapshot | undefined;
    const digest = median(
      Array.from({ length: 5 }, () =>
        timed(() => {
          const image = db.image();
          const rows = agreedRows(image.rows);
          const heap = { checkpoint: image.checkpoint, transcript: image.transcript };
          const state = stateDigestOf(rows, [], heap);
          snapshot = {
            quorum,
            height: 1000,
            hash,
            state,
            certificate: { epoch: 0, signers: '', signatures: '' },
            rows,
            epochs: [],
            heap,
          };
        }),
      ),
    );
    db.close();
    const s = snapshot!;
    const statement = checkpointStatement(quorum, 0, 1000, checkpointValue(s.hash, s.state));
    const certified: Snapshot = {
      ...s,
      certificate: assembleCertificate(
        q.config,
        q.members.slice(0, 2).map((m) => [m.vatId, m.sign(statement)] as const),
      ),
    };
    let text = '';
    const serialize = median(
      Array.from({ length: 5 }, () =>
        timed(() => {
          text = JSON.stringify(certified);
        }),
      ),
    );
    const verify = median(
      Array.from({ length: 5 }, () =>
        timed(() => assert.equal(snapshotProblem(parseSnapshot(text), quorum, chain), undefined)),
      ),
    );
    const target = KernelDB.open(other);
    const install = median(
      Array.from({ length: 5 }, () => timed(() => target.install(imageOf(certified)))),
    );
    assert.equal(target.entries().length, certified.rows.length);
    target.close();
    emit({
      bench: 'quorum-snapshot',
      rows: n,
      agreed_rows: certified.rows.length,
      snapshot_bytes: Buffer.byteLength(text),
      digest_ms: round(digest, 3),
      serialize_ms: round(serialize, 3),
      verify_ms: round(verify, 3),
      install_ms: round(install, 3),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
}
