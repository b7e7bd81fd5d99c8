/**
 * Liveslots driven in-process the way worker.ts drives it (SES lockdown, the HandledPromise
 * shim, a real contract loaded into a Compartment, one crank per delivery), asserting the
 * exact syscalls and store writes each delivery produces.
 */
import './lockdown.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';

const { loadContract } = await import('../confinement/compartment.ts');
const { Liveslots } = await import('./liveslots.ts');
const { GasMeter } = await import('./meter.ts');
const { VatStore } = await import('./vatstore.ts');
type CrankOutcome = import('./protocol.ts').CrankOutcome;
type Delivery = import('./protocol.ts').Delivery;
type VatResolution = import('./protocol.ts').VatResolution;
type CapData = import('../protocol/messages.ts').CapData;

/** A vat as its worker holds it: liveslots plus the loaded contract. */
function startVat(
  source: string,
  store: Iterable<readonly [string, string]> = [],
  gas = 1_000_000,
) {
  const meter = new GasMeter();
  const ls = new Liveslots(new VatStore(store), meter, gas);
  meter.reset(gas);
  const ns = loadContract(source, meter.facade);
  const build = (powers: unknown) => ns.buildRootObject(powers);
  return {
    ls,
    crank: (d: Delivery) => ls.crank(d, () => build),
  };
}

/** Smallcaps capdata of plain data (strings here never start with a smallcaps sigil). */
const data = (v: unknown, slots: string[] = []): CapData => ({
  body: `#${JSON.stringify(v)}`,
  slots,
});

const msg = (target: string, method: string, args: CapData, result: string | null = null) =>
  ({ type: 'message', target, method, args, result }) as const;

function ok(outcome: CrankOutcome) {
  if (!outcome.ok) assert.fail(`crank failed: ${outcome.error}`);
  return outcome;
}

/** The crank's only syscall, which must be a resolve of one promise. */
function onlyResolution(out: CrankOutcome & { ok: true }): VatResolution {
  assert.equal(out.syscalls.length, 1);
  const [s] = out.syscalls;
  if (s?.type !== 'resolve' || s.resolutions.length !== 1)
    assert.fail(`not one resolve: ${JSON.stringify(s)}`);
  return s.resolutions[0]!;
}

async function started(source: string, store?: Iterable<readonly [string, string]>) {
  const vat = startVat(source, store);
  const out = ok(await vat.crank({ type: 'startVat' }));
  assert.deepEqual(out.syscalls, [], 'startVat makes no syscalls');
  return vat;
}

const GREETER = `
import { E, Far } from '@endo/far';
export function buildRootObject() {
  let n = 0;
  const c = Far('counter', { next: () => { n += 1; return n; } });
  return Far('root', {
    greet: (name) => 'hello ' + name,
    counter: () => c,
    fail: () => { throw Error('boom'); },
    ask: (carol) => E(carol).foo(1).then((v) => v * 2),
    tell: (carol) => { E.sendOnly(carol).note('a'); E(carol).bar('b'); return 'told'; },
  });
}
`;

test('a message to the root resolves its result promise with one resolve syscall', async () => {
  const vat = await started(GREETER);
  const out = ok(await vat.crank(msg('o+0', 'greet', data(['bob']), 'p-1')));
  assert.deepEqual(out.syscalls, [
    { type: 'resolve', resolutions: [['p-1', false, data('hello bob')]] },
  ]);
  assert.ok(out.gas > 0, 'the contract call was metered');
});

test('a returned object is exported as o+N and later messages to it reach it', async () => {
  const vat = await started(GREETER);
  const first = ok(await vat.crank(msg('o+0', 'counter', data([]), 'p-1')));
  assert.deepEqual(first.syscalls, [
    {
      type: 'resolve',
      resolutions: [['p-1', false, { body: '#"$0.Alleged: counter"', slots: ['o+1'] }]],
    },
  ]);
  assert.deepEqual(first.writes, [['ls.nextExport', '2']], 'the export counter is vat state');
  for (const [n, result] of [
    [1, 'p-2'],
    [2, 'p-3'],
  ] as const) {
    const out = ok(await vat.crank(msg('o+1', 'next', data([]), result)));
    assert.deepEqual(out.syscalls, [{ type: 'resolve', resolutions: [[result, false, data(n)]] }]);
  }
  // The same object again keeps its vref.
  const again = ok(await vat.crank(msg('o+0', 'counter', data([]), 'p-4')));
  assert.deepEqual(again.syscalls[0], {
    type: 'resolve',
    resolutions: [['p-4', false, { body: '#"$0.Alleged: counter"', slots: ['o+1'] }]],
  });
});

test('a method that throws rejects its result; without a result it is reported, not lost', async () => {
  const vat = await started(GREETER);
  const out = ok(await vat.crank(msg('o+0', 'fail', data([]), 'p-1')));
  const [vref, rejected, value] = onlyResolution(out);
  assert.deepEqual([vref, rejected], ['p-1', true]);
  assert.match((vat.ls.unserialize(value) as Error).message, /boom/);

  const gone = ok(await vat.crank(msg('o+9', 'greet', data(['x']))));
  assert.deepEqual(gone.syscalls, []);
  assert.equal(gone.undeliverable?.length, 1);
  assert.match(gone.undeliverable![0]!, /^greet to o\+9: .*o\+9 is gone/);
});

test('sends to an import leave in order; a notify settles the vat promise waiting on it', async () => {
  const vat = await started(GREETER);
  const carol = { body: '#["$0.Alleged: carol"]', slots: ['o-5'] };
  const told = ok(await vat.crank(msg('o+0', 'tell', carol, 'p-1')));
  assert.deepEqual(told.syscalls, [
    { type: 'send', target: 'o-5', method: 'note', args: data(['a']), result: null },
    { type: 'send', target: 'o-5', method: 'bar', args: data(['b']), result: 'p+1' },
    { type: 'resolve', resolutions: [['p-1', false, data('told')]] },
  ]);

  const asked = ok(await vat.crank(msg('o+0', 'ask', carol, 'p-2')));
  assert.deepEqual(
    asked.syscalls,
    [{ type: 'send', target: 'o-5', method: 'foo', args: data([1]), result: 'p+2' }],
    'the result waits for carol',
  );
  const done = ok(await vat.crank({ type: 'notify', resolutions: [['p+2', false, data(21)]] }));
  assert.deepEqual(done.syscalls, [{ type: 'resolve', resolutions: [['p-2', false, data(42)]] }]);

  // A rejection travels the same way, as a rejection.
  ok(await vat.crank(msg('o+0', 'ask', carol, 'p-3')));
  const err = { body: '#{"#error":"carol says no","name":"Error"}', slots: [] };
  const failed = ok(await vat.crank({ type: 'notify', resolutions: [['p+3', true, err]] }));
  const [vref, rejected, value] = onlyResolution(failed);
  assert.deepEqual([vref, rejected], ['p-3', true]);
  assert.match((vat.ls.unserialize(value) as Error).message, /carol says no/);

  // A notify for a promise this vat does not hold changes nothing.
  const stray = ok(await vat.crank({ type: 'notify', resolutions: [['p+77', false, data(1)]] }));
  assert.deepEqual(stray.syscalls, []);
});

const PIPELINE = `
import { E, Far } from '@endo/far';
export function buildRootObject() {
  const log = [];
  let settle;
  const item = (name) => Far('item', { touch: (tag) => { log.push(name + ':' + tag); return tag; } });
  return Far('root', {
    later: () => new Promise((r) => { settle = r; }),
    settle: (name) => { settle(item(name)); return 'settled'; },
    remote: (carol) => E(carol).get(),
    log: () => log.join(','),
  });
}
`;

test('messages pipelined to a promise the vat decides run in arrival order once it settles', async () => {
  const vat = await started(PIPELINE);
  assert.deepEqual(ok(await vat.crank(msg('o+0', 'later', data([]), 'p-1'))).syscalls, []);
  for (const [tag, result] of [
    ['a', 'p-2'],
    ['b', 'p-3'],
    ['c', 'p-4'],
  ] as const) {
    const queued = ok(await vat.crank(msg('p-1', 'touch', data([tag]), result)));
    assert.deepEqual(queued.syscalls, [], `${tag} waits for p-1`);
  }
  const settled = ok(await vat.crank(msg('o+0', 'settle', data(['x']), 'p-5')));
  const resolved = settled.syscalls.flatMap((s) => (s.type === 'resolve' ? s.resolutions : []));
  assert.deepEqual(
    resolved.map(([v, rejected]) => [v, rejected]),
    [
      ['p-5', false],
      ['p-1', false],
      ['p-2', false],
      ['p-3', false],
      ['p-4', false],
    ],
  );
  const log = ok(await vat.crank(msg('o+0', 'log', data([]), 'p-6')));
  assert.deepEqual(log.syscalls, [
    { type: 'resolve', resolutions: [['p-6', false, data('x:a,x:b,x:c')]] },
  ]);
});

test('messages pipelined to a promise forwarded to another vat leave in arrival order', async () => {
  const vat = await started(PIPELINE);
  const carol = { body: '#["$0.Alleged: carol"]', slots: ['o-5'] };
  const first = ok(await vat.crank(msg('o+0', 'remote', carol, 'p-1')));
  assert.deepEqual(first.syscalls, [
    { type: 'send', target: 'o-5', method: 'get', args: data([]), result: 'p+1' },
  ]);
  const sent = [];
  for (const [tag, result] of [
    ['a', 'p-2'],
    ['b', 'p-3'],
    ['c', 'p-4'],
  ] as const) {
    const out = ok(await vat.crank(msg('p-1', 'touch', data([tag]), result)));
    sent.push(...out.syscalls);
  }
  assert.deepEqual(
    sent.map((s) => (s.type === 'send' ? [s.target, s.method, s.args.body] : s.type)),
    [
      ['p+1', 'touch', '#["a"]'],
      ['p+1', 'touch', '#["b"]'],
      ['p+1', 'touch', '#["c"]'],
    ],
    'each message follows p-1 to the promise it resolved to, in order',
  );
});

test('retire forgets a settled promise: a later message to it is refused with the reason', async () => {
  const vat = await started(GREETER);
  ok(await vat.crank(msg('o+0', 'greet', data(['a']), 'p-1')));
  const before = ok(await vat.crank(msg('p-1', 'toUpperCase', data([]), 'p-2')));
  assert.deepEqual(before.syscalls, [
    { type: 'resolve', resolutions: [['p-2', false, data('HELLO A')]] },
  ]);
  const retired = ok(await vat.crank({ type: 'retire', vrefs: ['p-1'] }));
  assert.deepEqual(retired.syscalls, []);
  assert.deepEqual(retired.writes, []);
  const after = ok(await vat.crank(msg('p-1', 'greet', data([]))));
  assert.deepEqual(after.undeliverable, ['greet to p-1: message to unknown promise p-1']);
  const withResult = ok(await vat.crank(msg('p-1', 'greet', data([]), 'p-3')));
  const [vref, rejected, value] = onlyResolution(withResult);
  assert.deepEqual([vref, rejected], ['p-3', true]);
  assert.match((vat.ls.unserialize(value) as Error).message, /unknown promise p-1/);
});

test('an unknown delivery type fails the crank with a reason naming it', async () => {
  const vat = await started(GREETER);
  const out = await vat.crank({ type: 'bogus' } as unknown as Delivery);
  assert.equal(out.ok, false);
  assert.match((out as { error: string }).error, /unknown delivery type "bogus"/);
  // A later delivery of a known type still works in this liveslots (the kernel would replace
  // the worker anyway, but nothing of the failed crank leaks into the next one).
  const next = ok(await vat.crank(msg('o+0', 'greet', data(['c']), 'p-1')));
  assert.deepEqual(next.writes, []);
  assert.deepEqual(next.syscalls, [
    { type: 'resolve', resolutions: [['p-1', false, data('hello c')]] },
  ]);
});

const DURABLE = `
import { Far } from '@endo/far';
export function buildRootObject({ baggage, defineKind }) {
  const makeCounter = defineKind('counter', (start) => ({ n: start }), {
    bump: ({ state }, by) => { state.n += by; return state.n; },
    spin: ({ state }) => { state.n += 1000; for (;;) {} },
  });
  if (!baggage.has('runs')) baggage.init('runs', 0);
  return Far('root', {
    make: (start) => { const c = makeCounter(start); baggage.init('counter', c); return c; },
    bump: (by) => baggage.get('counter').bump(by),
    spin: () => { baggage.set('runs', 99); return baggage.get('counter').spin(); },
    runs: () => baggage.get('runs'),
    keep: (x) => baggage.init('x', x),
  });
}
`;

test('durable kinds and baggage: writes are per crank, dropped when a crank fails, revived after restart', async () => {
  const store = new Map<string, string>();
  const commit = (out: CrankOutcome) => {
    for (const [k, v] of ok(out).writes) v === null ? store.delete(k) : store.set(k, v);
    return ok(out);
  };
  const vat = startVat(DURABLE, [], 100_000);
  const start = commit(await vat.crank({ type: 'startVat' }));
  assert.deepEqual(new Map(start.writes).get('bg.runs'), JSON.stringify(data(0)));
  assert.equal(new Map(start.writes).get('kind.tag.counter'), '1');

  const made = commit(await vat.crank(msg('o+0', 'make', data([5]), 'p-1')));
  assert.deepEqual(made.syscalls, [
    {
      type: 'resolve',
      resolutions: [['p-1', false, { body: '#"$0.Alleged: counter"', slots: ['o+d1/1'] }]],
    },
  ]);
  const w = new Map(made.writes);
  assert.equal(w.get('vom.o+d1/1'), JSON.stringify(data({ n: 5 })));
  assert.equal(
    w.get('bg.counter'),
    JSON.stringify({ body: '#"$0.Alleged: counter"', slots: ['o+d1/1'] }),
  );

  const bumped = commit(await vat.crank(msg('o+0', 'bump', data([2]), 'p-2')));
  assert.deepEqual(
    bumped.writes,
    [['vom.o+d1/1', JSON.stringify(data({ n: 7 }))]],
    'only what changed',
  );
  const idle = commit(await vat.crank(msg('o+0', 'runs', data([]), 'p-3')));
  assert.deepEqual(idle.writes, [], 'a crank that changes nothing writes nothing');

  // A crank that runs out of gas commits none of its writes, durable state nor baggage.
  const spun = await vat.crank(msg('o+0', 'spin', data([]), 'p-4'));
  assert.equal(spun.ok, false);
  assert.match((spun as { error: string }).error, /gas/);

  // Ephemeral things cannot be stored durably: the call fails, nothing is written.
  const far = { body: '#["$0.Alleged: x"]', slots: ['o+0'] };
  const refused = commit(await vat.crank(msg('o+0', 'keep', far, 'p-5')));
  assert.deepEqual(refused.writes, []);
  const [vref, rejected, value] = onlyResolution(refused);
  assert.deepEqual([vref, rejected], ['p-5', true]);
  assert.match((vat.ls.unserialize(value) as Error).message, /ephemeral Far object/);

  // A new worker from the committed store: the kind is redefined, the object revived by vref.
  const again = startVat(DURABLE, store, 100_000);
  const restarted = ok(await again.crank({ type: 'startVat' }));
  assert.deepEqual(restarted.writes, [], 'nothing new on a restart');
  const revived = ok(await again.crank(msg('o+d1/1', 'bump', data([1]), 'p-1')));
  assert.deepEqual(revived.syscalls, [{ type: 'resolve', resolutions: [['p-1', false, data(8)]] }]);
  const runs = ok(await again.crank(msg('o+0', 'runs', data([]), 'p-2')));
  assert.deepEqual(runs.syscalls, [{ type: 'resolve', resolutions: [['p-2', false, data(0)]] }]);
});
