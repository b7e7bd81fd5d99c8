// A quorum vat against a solo vat, same workload, same run. The vat is a real vat node process
// (or n of them: `quorumvat node --quorum-genesis FILE`, members on 127.0.0.1) running the
// bench counter; the client is one vat node in this process, talking VatTP over libp2p (to a
// quorum: through the client layer, every message to every member, k acks and k matching
// answers counted). Each configuration: redeem, then
//   rtt_p50_ms/p99    one E(counter).incr(i) awaited at a time
//   msgs_per_s        calls completed per second with `window` in flight (pipelined sends)
// and, from the nodes' /metrics scraped around the throughput phase (the first member's, for a
// quorum), where the work goes per call: kernel commits (each an fsync), frames sent, and for
// a quorum the ordering decisions (batches) and inputs per decision. Lines: members 1 (solo),
// then (3,2) and (4,3); `vs_solo` = msgs_per_s / the solo line's of the same `cpu` setting:
//   "cpu":"shared"     every process competes for this machine's cores (n members on one box)
//   "cpu":"per_node"   each vat node with its worker gets its own CPU budget of `node_cores`
//                      (a cgroup quota, `cpu-budget.ts`), the same for the solo node and each
//                      member: as if each ran on its own host of that size. Needs cgroup
//                      access (root); skipped with a line on stderr otherwise.
//                      QUORUM_BENCH_NODE_CORES overrides the budget (default: what leaves
//                      the client half a core with 4 members, at most one core each).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { newKeyPair } from '../vat-node/src/cli/quorum/key-file.ts';
import { formatSturdyRef } from '../vat-node/src/kernel/sturdyref.ts';
import { freePort } from '../vat-node/src/node/free-port.ts';
import { spawnVatNode, type VatNodeProcess } from '../vat-node/src/node/spawn.ts';
import { VatNode } from '../vat-node/src/node/vat-node.ts';
import { makeGenesis, quorumVatIdOf } from '../vat-node/src/quorum/config.ts';
import { loadOrCreateIdentity } from '../vat-node/src/vattp/identity.ts';
import { type CpuBudget, cpuBudget } from './cpu-budget.ts';
import { emit, quick, round, runWindowed, sampleLatencyNs, summarize } from './lib.ts';

const BENCH = 'quorum';
/** QUORUM_BENCH_CPU_PROF=DIR: every member (and its vat worker) writes a V8 CPU profile there. */
const PROF = process.env.QUORUM_BENCH_CPU_PROF;
const WINDOW = 500;
const TOTAL = quick(10_000, 1_000);
const RTT_COUNT = quick(500, 100);
const root = mkdtempSync(join(tmpdir(), 'qv-bench-quorum-'));
const counter = new URL('./contracts/bench.js', import.meta.url).pathname;
const NODE_CORES = round(
  Number(process.env.QUORUM_BENCH_NODE_CORES ?? Math.min(1, (availableParallelism() - 0.5) / 4)),
  3,
);

/** The node's /metrics, as name{labels} → value (counters and gauges; histogram _count too). */
async function scrape(http: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Every process below `root` (the vat nodes and their vat workers), by /proc. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** CPU time (user + system, ms) of these processes so far; gone ones count 0. */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      // gone
    }
  }
  return ticks * 10; // USER_HZ = 100 on Linux
}

const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Vat {
  readonly sturdyRef: string;
  /** host:port of each node's endpoint (the first is scraped). */
  readonly http: readonly string[];
  readonly nodes: readonly VatNodeProcess[];
}

/** Gives each vat node (from its first instruction, so its worker too) a CPU budget, if any. */
interface Budgets {
  /** Where this setting's vat nodes keep their data, below the run's directory. */
  readonly dir: string;
  readonly cores: number | undefined;
  onSpawn(name: string): ((child: { pid?: number | undefined }) => void) | undefined;
  close(): Promise<void>;
}

function noBudgets(): Budgets {
  return {
    dir: join(root, 'shared'),
    cores: undefined,
    onSpawn: () => undefined,
    close: async () => {},
  };
}

/** One cgroup per vat node, `cores` each; or the reason there can be none here. */
async function perNodeBudgets(cores: number): Promise<Budgets | string> {
  const probe = cpuBudget(`quorumvat-bench-${process.pid}-probe`, cores);
  if (typeof probe === 'string') return probe;
  await probe.close();
  const made: CpuBudget[] = [];
  return {
    dir: join(root, 'per-node'),
    cores,
    onSpawn: (name) => (child) => {
      const b = cpuBudget(`quorumvat-bench-${process.pid}-${name}`, cores);
      if (typeof b === 'string') throw Error(b);
      made.push(b);
      b.add(child.pid!);
    },
    close: async () => {
      await Promise.all(made.splice(0).map((b) => b.close()));
    },
  };
}

async function startSolo(budgets: Budgets): Promise<Vat> {
  const http = `127.0.0.1:${await freePort()}`;
  const node = await spawnVatNode({
    dataDir: join(budgets.dir, 'solo'),
    contractPath: counter,
    gasLimit: 1_000_000_000,
    extraArgs: ['--http', http],
    onSpawn: budgets.onSpawn('solo'),
  });
  return {
    sturdyRef: readFileSync(node.sturdyRefFile, 'utf8').trim(),
    http: [http],
    nodes: [node],
  };
}

async function startQuorum(n: number, k: number, budgets: Budgets): Promise<Vat> {
  const members: { dataDir: string; vatId: string; port: number; http: string; addr: string }[] =
    [];
  for (let i = 0; i < n; i++) {
    const dataDir = join(budgets.dir, `q${n}-${i}`);
    const { vatId } = await loadOrCreateIdentity(dataDir);
    const port = await freePort();
    const http = `127.0.0.1:${await freePort()}`;
    members.push({ dataDir, vatId, port, http, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${vatId}` });
  }
  const sturdy = newKeyPair('sturdy');
  const genesis = makeGenesis({
    name: 'bench',
    nonce: randomBytes(16).toString('hex'),
    members: members.map((m) => m.vatId).sort(),
    threshold: k,
    admin: newKeyPair('admin').publicKey,
    params: {},
    sturdyKeys: [sturdy.publicKey],
  });
  const genesisFile = join(budgets.dir, `q${n}.genesis.json`);
  writeFileSync(genesisFile, JSON.stringify(genesis));
  const nodes = await Promise.all(
    members.map((m) =>
      spawnVatNode({
        dataDir: m.dataDir,
        contractPath: counter,
        gasLimit: 1_000_000_000,
        listen: [`/ip4/127.0.0.1/tcp/${m.port}`],
        bootstrap: members.filter((o) => o !== m).map((o) => o.addr),
        extraArgs: ['--quorum-genesis', genesisFile, '--http', m.http],
        readyTimeoutMs: 60_000,
        onSpawn: budgets.onSpawn(`q${n}-${members.indexOf(m)}`),
        ...(PROF
          ? {
              env: {
                ...process.env,
                NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROF}/q${n}-m${members.indexOf(m)}`,
              },
            }
          : {}),
      }),
    ),
  );
  return {
    sturdyRef: formatSturdyRef({
      vatId: quorumVatIdOf(genesis),
      secret: sturdy.secret,
      hints: members.map((m) => m.addr),
    }),
    http: members.map((m) => m.http),
    nodes,
  };
}

const client = await VatNode.start({
  dataDir: join(root, 'client'),
  contractSource: readFileSync(new URL('../vat-node/contracts/client.js', import.meta.url), 'utf8'),
  logger: pino({ level: 'error' }),
});

let soloRate: number | undefined;

async function measure(
  members: number,
  threshold: number,
  vat: Vat,
  nodeCores: number | undefined,
): Promise<void> {
  const k = client.kernel;
  const t0 = performance.now();
  const vatRoot = await k.redeem(vat.sturdyRef);
  const redeemMs = performance.now() - t0;
  const c = (await k.call(vatRoot, 'counter', [])).value as { vref: string };
  const incr = async (i: number) => {
    const r = await k.call(c.vref, 'incr', [i]);
    if (r.rejected || r.value !== i + 1) throw Error(`incr(${i}) gave ${JSON.stringify(r.value)}`);
  };
  const rtt = summarize(await sampleLatencyNs(incr, { count: RTT_COUNT }), 1e6);
  await runWindowed(quick(1000, 200), WINDOW, incr); // warm-up
  const before = await scrape(vat.http[0]!);
  const framesBefore = client.transport.stats.framesSent;
  // CPU: the first node with its vat worker; every process of the run (this one included).
  const first = [vat.nodes[0]!.child.pid!, ...descendants(vat.nodes[0]!.child.pid!)];
  const all = descendants(process.pid);
  const cpu0 = { node: cpuMs(first), all: cpuMs(all) + selfCpuMs(), self: selfCpuMs() };
  const t1 = performance.now();
  await runWindowed(TOTAL, WINDOW, incr);
  const secs = (performance.now() - t1) / 1000;
  const cpu1 = { node: cpuMs(first), all: cpuMs(all) + selfCpuMs(), self: selfCpuMs() };
  const after = await scrape(vat.http[0]!);
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const perCall = (x: number) => round(x / TOTAL, 3);
  const rate = TOTAL / secs;
  if (members === 1) soloRate = rate;
  const decisions = delta('quorumvat_quorum_decided_height');
  emit({
    bench: BENCH,
    members,
    threshold,
    msgs_per_s: round(rate),
    window: WINDOW,
    calls: TOTAL,
    rtt_p50_ms: round(rtt.p50),
    rtt_p99_ms: round(rtt.p99),
    redeem_ms: round(redeemMs),
    ...(members > 1 && soloRate !== undefined ? { vs_solo: round(rate / soloRate, 3) } : {}),
    cpu: nodeCores === undefined ? 'shared' : 'per_node',
    ...(nodeCores === undefined ? {} : { node_cores: nodeCores }),
    // What the (first) vat node with its worker used: at its budget, it is the bottleneck.
    node_cores_used: round((cpu1.node - cpu0.node) / 1000 / secs, 3),
    // CPU ms per call: every process of the run; the (first) vat node with its vat worker;
    // the client vat node (this process). On this machine: cores = os.availableParallelism().
    cpu_ms_per_call: perCall(cpu1.all - cpu0.all),
    node_cpu_ms_per_call: perCall(cpu1.node - cpu0.node),
    client_cpu_ms_per_call: perCall(cpu1.self - cpu0.self),
    cores: availableParallelism(),
    // Per call, on the (first) vat node: kernel commits (each one fsync), frames it sent.
    commits_per_call: perCall(delta('quorumvat_commit_seconds_count')),
    node_frames_per_call: perCall(delta('quorumvat_vattp_frames_sent_total')),
    client_frames_per_call: perCall(client.transport.stats.framesSent - framesBefore),
    ...(members > 1
      ? {
          decisions,
          deliveries_per_decision: round(
            delta('quorumvat_deliveries_total') / Math.max(1, decisions),
            3,
          ),
          rounds: delta('quorumvat_quorum_round'),
        }
      : {}),
  });
}

try {
  const perNode = await perNodeBudgets(NODE_CORES);
  if (typeof perNode === 'string') {
    console.error(`bench: quorum: no per-node CPU budgets here (${perNode}); "cpu":"shared" only`);
  }
  for (const budgets of typeof perNode === 'string' ? [noBudgets()] : [noBudgets(), perNode]) {
    soloRate = undefined;
    for (const [n, k] of [
      [1, 1],
      [3, 2],
      [4, 3],
    ] as const) {
      const vat = n === 1 ? await startSolo(budgets) : await startQuorum(n, k, budgets);
      try {
        await measure(n, k, vat, budgets.cores);
      } finally {
        await Promise.all(vat.nodes.map((x) => x.stop()));
        await budgets.close();
      }
    }
  }
} finally {
  await client.close();
  rmSync(root, { recursive: true, force: true });
}
