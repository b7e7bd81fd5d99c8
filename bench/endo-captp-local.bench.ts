// Peer for the in-process kernel bench: @endo/captp `makeLoopback` in one process, under SES
// lockdown (default options, HandledPromise shim from @endo/eventual-send). A remotable
// counter `Far('counter', {incr(n){return n+1}})` is called through the loopback:
//   deliveries_per_s          one E(counter).incr(i) awaited at a time
//   deliveries_inflight_per_s bursts of INFLIGHT calls issued at once, then all awaited
//   deliveries_window_per_s   WINDOW calls kept in flight continuously
//   pipelined_chain_ms        mean time of E(E(E(a).b()).c()).d() (3 pipelined calls on
//                             remotables returned by the previous call), awaited one at a time
import './endo-lockdown.ts';
import { E, Far } from '@endo/far';
import { makeLoopback } from './captp.ts';
import { LOCKDOWN_OPTIONS } from './endo-lockdown.ts';
import {
  emit,
  measureAsync,
  quick,
  round,
  runWindowed,
  sampleLatencyNs,
  summarize,
} from './lib.ts';

const BENCH = 'endo-captp-local';
// 20,000 in flight as in kernel-local.bench.ts; smaller under BENCH_QUICK (one burst takes seconds).
const INFLIGHT = quick(20_000, 1000);
const WINDOW = 1000;
const WINDOW_ROUND = quick(10_000, 2000);

const { makeFar } = makeLoopback('bench');

const counterNear = Far('counter', {
  incr(n: number) {
    return n + 1;
  },
});
const dNear = Far('d', {
  d() {
    return 'done';
  },
});
const cNear = Far('c', {
  c() {
    return dNear;
  },
});
const aNear = Far('a', {
  b() {
    return cNear;
  },
});

const counter = await makeFar(counterNear);
const a = await makeFar(aNear);

// Sanity: the loopback really goes through CapTP (the far ref is not the near object).
if (counter === counterNear) throw new Error('makeFar returned the near object');
const got = await E(counter).incr(41);
if (got !== 42) throw new Error(`E(counter).incr(41) returned ${String(got)}`);
const chainResult = await E(E(E(a).b()).c()).d();
if (chainResult !== 'done') throw new Error(`chain returned ${String(chainResult)}`);

const seq = await measureAsync(
  async (i) => {
    const r = await E(counter).incr(i);
    if (r !== i + 1) throw new Error(`incr(${i}) returned ${String(r)}`);
  },
  { durationMs: quick(2000, 250), warmupMs: quick(300, 50) },
);

const burst = await measureAsync(
  async () => {
    const ps: Promise<number>[] = [];
    for (let i = 0; i < INFLIGHT; i++) ps.push(E(counter).incr(i));
    await Promise.all(ps);
    return INFLIGHT;
  },
  // One burst of warm-up, then bursts until 2 s (at least one burst); quick: one burst.
  { durationMs: quick(2000, 1), warmupMs: quick(1, 0) },
);

const windowed = await measureAsync(
  async () => {
    await runWindowed(WINDOW_ROUND, WINDOW, (i) => E(counter).incr(i));
    return WINDOW_ROUND;
  },
  { durationMs: quick(2000, 1), warmupMs: quick(1, 0) },
);

const chainNs = await sampleLatencyNs(() => E(E(E(a).b()).c()).d(), {
  count: quick(20_000, 500),
  durationMs: quick(2000, 200),
  warmup: quick(500, 50),
});
const chain = summarize(chainNs, 1e6);

emit({
  bench: BENCH,
  lockdown: true,
  lockdown_options: LOCKDOWN_OPTIONS,
  transport: 'makeLoopback (in process)',
  deliveries_per_s: Math.round(seq.perSecond),
  deliveries_inflight_per_s: Math.round(burst.perSecond),
  inflight: INFLIGHT,
  deliveries_window_per_s: Math.round(windowed.perSecond),
  window: WINDOW,
  pipelined_chain_ms: round(chain.mean),
  pipelined_chain_p50_ms: round(chain.p50),
  pipelined_chain_p99_ms: round(chain.p99),
  pipelined_chain_calls: 3,
  samples: { deliveries: seq.ops, inflight: burst.ops, window: windowed.ops, chains: chain.n },
});
