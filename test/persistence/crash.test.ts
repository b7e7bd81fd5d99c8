/**
 * Crash safety: a process with two kernels (two vats, each with its data directory and its own
 * worker process; fixtures/crash-node.ts) is SIGKILLed at 50 random points during a
 * 10,000-message exchange (CRASH_TOTAL / CRASH_KILLS change that), and restarted from its data
 * directories each time. Every message must arrive exactly once and in order (the contract
 * counts anything else as bad), and the final state must equal that of a run with no kills.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, test } from 'node:test';
import { verifyVatDataDir } from '../../vat-node/src/node/verify-vat.ts';
import { noKillStates, type PingpongState } from './fixtures/pingpong-state.ts';

const FIXTURE = new URL('./fixtures/crash-node.ts', import.meta.url).pathname;
const TOTAL = Number(process.env.CRASH_TOTAL ?? 10_000);
const KILLS = Number(process.env.CRASH_KILLS ?? 50);
/**
 * Sized by the work, with wide headroom: alone on a busy 2-core machine the whole test took
 * 164 s (about 0.7 ms per message without kills, 3 s per kill and restart); with other tests
 * beside it, it took longer than the runner's 300 s default. Ten times that, per message and
 * per kill. Progress is checked by counts, never by time, so a slow machine only runs longer.
 */
const TIMEOUT_MS = 60_000 + 10 * (2 * TOTAL * 0.7 + KILLS * 3_000);

type State = PingpongState;
interface Event {
  event: 'start' | 'progress' | 'done';
  a?: State;
  b?: State;
  sent?: number;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'qv-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the node once; `onEvent` may kill it. Resolves with the events it printed. */
function runNode(
  dir: string,
  onEvent: (e: Event, child: ChildProcess) => void = () => {},
  killAfterSpawnMs?: number,
): Promise<{ events: Event[]; killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        FIXTURE,
        join(dir, 'a'),
        join(dir, 'b'),
        String(TOTAL),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const events: Event[] = [];
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Event;
      events.push(e);
      onEvent(e, child);
    });
    const timer =
      killAfterSpawnMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), killAfterSpawnMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ events, killed: signal === 'SIGKILL', code, stderr });
    });
  });
}

test('SIGKILL at random points: every message exactly once, in order, same final state', {
  timeout: TIMEOUT_MS,
}, async (t) => {
  // The run with no kills.
  const t0 = performance.now();
  const ref = await runNode(tempDir(t));
  t.diagnostic(
    `no kills: ${2 * TOTAL} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  assert.equal(ref.code, 0, ref.stderr);
  const expected = ref.events.at(-1)!;
  assert.equal(expected.event, 'done');
  assert.deepEqual({ a: expected.a, b: expected.b }, noKillStates(TOTAL));

  const dir = tempDir(t);
  let kills = 0;
  let lives = 0;
  let last = { sent: 0, took: 0 };
  for (;;) {
    lives++;
    assert.ok(lives < 200, 'the exchange makes progress across restarts');
    // Mostly during the exchange, after a random number of messages (so that every life but
    // the last is killed, however fast the machine); now and then during start-up (open,
    // recovery, worker start) at a random time.
    const early = kills < KILLS && Math.random() < 0.2;
    let target = Number.POSITIVE_INFINITY;
    let armed = false;
    const kill = (child: ChildProcess) => {
      if (armed) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), Math.random() * 25);
    };
    const life = await runNode(
      dir,
      (e, child) => {
        if (e.event === 'start') {
          // After each restart: nothing delivered twice or out of order, nothing lost.
          assert.equal(e.b!.tookBad, 0, 'B saw every number once, in order');
          assert.equal(e.a!.gotBad, 0, 'A saw every echo once, in order');
          assert.ok(e.b!.took <= e.a!.sent && e.a!.got <= e.b!.took);
          assert.ok(e.a!.sent >= last.sent && e.b!.took >= last.took, 'committed work stays');
          last = { sent: e.a!.sent, took: e.b!.took };
          if (kills < KILLS) {
            target = e.a!.sent + 1 + Math.floor(Math.random() * ((1.5 * TOTAL) / KILLS));
          }
        } else if (e.event === 'progress' && e.sent! >= target) {
          kill(child);
        }
      },
      early ? Math.random() * 1200 : undefined,
    );
    if (life.killed) {
      kills++;
      continue;
    }
    assert.equal(life.code, 0, life.stderr);
    const done = life.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.deepEqual(done.a, expected.a, 'same final state as the run with no kills');
    assert.deepEqual(done.b, expected.b, 'same final state as the run with no kills');
    break;
  }
  t.diagnostic(
    `${kills} kills over ${lives} lives, ${((performance.now() - t0) / 1000).toFixed(1)} s in all (timeout ${TIMEOUT_MS / 1000} s)`,
  );
  assert.ok(kills >= Math.min(KILLS, 20), `killed ${kills} times`);
  // What the kills left behind verifies: hash chain, replay since the checkpoint, state.
  for (const vat of ['a', 'b']) {
    const report = await verifyVatDataDir(join(dir, vat));
    assert.equal(report.ok, true);
  }
});
