/**
 * Replicas of one vat (what quorum members run: kernel option restoreHeapByReplay, commits held
 * to agreed points) with real workers and data directories: a replica that restarts rebuilds
 * its worker's heap by replaying the transcript since the last checkpoint and goes on exactly as
 * a replica that never stopped: the same transcript hash, the same messages out, heap state
 * kept, promises its heap holds still settled. A kernel without the option is the control (its
 * fresh heap forgets, and the comparison sees it). Planned worker refreshes (checkpoints) fall
 * on the same crank whether a replica restarted or not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Kernel, type KernelOptions } from '../../vat-node/src/kernel/kernel.ts';
import { newSecret, redeemProof, sturdyKey } from '../../vat-node/src/kernel/sturdyref.ts';
import type { Sequenced, VatMessage } from '../../vat-node/src/protocol/messages.ts';
import { KernelDB } from '../../vat-node/src/store/kernel-db.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract } from './harness.ts';

const bank = contract('heap-bank.js');
const secret = newSecret();
/** The sender of every input (a client of the replicated vat). */
const S = 'S';

class Replica {
  kernel!: Kernel;
  readonly dir: string;
  readonly options: KernelOptions;
  restarts = 0;
  replayed = 0;

  constructor(t: TestContext, extra: Partial<KernelOptions>) {
    this.dir = mkdtempSync(join(tmpdir(), 'qv-replica-'));
    t.after(async () => {
      await this.kernel?.close();
      rmSync(this.dir, { recursive: true, force: true });
    });
    this.options = {
      vatId: 'Q',
      vatName: 'q',
      contractSource: bank,
      gasLimit: 10_000_000,
      dataDir: this.dir,
      synchronous: 'OFF',
      holdCommits: true,
      bootstrapKeys: [sturdyKey(secret)],
      ...extra,
    };
  }

  async open(): Promise<this> {
    this.kernel = await Kernel.create(this.options, new LocalNetwork().transport());
    this.replayed += this.kernel.stats.replayedCranks;
    return this;
  }

  /** One agreed input, run and committed whole (as a member executes a decided batch). */
  async input(seq: number, msg: VatMessage): Promise<void> {
    assert.equal(this.kernel.receive(S, seq, msg), 'accepted');
    await this.kernel.settle();
  }

  /** Stop the process (everything is committed after settle) and start again on the directory. */
  async restart(): Promise<void> {
    await this.kernel.close();
    this.restarts++;
    await this.open();
  }

  get out(): readonly Sequenced[] {
    return this.kernel.unacked(S, 0);
  }
}

const args = (...xs: unknown[]) => ({ body: `#${JSON.stringify(xs)}`, slots: [] });
const redeem = (): VatMessage => ({
  op: 'redeem',
  key: sturdyKey(secret),
  proof: redeemProof(secret, 'Q', S),
  result: 'p+1',
});
/** A call on the root (o-1 as S writes it: the root was S's first import) or an import. */
const call = (n: number, method: string, xs: unknown[], target = 'o-1'): VatMessage => ({
  op: 'deliver',
  target,
  method,
  args: args(...xs),
  result: `p+${n}`,
});
/** A send-only call (no result: nothing to retire after it, so no crank follows its batch). */
const sendOnly = (method: string, xs: unknown[]): VatMessage => ({
  op: 'deliver',
  target: 'o-1',
  method,
  args: args(...xs),
  result: null,
});

/** The settlement of S's promise p+n (Q writes it p-n), as sent: undefined while pending. */
function answer(out: readonly Sequenced[], n: number): unknown {
  for (const { msg } of out) {
    if (msg.op !== 'resolve') continue;
    for (const r of msg.resolutions) {
      if (r.promise !== `p-${n}`) continue;
      const body = JSON.parse(r.value.body.slice(1)) as unknown;
      return r.rejected ? { rejected: body } : body;
    }
  }
  return undefined;
}

/**
 * The inputs: heap state (balances, a call count), an account handed out (a heap object), two
 * promises left pending in the heap; then, after `restartAt` inputs, what needs all of it.
 */
function script(): { inputs: VatMessage[]; restartAt: number[] } {
  const inputs: VatMessage[] = [
    redeem(),
    call(2, 'open', ['alice']), // its account is S's import o-2 (Q's second export to S)
    call(3, 'deposit', ['alice', 10]),
    call(4, 'later', []),
    call(5, 'deposit', [5], 'o-2'),
    call(6, 'later', []),
    call(7, 'deposit', ['bob', 7]),
    // after a restart: all of this needs the heap as it was
    call(8, 'deposit', [1], 'o-2'),
    call(9, 'release', ['go']),
    call(10, 'report', []),
    call(11, 'balance', [], 'o-2'),
  ];
  return { inputs, restartAt: [4, 6, 7, 9] };
}

test('a replica restarted by replay goes on exactly as one that never stopped; without replay it forgets (control)', async (t) => {
  const { inputs, restartAt } = script();
  const steady = await new Replica(t, { restoreHeapByReplay: true }).open();
  const restarted = await new Replica(t, { restoreHeapByReplay: true }).open();
  const fresh = await new Replica(t, {}).open(); // the kernel's solo behaviour
  for (const [i, msg] of inputs.entries()) {
    for (const r of [restarted, fresh]) if (restartAt.includes(i)) await r.restart();
    for (const r of [steady, restarted, fresh]) await r.input(i + 1, msg);
    assert.equal(
      restarted.kernel.transcript.hash,
      steady.kernel.transcript.hash,
      `the same transcript hash after input ${i + 1}`,
    );
  }
  assert.equal(restarted.restarts, restartAt.length);
  assert.ok(restarted.replayed > 0, 'the restarts replayed cranks');
  assert.deepEqual(restarted.out, steady.out, 'the same messages out, with the same seqs');
  // What the heap held: the promises pending at the restarts settled (with the heap's call
  // count), the balances and the handed-out account still work.
  assert.deepEqual(answer(steady.out, 4), { v: 'go', calls: 5 });
  assert.deepEqual(answer(steady.out, 6), { v: 'go', calls: 5 });
  assert.deepEqual(answer(steady.out, 10), {
    calls: 5,
    balances: [
      ['alice', 16],
      ['bob', 7],
    ],
  });
  assert.equal(answer(steady.out, 11), 16);

  // The control: a fresh heap at each restart rejects what the heap held and forgets state.
  assert.notDeepEqual(fresh.out, steady.out);
  assert.match(JSON.stringify(answer(fresh.out, 4)), /vat restarted before settling/);
  assert.notEqual(fresh.kernel.transcript.hash, steady.kernel.transcript.hash);
});

test('planned worker refreshes (checkpoints) fall on the same crank whether a replica restarted or not', async (t) => {
  // Small policy: a refresh is due every few cranks; the vat is quiescent except between a
  // `later` and its `release` (no heap object is handed out here). Send-only deposits end
  // batches with no crank after them, where a refresh decided but not yet taken would be lost
  // by a restart if the decision were not made from the history alone.
  const checkpoint = { maxRows: 5 };
  const steady = await new Replica(t, { restoreHeapByReplay: true, checkpoint }).open();
  const restarted = await new Replica(t, { restoreHeapByReplay: true, checkpoint }).open();
  const inputs: VatMessage[] = [redeem()];
  for (let i = 0; inputs.length < 40; i++) {
    const n = inputs.length + 1;
    inputs.push(
      i % 4 === 1
        ? call(n, 'later', [])
        : i % 4 === 3
          ? call(n, 'release', [i])
          : i % 8 === 0
            ? call(n, 'deposit', [`a${i % 3}`, i])
            : sendOnly('deposit', [`a${i % 3}`, i]),
    );
  }
  let maxRows = 0;
  for (const [i, msg] of inputs.entries()) {
    // Before every input: a refresh decided after one input and taken at the next would be
    // lost by the restart in between (this fails with the decision kept in memory).
    if (i > 0) await restarted.restart();
    for (const r of [steady, restarted]) await r.input(i + 1, msg);
    // startVat cranks are in the kernel's transcript: a refresh on another crank shows.
    assert.equal(
      restarted.kernel.transcript.hash,
      steady.kernel.transcript.hash,
      `the same transcript hash after input ${i + 1}`,
    );
    maxRows = Math.max(maxRows, steady.kernel.stats.checkpoints);
  }
  assert.deepEqual(restarted.out, steady.out);
  assert.ok(steady.kernel.stats.checkpoints >= 5, `refreshes happened (${maxRows})`);
  // The replay at a restart stays bounded by the policy, not by the history.
  await Promise.all([steady.kernel.close(), restarted.kernel.close()]);
  for (const r of [steady, restarted]) {
    const db = KernelDB.open(r.dir, { readOnly: true });
    try {
      assert.ok(db.stats().transcriptRows < 5 * 4, `${db.stats().transcriptRows} rows kept`);
    } finally {
      db.close();
    }
  }
  assert.ok(
    restarted.replayed < restarted.restarts * 5 * 4,
    `${restarted.replayed} cranks replayed over ${restarted.restarts} restarts`,
  );
  await restarted.open(); // closed again by t.after
  await steady.open();
});
