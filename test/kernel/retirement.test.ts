/**
 * Settled promises leave the kernel's tables (kernel.ts, "promise retirement"): a vat that
 * answers calls keeps c-lists and promise tables the size of its live state, not of its
 * history, and a settled promise still works wherever it is passed or sent to afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import type { VatMessage } from '../../vat-node/src/protocol/messages.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce, startVats } from './harness.ts';

const source = contract('promises.js');

async function value(k: Kernel, target: string, method: string, args: unknown[] = []) {
  const r = await k.call(target, method, args);
  assert.equal(r.rejected, false, JSON.stringify(r.value));
  return r.value;
}

/** Waits until every vat is idle and its tables stop changing (drops and retires settle). */
async function settled(vats: Kernel[]) {
  let last = '';
  for (let i = 0; i < 200; i++) {
    await Promise.all(vats.map((v) => v.idle()));
    await new Promise((r) => setTimeout(r, 5));
    const now = JSON.stringify(vats.map((v) => v.tableSizes()));
    if (now === last) return vats.map((v) => v.tableSizes());
    last = now;
  }
  throw Error(`tables never settled: ${last}`);
}

/** A, B and C on one in-process network; A holds B's and C's roots. */
async function threeVats(t: TestContext) {
  const vats = await startVats(new LocalNetwork(), ['A', 'B', 'C'], source);
  t.after(() => Promise.all(vats.map((v) => v.close())));
  const [a, b, c] = vats as [Kernel, Kernel, Kernel];
  return { vats, a, b, bRoot: new HostRef(introduce(a, b)), cRoot: new HostRef(introduce(a, c)) };
}

test('after thousands of calls with results, the tables are back to their size before', async (t) => {
  const { vats, a, b, bRoot, cRoot } = await threeVats(t);
  await value(a, 'o+0', 'many', [bRoot, 10]); // first contact: a c-list entry for B's root
  const before = await settled(vats);

  assert.equal(await value(a, 'o+0', 'many', [bRoot, 2000]), (2000 * 1999) / 2);
  assert.deepEqual(await value(a, 'o+0', 'pipelined', [bRoot, 200]), Array(200).fill('hi'));
  assert.equal(await value(a, 'o+0', 'nested', [bRoot]), 5);
  assert.equal(await value(a, 'o+0', 'keepAndPass', [bRoot, 7, cRoot]), 7);
  for (let i = 0; i < 200; i++) await value(a, 'o+0', 'many', [bRoot, 3]);

  const after = await settled(vats);
  // The 200 things B made are live (B's vat exported them); their promises are not.
  assert.deepEqual(
    after.map((s) => s.promises),
    before.map((s) => s.promises),
  );
  assert.ok(after[0]!.clistEntries - before[0]!.clistEntries <= 200, JSON.stringify(after));
  assert.ok(b.stats.cranks > 3000, `B ran ${b.stats.cranks} cranks`);
});

test('a settled promise passed on later arrives settled, to its decider and to a third vat', async (t) => {
  const { a, bRoot, cRoot } = await threeVats(t);
  for (let i = 0; i < 20; i++) {
    assert.equal(await value(a, 'o+0', 'keepAndPass', [bRoot, i, cRoot]), i);
    assert.equal(await value(a, 'o+0', 'keepAndPass', [bRoot, i, bRoot]), i);
  }
  assert.equal(await value(a, 'o+0', 'nested', [bRoot]), 5);
});

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-retire-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const startB = (net: LocalNetwork, dataDir: string) =>
  Kernel.create(
    { vatId: 'B', vatName: 'B', contractSource: source, gasLimit: 1_000_000, dataDir },
    net.transport(),
  );

/** B's outbound resolution of M's promise `wire` (as M wrote it), once committed. */
async function resolutionFor(b: Kernel, wire: string) {
  const theirs = `p-${wire.slice(2)}`;
  for (let i = 0; i < 200; i++) {
    await b.idle();
    for (const { msg } of b.unacked('M', 0)) {
      const r = (msg as Extract<VatMessage, { op: 'resolve' }>).resolutions?.find(
        (x) => x.promise === theirs,
      );
      if (r) return r;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw Error(`no resolution of ${wire}`);
}

test('after a restart, messages to promises the vat settled before go where they went', async (t) => {
  const dir = tempDir(t);
  const net = new LocalNetwork();
  let b = await startB(net, dir);
  // M: a peer driven by hand (no kernel), so that it holds on to B's promises.
  const root = `o-${b.grantRoot('M').slice(2)}`;
  const args = { body: '#[]', slots: [] };
  let seq = 0;
  const send = (msg: VatMessage) => b.receive('M', ++seq, msg);
  send({ op: 'deliver', target: root, method: 'cell', args, result: 'p+1' });
  send({ op: 'deliver', target: root, method: 'data', args, result: 'p+2' });
  send({ op: 'deliver', target: root, method: 'later', args, result: 'p+3' });
  assert.equal((await resolutionFor(b, 'p+1')).rejected, false);
  // Before the restart the vat still maps p+1 and forwards what M sends to it.
  send({ op: 'deliver', target: 'p+1', method: 'get', args, result: 'p+4' });
  assert.equal((await resolutionFor(b, 'p+4')).value.body, '#1');

  await b.close();
  b = await startB(net, dir);
  t.after(() => b.close());
  // The new worker knows none of them: the kernel forwards by the settlement it kept.
  send({ op: 'deliver', target: 'p+1', method: 'get', args, result: 'p+5' });
  assert.equal((await resolutionFor(b, 'p+5')).value.body, '#1');
  send({ op: 'deliver', target: 'p+1', method: 'hi', args, result: 'p+6' });
  assert.equal((await resolutionFor(b, 'p+6')).value.body, '#"hi"');
  const toData = await resolutionFor(b, 'p+2').then(() => {
    send({ op: 'deliver', target: 'p+2', method: 'foo', args, result: 'p+7' });
    return resolutionFor(b, 'p+7');
  });
  assert.equal(toData.rejected, true);
  assert.match(toData.value.body, /cannot send foo to data/);
  // `later` was pending in the old worker's heap: it can never settle now, so it is rejected.
  const lost = await resolutionFor(b, 'p+3');
  assert.equal(lost.rejected, true);
  assert.match(lost.value.body, /vat restarted before settling/);
  // And messages to it are rejected the same way.
  send({ op: 'deliver', target: 'p+3', method: 'x', args, result: 'p+8' });
  assert.match((await resolutionFor(b, 'p+8')).value.body, /vat restarted before settling/);
  // M drops them: B forgets every one of them.
  send({ op: 'drop', refs: ['p+1', 'p+2', 'p+3', 'p+4', 'p+5', 'p+6', 'p+7', 'p+8'] });
  const sizes = (await settled([b]))[0]!;
  assert.equal(sizes.promises, 0, JSON.stringify(sizes));
  assert.equal(sizes.clistEntries, 2); // M's entries for B's root and its cell
});
