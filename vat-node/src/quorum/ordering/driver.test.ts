// The driver with real timers and an in-memory transport: three members order inputs with real
// Ed25519 signatures, an asynchronous executor runs each batch once and in order, a member that
// goes silent is replaced by timeout, and a failing executor stops its member with one report.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { VatId } from '../../protocol/identity.ts';
import { makeTestQuorum } from '../testing.ts';
import { type Decision, type Observed, OrderingDriver, vatKeyCrypto } from './driver.ts';
import { Replica } from './replica.ts';
import type { Input } from './types.ts';

/** What one member's driver did, in order: writes inside or outside a transaction, sends. */
type Trace = ('begin' | 'end' | 'safety' | 'block' | 'decided' | 'send')[];

async function quorum(failAt?: number) {
  const q = await makeTestQuorum(3, 2);
  const silent = new Set<VatId>();
  const drivers = new Map<VatId, OrderingDriver>();
  const executed = new Map<VatId, string[]>();
  const observed = new Map<VatId, Observed[]>();
  const traces = new Map<VatId, Trace>();
  for (const m of q.members) {
    const trace: Trace = [];
    traces.set(m.vatId, trace);
    const replica = new Replica({
      self: m.vatId,
      genesis: q.config,
      crypto: vatKeyCrypto(m.sign),
      viewTimeoutMs: 60,
      checkpointInterval: 2,
    });
    let transcript = '';
    executed.set(m.vatId, []);
    observed.set(m.vatId, []);
    const driver = new OrderingDriver({
      replica,
      send: (to, bytes) => {
        trace.push('send');
        if (silent.has(m.vatId) || silent.has(to)) return;
        setImmediate(() => drivers.get(to)?.receive(m.vatId, bytes));
      },
      execute: async (d: Decision) => {
        await tick();
        if (d.height === failAt && m === q.members[0]) throw new Error('disk full');
        for (const i of d.inputs) executed.get(m.vatId)!.push(`${i.from}#${i.seq}`);
        transcript = createHash('sha256')
          .update(transcript)
          .update(JSON.stringify(d.inputs.map((i) => [i.from, i.seq])))
          .digest('hex');
        return transcript;
      },
      observe: (e) => observed.get(m.vatId)!.push(e),
      persistSafety: () => trace.push('safety'),
      persistBlock: () => trace.push('block'),
      persistDecided: () => trace.push('decided'),
      persistTogether: (write) => {
        trace.push('begin');
        write();
        trace.push('end');
      },
    });
    drivers.set(m.vatId, driver);
  }
  for (const d of drivers.values()) d.start();
  const submit = (from: string, seq: number) => {
    const input: Input = { kind: 'message', from, seq, body: Buffer.from(`${from}${seq}`) };
    for (const [id, d] of drivers) if (!silent.has(id)) d.submit(input);
  };
  const until = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 20_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { q, drivers, executed, observed, traces, silent, submit, until };
}

test('three drivers order inputs; the executor runs each batch once, in order; a silent member is replaced by timeout', async () => {
  const { q, drivers, executed, observed, silent, submit, until } = await quorum();
  const ids = q.members.map((m) => m.vatId);
  for (let i = 1; i <= 200; i++) submit('alice', i);
  await until(() => ids.every((id) => executed.get(id)!.length === 200), 'first 200 executed');
  silent.add(ids[2]!);
  for (let i = 201; i <= 400; i++) submit('alice', i);
  const live = ids.slice(0, 2);
  await until(
    () => live.every((id) => executed.get(id)!.length === 400),
    'all 400 on the live two',
  );
  const want = Array.from({ length: 400 }, (_, i) => `alice#${i + 1}`);
  for (const id of live) assert.deepEqual(executed.get(id), want);
  await until(
    () => live.every((id) => observed.get(id)!.some((e) => e.type === 'stable-checkpoint')),
    'stable checkpoints',
  );
  for (const id of live) {
    assert.ok(!observed.get(id)!.some((e) => e.type === 'diverged' || e.type === 'rejected'));
  }
  await Promise.all([...drivers.values()].map((d) => d.close()));
  for (const d of drivers.values()) assert.equal(d.pendingExecutions, 0);
});

test('an executor that fails stops its member once, and runs nothing after', async () => {
  const { q, drivers, executed, observed, submit, until } = await quorum(2);
  const first = q.members[0]!.vatId;
  for (let i = 1; i <= 50; i++) {
    submit('bob', i);
    await tick();
  }
  const others = q.members.slice(1).map((m) => m.vatId);
  await until(() => others.every((id) => executed.get(id)!.length === 50), 'others executed');
  const halts = observed.get(first)!.filter((e) => e.type === 'halted');
  assert.equal(halts.length, 1);
  assert.match(
    halts[0]!.type === 'halted' ? halts[0]!.reason : '',
    /executor failed at height 2: disk full/,
  );
  const ranBefore = executed.get(first)!.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(executed.get(first)!.length, ranBefore, 'nothing ran after the failure');
  await Promise.all([...drivers.values()].map((d) => d.close()));
});

test('what one event asks to keep is written in one transaction, before any of its messages leave', async () => {
  const { q, drivers, executed, traces, submit, until } = await quorum();
  const ids = q.members.map((m) => m.vatId);
  for (let i = 1; i <= 100; i++) submit('carol', i);
  await until(() => ids.every((id) => executed.get(id)!.length === 100), 'all executed');
  await Promise.all([...drivers.values()].map((d) => d.close()));
  for (const trace of traces.values()) {
    let open = false;
    let writes = 0;
    let grouped = 0;
    for (const step of trace) {
      if (step === 'begin') {
        assert.ok(!open, 'no nested transaction');
        open = true;
        writes = 0;
      } else if (step === 'end') {
        open = false;
        if (writes > 1) grouped++;
      } else if (step === 'send') {
        assert.ok(!open, 'nothing is sent while a transaction is open');
      } else {
        assert.ok(open, `${step} written outside a transaction`);
        writes++;
      }
    }
    assert.ok(trace.includes('safety') && trace.includes('decided'));
    assert.ok(grouped > 0, 'some transaction holds more than one write');
  }
});
