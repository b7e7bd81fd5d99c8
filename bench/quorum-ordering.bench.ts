// The quorum ordering core (vat-node/src/quorum/ordering) in the deterministic simulated
// network, with real Ed25519 signatures (node:crypto) and every message through the wire codec.
// ALL members run in this one process on one core, so the wall-clock rates below are what one
// core does for the whole quorum (each member alone does about n times less work):
//   workload "burst"    8 senders submit everything at once: big batches (inputs_per_s)
//   workload "trickle"  1 sender, one input every 2 simulated ms: about one input per decision,
//                       so decisions_per_s is the cost of one ordering round of n members
// decision_latency_p50_ms is in SIMULATED time (links delay 1–10 ms): submit → decided at the
// first member, about three one-way delays plus batching.
import { Sim } from '../vat-node/src/quorum/ordering/sim.ts';
import { emit, quick, round } from './lib.ts';

const BENCH = 'quorum-ordering';

async function measure(
  n: number,
  k: number,
  workload: 'burst' | 'trickle',
  inputs: number,
): Promise<void> {
  const sim = await Sim.create({
    seed: 1,
    n,
    k,
    crypto: 'ed25519',
    replica: { maxBatch: 1024, checkpointInterval: 64, viewTimeoutMs: 1000 },
  });
  const submittedAt = new Map<string, number>();
  const senders = workload === 'burst' ? 8 : 1;
  const per = Math.ceil(inputs / senders);
  const interval = workload === 'burst' ? 0 : 2;
  for (let s = 0; s < senders; s++) {
    for (let i = 1; i <= per; i++) {
      sim.schedule((i - 1) * interval, () => {
        submittedAt.set(`sender${s}#${i}`, sim.now);
        sim.submit(`sender${s}`, i, new Uint8Array(200).fill(i & 0xff));
      });
    }
  }
  sim.start();
  const probe = sim.honest()[0]!;
  const latencies: number[] = [];
  const total = senders * per;
  let seen = 0;
  const t0 = performance.now();
  const done = sim.run(10_000_000, () => {
    while (seen < probe.decided.length) {
      for (const input of probe.decided[seen]!.inputs) {
        latencies.push(sim.now - submittedAt.get(`${input.from}#${input.seq}`)!);
      }
      seen++;
    }
    return sim.honest().every((m) => m.decided.reduce((a, d) => a + d.inputs.length, 0) === total);
  });
  const seconds = (performance.now() - t0) / 1000;
  if (!done) {
    throw new Error(
      `(${n},${k}) ${workload}: not everything was decided: ${JSON.stringify(sim.honest().map((m) => [m.decided.length, m.decided.reduce((a, d) => a + d.inputs.length, 0), m.replica.status(), m.rejected.slice(0, 2)]))}`,
    );
  }
  const decisions = probe.decided.filter((d) => d.inputs.length > 0).length;
  latencies.sort((a, b) => a - b);
  emit({
    bench: BENCH,
    members: n,
    threshold: k,
    workload,
    inputs: total,
    input_bytes: 200,
    decisions,
    avg_batch: round(total / decisions, 3),
    inputs_per_s: round(total / seconds),
    decisions_per_s: round(decisions / seconds),
    decision_latency_p50_ms: round(latencies[Math.floor(latencies.length / 2)]!, 3),
    messages_per_decision: round(sim.messagesSent / decisions, 3),
    wire_bytes_per_input: round(sim.bytesSent / total, 3),
    signatures: 'ed25519 node:crypto',
    one_core_for_all_members: true,
  });
}

for (const [n, k] of [
  [3, 2],
  [4, 3],
]) {
  await measure(n!, k!, 'burst', quick(40_000, 4000));
  await measure(n!, k!, 'trickle', quick(3000, 300));
}
