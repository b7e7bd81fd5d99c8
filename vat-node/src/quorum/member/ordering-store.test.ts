// ordering.sqlite: a member's safety state, undecided and decided blocks survive a reopen
// byte for byte (signatures included); deciding a height drops the undecided blocks up to it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Block, QC } from '../ordering/types.ts';
import { OrderingStore } from './ordering-store.ts';

const qc = (round: number): QC =>
  ({
    epoch: 0,
    round,
    blockId: 'ab'.repeat(32),
    signers: new Uint8Array([3]),
    signatures: [new Uint8Array(64).fill(round)],
  }) as unknown as QC;

const block = (height: number, round: number): Block => ({
  epoch: 0,
  round,
  height,
  parent: 'cd'.repeat(32),
  proposer: 'M1',
  justify: qc(round - 1),
  inputs: [{ kind: 'message', from: 'S', seq: height, body: new Uint8Array([1, 2, height]) }],
});

test('safety, blocks and decisions survive a reopen; deciding drops undecided blocks up to it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordering-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = new OrderingStore(dir);
  assert.equal(a.safety(), undefined);
  a.saveSafety({ epoch: 0, highestVotedRound: 7, highQC: qc(6) });
  a.saveBlock(block(3, 5));
  a.saveBlock(block(4, 6));
  a.saveBlock(block(5, 7));
  a.saveDecided({
    blockId: 'ef'.repeat(32),
    epoch: 0,
    round: 6,
    height: 4,
    block: block(4, 6),
    proof: { child: block(5, 7), qc: qc(7) },
  });
  a.close();
  const b = new OrderingStore(dir);
  t.after(() => b.close());
  assert.deepEqual(b.safety(), { epoch: 0, highestVotedRound: 7, highQC: qc(6) });
  assert.deepEqual(b.blocks(), [block(5, 7)], 'blocks up to the decided height are gone');
  const [d] = b.decided(1);
  assert.deepEqual(d?.block, block(4, 6));
  assert.deepEqual(d?.proof.qc, qc(7));
  assert.deepEqual(b.decided(5), []);
});
