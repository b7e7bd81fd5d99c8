// State transfer from a checkpoint on real member processes (127.0.0.1, VatTP over libp2p, the
// members' HTTP endpoints), while a solo vat keeps calls in flight: members keep few decided
// blocks (history is pruned long before the new host arrives), so a learner admitted later
// installs a member's certified checkpoint (its state digest signed by k members), then pulls
// the decided blocks after it; it is voted in and all members agree. A founder whose stores are
// wiped rejoins the same way. A member serving tampered snapshots (a changed row, a broken
// certificate signature) is refused with one line each and another member's snapshot is used.
// A running member left behind what the others keep halts, saying so; restarted, it installs a
// checkpoint above its tip. Every answer comes once and in order. A bank keeping its state in the heap (balances, a call
// count, pending promises) is transferred too: the new member's answers are needed and right.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ConfigChange, requestChange, verifyChain } from '../../vat-node/src/quorum/chain.ts';
import type { QuorumConfig } from '../../vat-node/src/quorum/config.ts';
import { ORDERING_DB_FILE } from '../../vat-node/src/quorum/member/ordering-store.ts';
import { SNAPSHOT_FILE } from '../../vat-node/src/quorum/member/state-transfer.ts';
import { DB_FILE } from '../../vat-node/src/store/kernel-db.ts';
import {
  agreed,
  callStream,
  errorLines,
  type MemberHost,
  type MemberProcess,
  makeQuorum,
  newHost,
  type QuorumFixture,
  type SoloVat,
  startMember,
  startSolo,
  until,
} from './members.ts';

const PATCH = new URL('./snapshot-tamper-patch.ts', import.meta.url).pathname;
const HEAP_BANK = new URL('../kernel/contracts/heap-bank.js', import.meta.url).pathname;
/** Decided blocks members keep (default 10,000): small, so history is pruned soon. */
const KEEP = 150;
const INTERVAL = 10;
/** Heights reached before a learner is admitted: well past what members keep. */
const PRUNED_AT = 2 * KEEP;

const url = (h: MemberHost, path: string) => `http://127.0.0.1:${h.httpPort}${path}`;

interface Readyz {
  quorum: {
    epoch: number;
    role: string;
    caughtUp: boolean;
    restoredFrom: { height: number; peer: string } | null;
    ordering: { height: number };
  };
}
const probe = (h: MemberHost) =>
  fetch(url(h, '/readyz'))
    .then((r) => r.json() as Promise<Readyz>)
    .catch(() => undefined);

async function chainDoc(h: MemberHost): Promise<Record<string, unknown>> {
  return (await (await fetch(url(h, '/quorum/chain'))).json()) as Record<string, unknown>;
}

/** Signs a change for the newest configuration and POSTs it to the given members. */
async function change(
  q: QuorumFixture,
  to: readonly MemberHost[],
  make: (current: QuorumConfig) => ConfigChange,
): Promise<Record<string, unknown>> {
  const doc = await chainDoc(to[0]!);
  const current = verifyChain(q.quorum, doc['genesis'], doc['records'] as unknown[]).at(-1)!;
  const signed = requestChange(q.admin.sign, current, make(current));
  const answers = await Promise.all(
    to.map(async (h) => {
      const res = await fetch(url(h, '/quorum/changes?wait=60000'), {
        method: 'POST',
        body: JSON.stringify(signed),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }),
  );
  const decided = answers.find((a) => a.status === 200);
  assert.ok(decided !== undefined, JSON.stringify(answers));
  return decided.body;
}

/** Until `h` decided past `height` (calls keep flowing). */
const reached = (h: MemberHost, height: number) =>
  until(`height ${height}`, 300_000, async () => {
    const r = await probe(h);
    return (r?.quorum.ordering.height ?? 0) >= height ? r : undefined;
  });

/** The member's lines saying it refused a snapshot, and the one saying it installed one. */
const refusals = (m: MemberProcess) =>
  m.logs.filter((l) => l['msg'] === 'snapshot from a member refused; asking another member');
const restored = (m: MemberProcess) =>
  m.logs.filter((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('caught up from a'));

const TOO_FAR = /too far behind/;
const CERT_REFUSED = /checkpoint certificate refused: .*does not verify/;

/**
 * Starts a host that must install a checkpoint and waits until `ready` holds of its /readyz.
 * The quorum keeps deciding meanwhile: with calls flowing, it can decide past the few blocks
 * members keep (KEEP) between the host's install and its first sync. The host then halts with
 * the one line saying a restart installs a newer checkpoint (README, "State transfer"), and
 * /healthz fails so that a supervisor (the operator's liveness probe) restarts it. This does
 * what the supervisor does, a few times at most; `attempts` says how many starts it took.
 */
async function startUntil(
  what: string,
  h: MemberHost,
  start: () => Promise<MemberProcess>,
  processes: Map<string, MemberProcess>,
  ready: (r: Readyz) => boolean,
): Promise<{ process: MemberProcess; readyz: Readyz; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    const p = await start();
    processes.set(h.vatId, p);
    const r = await until(what, 180_000, async () => {
      if (errorLines(p).some((l) => TOO_FAR.test(String(l['reason'])))) return 'too far' as const;
      const r = await probe(h);
      return r !== undefined && ready(r) ? r : undefined;
    });
    if (r !== 'too far') return { process: p, readyz: r, attempts };
    assert.ok(attempts < 4, `${what}: still too far behind after ${attempts} starts`);
    await p.stop('SIGKILL');
  }
}

/** Kills a member and deletes its kernel and ordering stores (its host key stays). */
async function wipe(p: MemberProcess, h: MemberHost): Promise<void> {
  await p.stop('SIGKILL');
  for (const f of [DB_FILE, ORDERING_DB_FILE, SNAPSHOT_FILE]) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      rmSync(join(h.dataDir, f + suffix), { force: true });
    }
  }
}

/** Admits a new host as a learner and starts it with the chain so far. */
async function admitLearner(
  q: QuorumFixture,
  members: readonly MemberHost[],
  solo: SoloVat,
): Promise<{ host: MemberHost; chainFile: string }> {
  const x = await newHost(q);
  await solo.knowHost(x);
  const body = await change(q, members, () => ({ op: 'add-learner', member: x.vatId }));
  assert.equal(body['state'], 'decided');
  const chainFile = join(q.root, `chain-${x.vatId.slice(-6)}.json`);
  writeFileSync(chainFile, JSON.stringify(await chainDoc(members[0]!)));
  return { host: x, chainFile };
}

test('a learner admitted after history was pruned catches up from a checkpoint and is voted in; a member whose stores are wiped rejoins the same way; a member left behind halts and, restarted, does too', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: INTERVAL });
  t.after(() => q.cleanup());
  const processes = new Map<string, MemberProcess>();
  t.after(() => Promise.all([...processes.values()].map((m) => m.stop('SIGKILL'))));
  for (const [i, h] of q.members.entries()) {
    processes.set(h.vatId, await startMember(q, i, { http: true, keepDecided: KEEP }));
  }
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const calls = callStream(solo, await solo.redeem(q.sturdyRef));
  const founders = [...q.members];
  await reached(founders[0]!, PRUNED_AT);
  t.diagnostic(`height ${PRUNED_AT} after ${calls.answers.length} calls`);

  // 1. A learner admitted now cannot sync from genesis: it installs a certified checkpoint.
  const { host: x, chainFile } = await admitLearner(q, founders, solo);
  /** Starts host `h` as this test runs every member after the founders. */
  const starter = (h: MemberHost) => () =>
    startMember(q, h, { http: true, chainFile, keepDecided: KEEP });
  let t0 = Date.now();
  const first = await startUntil(
    'the learner caught up',
    x,
    starter(x),
    processes,
    (r) => r.quorum.role === 'learner' && r.quorum.caughtUp,
  );
  const caughtUp = first.readyz;
  const from = caughtUp.quorum.restoredFrom;
  assert.ok(from !== null, 'the learner restored a checkpoint');
  assert.ok(from.height >= PRUNED_AT - INTERVAL && from.height % INTERVAL === 0, `${from.height}`);
  assert.ok(founders.some((f) => f.vatId === from.peer));
  const learner = first.process;
  assert.equal(restored(learner).length, 1);
  // From nothing; after a restart, from the checkpoint the first start installed.
  if (first.attempts === 1) assert.equal(restored(learner)[0]!['fromHeight'], 0);
  else assert.ok(Number(restored(learner)[0]!['fromHeight']) >= PRUNED_AT - INTERVAL);
  t.diagnostic(
    `learner restored height ${from.height}, caught up to ${caughtUp.quorum.ordering.height} in ${Date.now() - t0} ms, ${first.attempts} start(s)`,
  );
  await calls.progressed(calls.answers.length + 20);

  // 2. Voted in: (4,3). It votes and all four agree.
  const add = await change(q, founders, () => ({ op: 'add', member: x.vatId, threshold: 3 }));
  assert.equal(add['epoch'], 2);
  await until('the new member votes', 60_000, async () => {
    const r = await probe(x);
    return r?.quorum.role === 'member' && r.quorum.epoch === 2 ? r : undefined;
  });
  await calls.progressed(calls.answers.length + 20);
  await calls.quiet(() => agreed([...processes.values()]));

  // 3. A founder loses its stores (host key kept); the other three (k = 3) go on far past
  // what anyone keeps of its history; restarted, it installs a checkpoint and catches up.
  const lost = founders[1]!;
  await wipe(processes.get(lost.vatId)!, lost);
  const at = (await probe(founders[0]!))!.quorum.ordering.height;
  await reached(founders[0]!, at + KEEP + 2 * INTERVAL);
  t0 = Date.now();
  const { readyz: back } = await startUntil(
    'the wiped member is back',
    lost,
    starter(lost),
    processes,
    (r) => r.quorum.role === 'member' && r.quorum.restoredFrom !== null,
  );
  assert.ok(back.quorum.restoredFrom!.height > at + KEEP, 'a checkpoint after the wipe');
  t.diagnostic(
    `wiped member restored height ${back.quorum.restoredFrom!.height} in ${Date.now() - t0} ms`,
  );
  await calls.progressed(calls.answers.length + 20);

  // 4. A running member falls behind what the others keep (stopped while they go on): it halts
  // with one line saying so; restarted, it installs a checkpoint above its own tip.
  const behind = founders[2]!;
  const stalled = processes.get(behind.vatId)!;
  const before = (await probe(founders[0]!))!.quorum.ordering.height;
  await stalled.stop('SIGSTOP');
  await reached(founders[0]!, before + KEEP + 2 * INTERVAL);
  await stalled.stop('SIGCONT');
  const halted = await until('the member left behind halts', 60_000, async () =>
    errorLines(stalled).find((l) => TOO_FAR.test(String(l['reason']))),
  );
  assert.match(String(halted['reason']), /restart it to install the latest stable checkpoint/);
  assert.equal(errorLines(stalled).length, 1, 'one line');
  await stalled.stop('SIGKILL');
  const { process: resumed } = await startUntil(
    'the member left behind is back',
    behind,
    starter(behind),
    processes,
    (r) => r.quorum.role === 'member' && r.quorum.restoredFrom !== null,
  );
  const line = restored(resumed)[0]!;
  assert.ok(Number(line['fromHeight']) > 0 && Number(line['height']) > before + KEEP);
  await calls.progressed(calls.answers.length + 20);
  await calls.stop();
  await agreed([...processes.values()]);
  t.diagnostic(`${calls.answers.length} calls answered`);
  for (const p of processes.values()) assert.deepEqual(errorLines(p), [], p.vatId);
  assert.equal(refusals(learner).length, 0);
});

test('a member serving a tampered snapshot (a changed row, then a broken certificate) is refused with one line each; another member’s is installed', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: INTERVAL });
  t.after(() => q.cleanup());
  const processes = new Map<string, MemberProcess>();
  t.after(() => Promise.all([...processes.values()].map((m) => m.stop('SIGKILL'))));
  // The first member in the configuration's order is asked first: it lies.
  const liar = q.members[0]!;
  for (const [i, h] of q.members.entries()) {
    const saved = process.env['NODE_OPTIONS'];
    if (i === 0) {
      process.env['NODE_OPTIONS'] = `${saved ?? ''} --import ${PATCH}`.trim();
      process.env['QUORUMVAT_SNAPSHOT_TAMPER'] = 'rows,certificate';
    }
    const started = startMember(q, i, { http: true, keepDecided: KEEP });
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
    delete process.env['QUORUMVAT_SNAPSHOT_TAMPER'];
    processes.set(h.vatId, await started);
  }
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const calls = callStream(solo, await solo.redeem(q.sturdyRef));
  await reached(q.members[1]!, PRUNED_AT);

  const { host: x, chainFile } = await admitLearner(q, q.members, solo);
  const start = () => startMember(q, x, { http: true, chainFile, keepDecided: KEEP });
  let learner: MemberProcess;
  let starts = 0;
  /**
   * Starts the learner; each start asks the liar first and refuses it once (the liar tampers
   * its first snapshot's rows, then breaks the certificate of every later one).
   */
  const check = async (reason: RegExp) => {
    const caught = await startUntil('the learner caught up', x, start, processes, (r) =>
      Boolean(r.quorum.caughtUp && r.quorum.restoredFrom !== null),
    );
    learner = caught.process;
    starts += caught.attempts;
    const r = caught.readyz;
    const refused = refusals(learner);
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.equal(refused[0]!['peer'], liar.vatId);
    assert.match(String(refused[0]!['reason']), caught.attempts === 1 ? reason : CERT_REFUSED);
    assert.notEqual(r.quorum.restoredFrom!.peer, liar.vatId);
  };
  await check(/do not match the certified state digest/);
  await calls.progressed(calls.answers.length + 20);

  // The learner loses its stores too: asked again, the liar breaks a certificate signature.
  await wipe(learner!, x);
  await check(CERT_REFUSED);
  await calls.progressed(calls.answers.length + 20);
  await calls.stop();
  await agreed([...processes.values()]);
  assert.equal(
    processes.get(liar.vatId)!.logs.filter((l) => l['msg'] === 'tampered snapshot').length,
    starts,
  );
  for (const p of processes.values()) assert.deepEqual(errorLines(p), [], p.vatId);
});

test('heap-only contract state is transferred: a learner of a bank keeping balances, a call count and pending promises in its heap answers right once its vote is needed', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: INTERVAL });
  t.after(() => q.cleanup());
  const opts = { http: true, keepDecided: KEEP, contract: HEAP_BANK };
  const processes = new Map<string, MemberProcess>();
  t.after(() => Promise.all([...processes.values()].map((m) => m.stop('SIGKILL'))));
  for (const [i, h] of q.members.entries()) processes.set(h.vatId, await startMember(q, i, opts));
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const root = await solo.redeem(q.sturdyRef);
  const value = async (method: string, args: unknown[]) => {
    const r = await solo.kernel.call(root, method, args);
    assert.equal(r.rejected, false, `${method}: ${JSON.stringify(r.value)}`);
    return r.value;
  };
  let balance = 0;
  let calls = 0;
  /** `n` deposits in flight at once; each answer is the running balance, in order. */
  const deposits = async (n: number) => {
    const amounts = Array.from({ length: n }, (_, i) => i + 1);
    const got = await Promise.all(amounts.map((x) => value('deposit', ['a', x])));
    const want = amounts.map((x) => {
      balance += x;
      return balance;
    });
    calls += n;
    assert.deepEqual(got, want, 'every deposit answered once, in order');
  };
  // Two promises the bank's heap holds pending from the start (settled by `release`).
  const pending = [value('later', []), value('later', [])];
  const founders = [...q.members];
  while (((await probe(founders[0]!))?.quorum.ordering.height ?? 0) < PRUNED_AT) await deposits(4);

  const { host: x, chainFile } = await admitLearner(q, founders, solo);
  const { readyz: caughtUp } = await startUntil(
    'the learner caught up',
    x,
    () => startMember(q, x, { ...opts, chainFile }),
    processes,
    (r) => Boolean(r.quorum.caughtUp && r.quorum.restoredFrom !== null),
  );
  assert.ok(caughtUp.quorum.restoredFrom!.height >= PRUNED_AT - INTERVAL);
  await deposits(8);
  const add = await change(q, founders, () => ({ op: 'add', member: x.vatId, threshold: 3 }));
  assert.equal(add['epoch'], 2);
  await until('the new member votes', 60_000, async () => {
    const r = await probe(x);
    return r?.quorum.role === 'member' && r.quorum.epoch === 2 ? r : undefined;
  });
  await agreed([...processes.values()]);

  // A founder goes: k = 3 of the 3 left, so every answer needs the new member's identical vote.
  await processes.get(founders[2]!.vatId)!.stop('SIGKILL');
  processes.delete(founders[2]!.vatId);
  await deposits(10);
  assert.equal(await value('release', ['go']), 2);
  assert.deepEqual(await Promise.all(pending), [
    { v: 'go', calls },
    { v: 'go', calls },
  ]);
  assert.deepEqual(await value('report', []), { calls, balances: [['a', balance]] });
  await agreed([...processes.values()]);
  for (const p of processes.values()) assert.deepEqual(errorLines(p), [], p.vatId);
});
