/**
 * DHT-only discovery across three processes: B and C know only A's address (bootstrap);
 * B sends to C knowing nothing but C's VatID, so C's address must come from the Kad-DHT.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import { expectedHash } from './fixtures/workload.ts';
import { outboxFor, receivedFrom, spawnVat, tempDir } from './helpers.ts';

test("B reaches C through the DHT knowing only C's VatID and the bootstrap peer A", async (t) => {
  const root = tempDir(t, 'vattp-dht-');
  const dirC = join(root, 'c');
  const c = await loadOrCreateIdentity(dirC);

  const procA = spawnVat(t, ['--data-dir', join(root, 'a')]);
  const ready = await procA.waitFor('A ready', (l) => l.event === 'ready');
  const bootstrap = (ready.addrs as string[])[0] ?? '';
  assert.ok(bootstrap.includes('/p2p/'));

  const procC = spawnVat(t, ['--data-dir', dirC, '--bootstrap', bootstrap]);
  await procC.waitFor('C ready', (l) => l.event === 'ready');
  // No --hint: B's only lead to C is its VatID.
  const procB = spawnVat(t, [
    '--data-dir',
    join(root, 'b'),
    '--bootstrap',
    bootstrap,
    '--send-to',
    c.vatId,
    '--count',
    '100',
    '--status-ms',
    '50',
  ]);
  const b = await procB.waitFor('B ready', (l) => l.event === 'ready');
  const bId = b.vatId as string;

  const got = await procC.waitFor(
    'C receives 100 from B',
    (l) => l.event === 'status' && receivedFrom(l, bId).count >= 100,
  );
  assert.deepEqual(receivedFrom(got, bId).errors, []);
  assert.equal(receivedFrom(got, bId).hash, expectedHash(100));
  await procB.waitFor(
    'B sees everything acked',
    (l) =>
      l.event === 'status' &&
      (l.sent as Record<string, number>)[c.vatId] === 100 &&
      outboxFor(l, c.vatId) === 0,
  );
});
