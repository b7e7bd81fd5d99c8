/**
 * Crash safety across real processes: two vat node processes (`quorumvat node`, each with its
 * data directory, talking VatTP over libp2p on 127.0.0.1) exchange numbered messages, and the
 * test SIGKILLs one of them (A or B, at random; now and then during its start-up) at least 50
 * times during the exchange, restarting it from its data directory on the same port each
 * time. The contract (fixtures/contracts/pingpong.js) counts every number out of order or
 * twice as bad: after every restart nothing is bad and no committed work is lost, and the
 * final state is that of a run with no kills (all numbers once, in order, each way; the same
 * contract's no-kill run is compared in crash.test.ts), and both data directories verify.
 *
 * The test process drives it as a third vat (a client VatNode): it introduces A and B to each
 * other once, then asks A to pump up to a window ahead of what B has taken. The messages
 * themselves go A → B (take) and B → A (got), node to node.
 * CRASH_NODES_TOTAL (numbers, two messages each) and CRASH_NODES_KILLS change the size.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import type { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { spawnVatNode, type VatNodeProcess } from '../../vat-node/src/node/spawn.ts';
import { verifyVatDataDir } from '../../vat-node/src/store/verify-vat.ts';
import { startDriver } from '../network/nodes.ts';
import { noKillStates, type PingpongState } from './fixtures/pingpong-state.ts';

const TOTAL = Number(process.env.CRASH_NODES_TOTAL ?? 6000);
const KILLS = Number(process.env.CRASH_NODES_KILLS ?? 50);
/** How far ahead of B's progress A is asked to pump. */
const WINDOW = 150;
/** No answer, or no progress, for this long: the exchange is wedged. */
const STUCK_MS = 30_000;
const CONTRACT = new URL('./fixtures/contracts/pingpong.js', import.meta.url).pathname;

type State = PingpongState;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-crash-nodes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One vat node of the pair: always the same data directory and port. */
class Node {
  proc: VatNodeProcess | null = null;
  readonly name: string;
  readonly dataDir: string;
  readonly port: number;
  constructor(name: string, dataDir: string, port: number) {
    this.name = name;
    this.dataDir = dataDir;
    this.port = port;
  }

  async start(onSpawn?: (child: ChildProcess) => void): Promise<VatNodeProcess> {
    this.proc = await spawnVatNode({
      dataDir: this.dataDir,
      contractPath: CONTRACT,
      name: this.name,
      listen: [`/ip4/127.0.0.1/tcp/${this.port}`],
      onSpawn,
    });
    return this.proc;
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill(): Promise<void> {
    await this.proc?.stop('SIGKILL');
    this.proc = null;
  }

  /** Start, and SIGKILL after `ms` whether it is ready by then or still starting up. */
  async startAndKillAfter(ms: number): Promise<void> {
    let child: ChildProcess | undefined;
    const started = this.start((c) => {
      child = c;
    }).catch(() => null); // killed before it was ready
    await sleep(ms);
    const exited = child!.exitCode !== null || child!.signalCode !== null;
    const exit = exited ? Promise.resolve() : once(child!, 'exit');
    child!.kill('SIGKILL');
    await Promise.all([exit, started]);
    this.proc = null;
  }

  sturdyRef(): string {
    return readFileSync(join(this.dataDir, 'root.sturdyref'), 'utf8').trim();
  }
}

test('SIGKILL of either vat node process: every message exactly once, in order, same final state', async (t) => {
  const dir = tempDir(t);
  const [portA, portB] = [await freePort(), await freePort()];
  const a = new Node('A', join(dir, 'a'), portA);
  const b = new Node('B', join(dir, 'b'), portB);
  t.after(async () => {
    await Promise.all([a.proc?.stop('SIGKILL'), b.proc?.stop('SIGKILL')]);
  });
  await Promise.all([a.start(), b.start()]);

  // The driver: a third vat in this process, holding both roots by their sturdyrefs.
  const k: Kernel = (await startDriver(t)).kernel;
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
  // A wedged exchange fails with what it saw, not at the runner's timeout.
  const states = async () => {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Error(`no answer for ${STUCK_MS} ms; last seen ${JSON.stringify(last)}`)),
        STUCK_MS,
      );
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
      return await Promise.race([read(), stuck]);
    } finally {
      clearTimeout(timer);
    }
  };

  let kills = 0;
  let startupKills = 0;

  // Kill points spread over the exchange (on average 80% of it holds all the kills).
  const gap = () => 1 + Math.floor((Math.random() * 1.6 * TOTAL) / KILLS);
  let nextKillAt = gap();
  const t0 = performance.now();
  let progressAt = t0;
  for (;;) {
    const s = await states();
    // Whatever the kills did: nothing twice or out of order, nothing committed lost.
    assert.equal(s.b.tookBad, 0, 'B took every number once, in order');
    assert.equal(s.a.gotBad, 0, 'A got every echo once, in order');
    assert.ok(s.before.got <= s.b.took && s.b.took <= s.a.sent, JSON.stringify(s));
    assert.ok(
      s.a.sent >= last.sent && s.b.took >= last.took && s.a.got >= last.got,
      'committed work stays',
    );
    if (s.a.sent !== last.sent || s.b.took !== last.took || s.a.got !== last.got) {
      progressAt = performance.now();
    } else if (performance.now() - progressAt > STUCK_MS) {
      assert.fail(`no progress for ${STUCK_MS} ms: ${JSON.stringify(s)}`);
    }
    last = { sent: s.a.sent, took: s.b.took, got: s.a.got };
    if (s.a.got >= TOTAL) break;
    if (kills < KILLS && s.b.took >= nextKillAt) {
      nextKillAt += gap();
      const victim = Math.random() < 0.5 ? a : b;
      // Mid-exchange: A is pumping and B answering while the next window is asked for.
      void k.call(aRoot, 'pump', [Math.min(TOTAL, s.b.took + WINDOW)]);
      await sleep(Math.random() * 30);
      await victim.kill();
      kills++;
      if (Math.random() < 0.2) {
        await victim.startAndKillAfter(Math.random() * 1500);
        kills++;
        startupKills++;
      }
      await victim.start();
      continue;
    }
    // Not far past the next kill point: the kills must land during the exchange, however
    // fast it runs between two looks at B's progress.
    const until = kills < KILLS ? nextKillAt + WINDOW / 2 : TOTAL;
    void k.call(aRoot, 'pump', [Math.min(TOTAL, s.b.took + WINDOW, until)]);
    await sleep(10);
  }
  const seconds = (performance.now() - t0) / 1000;
  t.diagnostic(
    `${kills} kills (${startupKills} during start-up), ${2 * TOTAL} messages, ${seconds.toFixed(1)} s`,
  );
  assert.ok(kills >= KILLS, `killed ${kills} times`);

  // The state of a run with no kills (crash.test.ts runs one of this contract).
  const done = await states();
  assert.deepEqual({ a: done.a, b: done.b }, noKillStates(TOTAL));

  // What the kills left behind verifies: hash chain, replay since the checkpoint, state.
  await Promise.all([a.proc?.stop('SIGTERM'), b.proc?.stop('SIGTERM')]);
  for (const node of [a, b]) {
    const report = await verifyVatDataDir(node.dataDir);
    assert.equal(report.ok, true, `${node.name}: ${JSON.stringify(report)}`);
  }
});
