/**
 * Crash safety across real processes: two vat node processes (`quorumvat node`, each with its
 * data directory, talking VatTP over libp2p on 127.0.0.1) exchange numbered messages, and the
 * test SIGKILLs one of them (A or B, at random; now and then during its start-up) at least 50
 * times during the exchange, restarting it from its data directory with the same identity on
 * the same port each time. The contract (fixtures/contracts/pingpong.js) counts every number
 * out of order or twice as bad: after every restart nothing is bad and no committed work is
 * lost; at the end the state is that of a run of the same pair with no kills (run first, on
 * fresh directories), and all four data directories verify.
 *
 * The test process drives it as a third vat (a client VatNode): it introduces A and B to each
 * other once (three-party handoffs), then keeps asking A to `pump` up to a window ahead of
 * what B has taken. The numbered messages themselves go A → B (take) and B → A (got), node to
 * node over VatTP; the driver only pokes A once per window and reads both roots' `state()`.
 * A worker's heap dies with its process, so nothing in the vats waits for anything: after a
 * restart the driver's next poke resumes the exchange from A's durable `sent` counter.
 * CRASH_NODES_TOTAL (numbers, two messages each) and CRASH_NODES_KILLS change the size.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { freePort } from '../../vat-node/src/node/free-port.ts';
import { spawnVatNode, type VatNodeProcess } from '../../vat-node/src/node/spawn.ts';
import { verifyVatDataDir } from '../../vat-node/src/node/verify-vat.ts';
import { startDriver } from '../network/nodes.ts';
import { noKillStates, type PingpongState } from './fixtures/pingpong-state.ts';

const TOTAL = Number(process.env.CRASH_NODES_TOTAL ?? 10_000);
const KILLS = Number(process.env.CRASH_NODES_KILLS ?? 50);
/** How far ahead of B's progress A is asked to pump. */
const WINDOW = 150;
/**
 * No answer, or no progress, for this long: the exchange is wedged. A wedge lasts forever, so
 * the bound is wide (a restart on a loaded machine can take many seconds); it only makes a
 * wedged run fail with what it saw instead of at the test's timeout.
 */
const STUCK_MS = 120_000;
/**
 * Sized by the work, with wide headroom: alone on a busy 2-core machine the test took 130 s
 * (the run with no kills 13.9 s for 20,000 messages, 0.7 ms each; about 2 s per kill and
 * restart), and longer than the runner's 300 s default beside other tests. Ten times that.
 */
const TIMEOUT_MS = 60_000 + 10 * (2 * TOTAL * 0.7 * 2 + KILLS * 2_000);
const CONTRACT = new URL('./fixtures/contracts/pingpong.js', import.meta.url).pathname;
/**
 * Warnings a node may log here: its peer (or the driver) was down when it dialled; a busy vat
 * that waited long for a quiescent moment to checkpoint (a matter of timing, not a fault).
 */
const EXPECTED_WARNINGS = new Set([
  'peer unreachable; retrying with backoff while messages are pending',
  'checkpoint waiting',
]);

type State = PingpongState;
/** 1 + 2 + … + n: the sum of the numbers a side has counted when it saw each once, in order. */
const tri = (n: number) => (n * (n + 1)) / 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-crash-nodes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One vat node of a pair: always the same data directory, port and (after the first start) VatID. */
class Node {
  proc: VatNodeProcess | null = null;
  vatId: string | undefined;
  /** How long the last complete start-up took (spawn to ready), for the start-up kills. */
  startMs = 1000;
  /**
   * Log lines at warn level or above, from every life, other than EXPECTED_WARNINGS: a
   * rejected frame (a seq gap, an ack beyond what was sent), an aborted delivery, a store or
   * transport failure.
   */
  readonly problems: string[] = [];
  readonly name: string;
  readonly dataDir: string;
  readonly port: number;
  constructor(name: string, dataDir: string, port: number) {
    this.name = name;
    this.dataDir = dataDir;
    this.port = port;
  }

  async start(onSpawn?: (child: ChildProcess) => void): Promise<VatNodeProcess> {
    const t0 = performance.now();
    const proc = await spawnVatNode({
      dataDir: this.dataDir,
      contractPath: CONTRACT,
      name: this.name,
      listen: [`/ip4/127.0.0.1/tcp/${this.port}`],
      onSpawn,
      onLog: (entry, line) => {
        if ((entry['level'] as number) >= 40 && !EXPECTED_WARNINGS.has(String(entry['msg']))) {
          this.problems.push(`${this.name}: ${line}`);
        }
      },
    });
    this.startMs = performance.now() - t0;
    // Restarted from its directory: the same identity, on the same port.
    this.vatId ??= proc.vatId;
    assert.equal(proc.vatId, this.vatId, `${this.name} restarted with its own identity`);
    assert.ok(
      proc.addrs.some((a) => a.startsWith(`/ip4/127.0.0.1/tcp/${this.port}/`)),
      `${this.name} listens on its port again: ${proc.addrs}`,
    );
    this.proc = proc;
    return proc;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    await this.proc?.stop('SIGKILL');
    this.proc = null;
  }

  /**
   * Start, and SIGKILL it after a random part of a start-up's time (now and then a little
   * after). Returns whether it was still starting up (not ready) when killed.
   */
  async startAndKillEarly(): Promise<boolean> {
    let child: ChildProcess | undefined;
    let ready = false;
    const started = this.start((c) => {
      child = c;
    }).then(
      () => {
        ready = true;
      },
      () => undefined, // killed before it was ready
    );
    await sleep(Math.random() * 1.1 * this.startMs);
    const exited = child!.exitCode !== null || child!.signalCode !== null;
    const exit = exited ? Promise.resolve() : once(child!, 'exit');
    const wasReady = ready;
    child!.kill('SIGKILL');
    await Promise.all([exit, started]);
    this.proc = null;
    return !wasReady;
  }

  sturdyRef(): string {
    return readFileSync(join(this.dataDir, 'root.sturdyref'), 'utf8').trim();
  }
}

interface Outcome {
  a: State;
  b: State;
  kills: number;
  startupKills: number;
  seconds: number;
  nodes: [Node, Node];
}

/**
 * One exchange of TOTAL numbers between two fresh vat node processes under `dir`, driven by
 * the driver kernel `k`, with `killsWanted` SIGKILLs. Ends with both nodes stopped.
 */
async function exchange(
  t: TestContext,
  k: Kernel,
  dir: string,
  killsWanted: number,
): Promise<Outcome> {
  const portA = await freePort();
  const portB = await freePort();
  const a = new Node('A', join(dir, 'a'), portA);
  const b = new Node('B', join(dir, 'b'), portB);
  t.after(async () => {
    await Promise.all([a.proc?.stop('SIGKILL'), b.proc?.stop('SIGKILL')]);
  });
  await Promise.all([a.start(), b.start()]);

  const [aRoot, bRoot] = await Promise.all([k.redeem(a.sturdyRef()), k.redeem(b.sturdyRef())]);
  const call = async (target: string, method: string, args: unknown[] = []) => {
    const r = await k.call(target, method, args);
    assert.equal(r.rejected, false, `${method}: ${JSON.stringify(r.value)}`);
    return r.value;
  };
  // Introduce them (three-party handoffs); from here on they talk to each other directly.
  await call(aRoot, 'setPeer', [new HostRef(bRoot)]);
  await call(bRoot, 'setPeer', [new HostRef(aRoot)]);

  let last = { sent: 0, took: 0, got: 0 };
  // A wedged exchange fails with what it saw, not at the runner's timeout; a node that logs a
  // problem fails it at once, with the problem.
  const states = async () => {
    let timer: NodeJS.Timeout | undefined;
    const asked = performance.now();
    const watch = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        const problems = [...a.problems, ...b.problems];
        if (problems.length > 0) {
          reject(Error(`the nodes logged problems:\n${problems.slice(0, 10).join('\n')}`));
        } else if (performance.now() - asked > STUCK_MS) {
          reject(Error(`no answer for ${STUCK_MS} ms; last seen ${JSON.stringify(last)}`));
        }
      }, 100);
    });
    // A, then B, then A again: the exchange moves on between the reads, so the invariants
    // hold between A's first read, B's, and A's second (got before ≤ took ≤ sent after).
    const read = async () => {
      const before = (await call(aRoot, 'state')) as State;
      const b = (await call(bRoot, 'state')) as State;
      const a = (await call(aRoot, 'state')) as State;
      return { before, a, b };
    };
    try {
      return await Promise.race([read(), watch]);
    } finally {
      clearInterval(timer);
    }
  };
  // Asks A to have sent up to `upTo` (idempotent). Nothing waits for the answer: a pump
  // cut short by a kill is simply asked for again at the next look.
  const pump = (upTo: number) => {
    k.call(aRoot, 'pump', [Math.min(TOTAL, upTo)]).catch(() => undefined);
  };

  let kills = 0;
  let startupKills = 0;
  // Kill points spread over the exchange (on average 80% of it holds all the kills).
  const gap = () => 1 + Math.floor((Math.random() * 1.6 * TOTAL) / Math.max(1, killsWanted));
  let nextKillAt = gap();
  const t0 = performance.now();
  let progressAt = t0;
  for (;;) {
    const s = await states();
    // Whatever the kills did: nothing twice or out of order, nothing committed lost.
    assert.equal(s.b.tookBad, 0, `B took every number once, in order: ${JSON.stringify(s)}`);
    assert.equal(s.a.gotBad, 0, `A got every echo once, in order: ${JSON.stringify(s)}`);
    assert.equal(s.b.tookSum, tri(s.b.took), `B took 1..${s.b.took}: ${JSON.stringify(s)}`);
    assert.equal(s.a.gotSum, tri(s.a.got), `A got 1..${s.a.got}: ${JSON.stringify(s)}`);
    assert.ok(s.before.got <= s.b.took && s.b.took <= s.a.sent, JSON.stringify(s));
    assert.ok(
      s.a.sent >= last.sent && s.b.took >= last.took && s.a.got >= last.got,
      `committed work stays: ${JSON.stringify(last)} then ${JSON.stringify(s)}`,
    );
    if (s.a.sent !== last.sent || s.b.took !== last.took || s.a.got !== last.got) {
      progressAt = performance.now();
    } else if (performance.now() - progressAt > STUCK_MS) {
      assert.fail(`no progress for ${STUCK_MS} ms: ${JSON.stringify(s)}`);
    }
    last = { sent: s.a.sent, took: s.b.took, got: s.a.got };
    if (s.a.got >= TOTAL) break;
    if (kills < killsWanted && s.b.took >= nextKillAt) {
      nextKillAt += gap();
      const victim = Math.random() < 0.5 ? a : b;
      // Mid-exchange: A is pumping and B answering while the next window is asked for.
      pump(s.b.took + WINDOW);
      await sleep(Math.random() * 50);
      await victim.kill();
      kills++;
      if (Math.random() < 0.2) {
        if (await victim.startAndKillEarly()) startupKills++;
        kills++;
      }
      await victim.start();
      continue; // the next look checks what the restarted node holds
    }
    // Not far past the next kill point: the kills must land during the exchange, however
    // fast it runs between two looks at B's progress.
    const until = kills < killsWanted ? nextKillAt + WINDOW / 2 : TOTAL;
    pump(Math.min(s.b.took + WINDOW, until));
    await sleep(10);
  }
  const seconds = (performance.now() - t0) / 1000;
  const done = await states();
  assert.deepEqual([...a.problems, ...b.problems], [], 'the nodes logged no problems');
  // The run with kills ends with kills too: what a SIGKILL leaves behind must verify. The
  // state read above was committed before it was answered.
  const signal = killsWanted > 0 ? 'SIGKILL' : 'SIGTERM';
  await Promise.all([a.proc?.stop(signal), b.proc?.stop(signal)]);
  return { a: done.a, b: done.b, kills, startupKills, seconds, nodes: [a, b] };
}

test('SIGKILL of either vat node process: every message exactly once, in order, same final state', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  // The driver: a third vat in this process, holding the roots by their sturdyrefs.
  const k: Kernel = (await startDriver(t)).kernel;

  // The run with no kills: every number once, in order, each way.
  const ref = await exchange(t, k, tempDir(t), 0);
  assert.deepEqual({ a: ref.a, b: ref.b }, noKillStates(TOTAL));
  t.diagnostic(`no kills: ${2 * TOTAL} messages in ${ref.seconds.toFixed(1)} s`);

  const run = await exchange(t, k, tempDir(t), KILLS);
  t.diagnostic(
    `${run.kills} kills (${run.startupKills} during start-up), ${2 * TOTAL} messages, ${run.seconds.toFixed(1)} s`,
  );
  t.diagnostic(`timeout ${TIMEOUT_MS / 1000} s`);
  assert.ok(run.kills >= KILLS, `killed ${run.kills} times`);
  assert.deepEqual(
    { a: run.a, b: run.b },
    { a: ref.a, b: ref.b },
    'the state of the run with no kills',
  );

  // What the kills left behind verifies (hash chain, replay since the checkpoint, state), and
  // each vat store is the one the run with no kills left: its baggage, and what liveslots
  // keeps there (which depends on what the vat did, not on how often the driver looked).
  const digests: string[] = [];
  for (const node of [...ref.nodes, ...run.nodes]) {
    const report = await verifyVatDataDir(node.dataDir);
    assert.equal(report.ok, true, `${node.name}: ${JSON.stringify(report)}`);
    digests.push(report.stateDigest);
  }
  assert.deepEqual(
    digests.slice(2),
    digests.slice(0, 2),
    'the vat stores of the run with no kills',
  );
});
