// The state digest (what a checkpoint certifies about a member's state) and every reason a
// snapshot is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GENESIS_HASH } from '../../store/chain.ts';
import { KernelDB } from '../../store/kernel-db.ts';
import { assembleCertificate } from '../certificate.ts';
import { ConfigChain } from '../chain.ts';
import { checkpointStatement, checkpointValue } from '../ordering/statements.ts';
import { makeTestQuorum } from '../testing.ts';
import {
  agreedRows,
  HASH_ROW,
  type HeapPart,
  heapDigestOf,
  imageOf,
  type Snapshot,
  snapshotProblem,
  stateDigestOf,
  TIP_ROW,
} from './snapshot.ts';
import { parseSnapshot } from './snapshot-protocol.ts';

const q = await makeTestQuorum(3, 2);
const quorum = q.config.quorum;
const chain = new ConfigChain(quorum, q.genesis);
const hash = 'a'.repeat(64);
const HEIGHT = 20;

const rows: [string, string][] = [
  ['clist.P.o-1', 'o+0'],
  ['meta.contractHash', 'c'.repeat(64)],
  [HASH_ROW, hash],
  [TIP_ROW, JSON.stringify({ id: 'b'.repeat(64), epoch: 0, round: 23, height: HEIGHT })],
  ['peer.P', '[3,7,1,1]'],
  ['vs.count', '41'],
];

const HEAP: HeapPart = {
  checkpoint: { prefix: 'vs.', position: 0, hash: GENESIS_HASH, entries: [['vs.count', '40']] },
  transcript: [
    '[{"type":"startVat"},{"ok":true}]',
    '[{"type":"message","target":"o+0"},{"ok":true}]',
    '[{"type":"retire","vrefs":["p-1"]},{"ok":true}]',
  ],
};

function snapshot(over: Partial<Snapshot> = {}, signers = q.config.members.slice(0, 2)) {
  const r = over.rows ?? rows;
  const epochs = over.epochs ?? [];
  const heap = over.heap ?? HEAP;
  const state = over.state ?? stateDigestOf(r, epochs, heap);
  const h = over.hash ?? hash;
  const height = over.height ?? HEIGHT;
  const statement = checkpointStatement(quorum, 0, height, checkpointValue(h, state));
  const certificate = assembleCertificate(
    q.config,
    signers.map((s) => [s, q.signerOf.get(s)!(statement)] as const),
  );
  return {
    quorum,
    height,
    hash: h,
    state,
    certificate,
    rows: r,
    epochs,
    heap,
    ...over,
  } satisfies Snapshot;
}

test('the state digest is deterministic, covers every agreed row and epoch, and skips local rows', () => {
  const d = stateDigestOf(rows, []);
  assert.equal(
    stateDigestOf(
      rows.map(([k, v]) => [k, v]),
      [],
    ),
    d,
    'same rows, same digest',
  );
  assert.match(d, /^[0-9a-f]{64}$/);
  for (let i = 0; i < rows.length; i++) {
    const changed = rows.map(([k, v], j) => [k, j === i ? `${v}x` : v] as [string, string]);
    assert.notEqual(stateDigestOf(changed, []), d, `value of ${rows[i]![0]} counts`);
    assert.notEqual(stateDigestOf(rows.toSpliced(i, 1), []), d, `row ${rows[i]![0]} counts`);
  }
  assert.notEqual(stateDigestOf(rows, [{ epoch: 1, root: 'r', since: 5 }]), d, 'epochs count');
  // Framing: moving bytes between a key and its value changes the digest.
  assert.notEqual(stateDigestOf([['ab', 'c']], []), stateDigestOf([['a', 'bc']], []));
  // Local rows (outbox, departures, address hints, certificates given) are left out.
  const withLocal: [string, string][] = [
    ['addr.P', '["/ip4/1.2.3.4"]'],
    ['cert.o-1.P', 'cert'],
    ...rows.slice(0, 4),
    ['gone.P', '12345'],
    ['out.P.0000000000000001', '{}'],
    ...rows.slice(4),
  ] as [string, string][];
  withLocal.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  assert.deepEqual(agreedRows(withLocal), rows);
  assert.throws(() => stateDigestOf(withLocal, []), /local to a member/);
  assert.throws(() => stateDigestOf([...rows].reverse(), []), /sorted/);
  // The heap part: the checkpointed vat store and every crank since, but retire cranks.
  const h = heapDigestOf(HEAP);
  assert.equal(heapDigestOf(structuredClone(HEAP)), h);
  assert.notEqual(stateDigestOf(rows, [], HEAP), d, 'the heap part counts');
  const cp = HEAP.checkpoint;
  const changes: [string, HeapPart][] = [
    ['a checkpoint row', { ...HEAP, checkpoint: { ...cp, entries: [['vs.count', '41']] } }],
    ['a crank', { ...HEAP, transcript: HEAP.transcript.toSpliced(1, 1) }],
    ['a worker start', { ...HEAP, transcript: [HEAP.transcript[0]!, ...HEAP.transcript] }],
  ];
  for (const [what, heap] of changes) assert.notEqual(heapDigestOf(heap), h, what);
  // Where the kernel's own chain stands, and retire cranks, are each member's own.
  const same: [string, HeapPart][] = [
    ['another position', { ...HEAP, checkpoint: { ...cp, position: 17, hash: 'f'.repeat(64) } }],
    ['no retire', { ...HEAP, transcript: HEAP.transcript.slice(0, 2) }],
  ];
  for (const [what, heap] of same) assert.equal(heapDigestOf(heap), h, what);
});

test('a snapshot with a valid certificate and matching rows passes; it survives its JSON', () => {
  const s = snapshot();
  assert.equal(snapshotProblem(s, quorum, chain), undefined);
  const again = parseSnapshot(JSON.stringify(s));
  assert.equal(snapshotProblem(again, quorum, chain), undefined);
});

test('every tampered or miscertified snapshot is refused, with its reason', () => {
  const good = snapshot();
  const refusals: [string, Snapshot, RegExp][] = [
    ['another quorum', { ...good, quorum: 'other' }, /another quorum vat/],
    [
      'a tampered row (digest recomputed, certificate not)',
      snapshot({ rows: rows.map(([k, v]) => [k, k === 'vs.count' ? '1000000' : v]) }, []),
      /certificate refused/,
    ],
    [
      'a tampered row under the real certificate',
      { ...good, rows: rows.map(([k, v]) => [k, k === 'vs.count' ? '1000000' : v]) },
      /do not match the certified state digest/,
    ],
    ['a row added', { ...good, rows: [...rows, ['vs.zz', '1']] }, /do not match the certified/],
    ['a row removed', { ...good, rows: rows.slice(1) }, /do not match the certified/],
    ['another state digest', { ...good, state: 'f'.repeat(64) }, /certificate refused/],
    ['another transcript hash', { ...good, hash: 'e'.repeat(64) }, /certificate refused/],
    ['another height', { ...good, height: HEIGHT + 1 }, /certificate refused/],
    [
      'one signature short',
      snapshot({}, q.config.members.slice(0, 1)),
      /certificate refused: 1 member signatures, threshold 2/,
    ],
    [
      'a broken signature',
      {
        ...good,
        certificate: {
          ...good.certificate,
          signatures: flipFirstBit(good.certificate.signatures),
        },
      },
      /does not verify/,
    ],
    [
      'a certificate of an epoch the chain does not hold',
      { ...good, certificate: { ...good.certificate, epoch: 3 } },
      /not in this host's chain/,
    ],
    [
      'rows at another position (certified as such)',
      snapshot({ rows: rows.map(([k, v]) => [k, k === HASH_ROW ? 'd'.repeat(64) : v]) }),
      /another transcript hash/,
    ],
    [
      'rows standing at another height (certified as such)',
      snapshot({
        rows: rows.map(([k, v]) => [k, k === TIP_ROW ? v.replace(`:${HEIGHT}}`, ':19}') : v]),
      }),
      /another height/,
    ],
    [
      'epochs the chain does not have',
      snapshot({ epochs: [{ epoch: 1, root: 'r', since: 5 }] }),
      /epochs do not match/,
    ],
    [
      'a tampered heap transcript (the vat would rebuild another heap)',
      { ...good, heap: { ...good.heap, transcript: good.heap.transcript.slice(0, 1) } },
      /do not match the certified state digest/,
    ],
    [
      'a tampered kernel checkpoint',
      {
        ...good,
        heap: {
          ...good.heap,
          checkpoint: { ...good.heap.checkpoint, entries: [['vs.count', '39']] },
        },
      },
      /do not match the certified state digest/,
    ],
    [
      'a malformed heap image',
      {
        ...good,
        heap: { ...good.heap, checkpoint: { ...good.heap.checkpoint, hash: 'nope' } },
      },
      /heap: bad checkpoint hash/,
    ],
  ];
  for (const [what, s, reason] of refusals) {
    assert.match(snapshotProblem(s, quorum, chain) ?? '(accepted)', reason, what);
  }
  assert.throws(() => parseSnapshot('{"quorum":1}'), /is not a (string|list)/);
  assert.throws(() => parseSnapshot('[]'), /not a string|not a list/);
});

test('installing a snapshot replaces a store in one transaction; the heap part chains', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-snap-'));
  try {
    const db = KernelDB.open(dir);
    db.commit([['vs.old', 'gone']], { entry: '["old"]' });
    const s = snapshot();
    db.install(imageOf(s));
    assert.deepEqual(db.entries(), rows);
    assert.equal(db.head.position, HEAP.transcript.length);
    assert.deepEqual(db.checkpointState().entries, HEAP.checkpoint.entries);
    assert.equal(db.verifyChain().ok, true);
    db.close();
    const again = KernelDB.open(dir, { check: 'full' });
    assert.deepEqual(
      again.transcriptSince().map((r) => r.entry),
      HEAP.transcript,
    );
    assert.throws(
      () => again.install({ ...imageOf(s), rows: [...rows].reverse() }),
      /sorted by unique key/,
    );
    assert.deepEqual(again.entries(), rows, 'a refused image changes nothing');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function flipFirstBit(b64: string): string {
  const bytes = Buffer.from(b64, 'base64url');
  bytes[0]! ^= 1;
  return bytes.toString('base64url');
}
