/**
 * A partition between two vat hosts, each in a network namespace this test creates (joined by
 * one veth pair and nothing else, see netns.ts). A and B stream 3,000 signed messages each way,
 * at most WINDOW unacked at a time, so the streams are still running when the link is cut.
 * The link stays cut for CUT_MS (connections torn down, every dial refused: netns.ts says why
 * a silent cut would not do), then heals. Then:
 * - every message arrived exactly once and in order on both sides (each receiver checks the
 *   numbering and a rolling hash), and both outboxes drained (everything acknowledged);
 * - during the cut both transports redialled with exponential backoff and full jitter: every
 *   delay the transport drew (its debug log) is under the policy's ceiling for that retry,
 *   the observed pause between two failed dials (the fixture's dial trace) matches it, and
 *   the delays grow from tens of milliseconds to the cap and are spread out, not equal;
 * - each side logged one "peer unreachable" line and one "peer reachable again" line for the
 *   outage, not one per retry.
 * If network namespaces cannot be created here the test fails (it does not skip).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BackoffPolicy, backoffCeiling } from '../../vat-node/src/vattp/backoff.ts';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import {
  expectExchangeComplete,
  type Line,
  receivedFrom,
  sentTo,
  spawnVat,
  tempDir,
  type VatProcess,
} from './helpers.ts';
import { createNetPair, removeLeftoverNamespaces } from './netns.ts';

const N = 3_000;
const WINDOW = 300;
const CUT_MS = 6_000;
const BACKOFF: BackoffPolicy = { baseMs: 50, capMs: 1_000, factor: 2 };
/** How late a retry may start after its timer, on a loaded 2-core machine (generous). */
const LATE_MS = 500;
/**
 * How early a retry may seem to start: Node times a timer from the event loop's cached clock,
 * which can be behind Date.now() when the dial's failure is handled (seen: 1 ms; more when
 * the process is descheduled mid-iteration).
 */
const EARLY_MS = 50;
const PORT = 4001;
const TRACED = fileURLToPath(new URL('./fixtures/traced-vat-process.ts', import.meta.url));

/** A backoff delay the transport drew, and the ceiling it had to stay under. */
interface Draw {
  ms: number;
  ceiling: number;
}

interface Dial {
  peer: string;
  start: number;
  end: number;
  ok: boolean;
  err?: string;
}

const sleepUntil = (at: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

const stat = (status: Line | undefined, key: string): number =>
  ((status?.stats ?? {}) as Record<string, number>)[key] ?? 0;

test('partition between two network namespaces: cut mid-stream, heal, exactly once, in order, backoff with jitter', {
  // Sized for a loaded machine (the cut alone is 6 s); only a wedge comes near it.
  timeout: 240_000,
}, async (t) => {
  const started = Date.now();
  const leftovers = removeLeftoverNamespaces();
  if (leftovers.length > 0) t.diagnostic(`removed leftover namespaces: ${leftovers.join(' ')}`);
  const net = createNetPair(); // throws (the test fails) where netns is not available
  t.after(() => net.destroy());
  t.diagnostic(`namespaces ${net.a.ns} (${net.a.ip}) and ${net.b.ns} (${net.b.ip})`);

  const root = tempDir(t, 'vattp-partition-');
  const [dirA, dirB] = [join(root, 'a'), join(root, 'b')];
  const [a, b] = [await loadOrCreateIdentity(dirA), await loadOrCreateIdentity(dirB)];
  const addrA = `/ip4/${net.a.ip}/tcp/${PORT}`;
  const addrB = `/ip4/${net.b.ip}/tcp/${PORT}`;
  const common = [
    '--count',
    String(N),
    '--batch',
    '30',
    '--interval-ms',
    '5',
    '--window',
    String(WINDOW),
    '--status-ms',
    '50',
    // No process is killed here: durability is the two-process test's subject, not this one's.
    '--no-fsync',
    '--backoff',
    `${BACKOFF.baseMs},${BACKOFF.capMs},${BACKOFF.factor}`,
    '--trace-dials',
  ];
  // Debug level: the transport then logs the backoff delay it drew after each failed retry.
  const env = { ...process.env, VATTP_LOG_LEVEL: 'debug' };
  // A knows B's address (a hint); B learns A's from the connection A makes (identify).
  const procA = spawnVat(
    t,
    [
      ...['--data-dir', dirA, '--listen', addrA, '--send-to', b.vatId],
      ...['--hint', `${b.vatId}=${addrB}/p2p/${b.vatId}`, ...common],
    ],
    { fixture: TRACED, prefix: net.prefix(net.a), env },
  );
  const procB = spawnVat(
    t,
    ['--data-dir', dirB, '--listen', addrB, '--send-to', a.vatId, ...common],
    { fixture: TRACED, prefix: net.prefix(net.b), env },
  );
  await Promise.all([
    procA.waitFor('A ready', (l) => l.event === 'ready'),
    procB.waitFor('B ready', (l) => l.event === 'ready'),
  ]);
  const readyAt = Date.now();

  // Mid-stream: both have received a third of the other's messages.
  const third = (peer: string) => (l: Line) =>
    l.event === 'status' && receivedFrom(l, peer).count >= N / 3;
  await Promise.all([
    procA.waitFor('A receives 1,000 from B', third(b.vatId)),
    procB.waitFor('B receives 1,000 from A', third(a.vatId)),
  ]);
  const mark = { a: procA.lines.length, b: procB.lines.length };
  const before = { a: procA.lastStatus(), b: procB.lastStatus() };
  const cutAt = Date.now();
  await net.cut();
  const cutDone = Date.now();
  assert.ok(sentTo(before.a, b.vatId) < N, 'A was still streaming when the link was cut');
  assert.ok(sentTo(before.b, a.vatId) < N, 'B was still streaming when the link was cut');
  t.diagnostic(
    `cut at A ${receivedFrom(before.a, b.vatId).count}/${N} from B, ` +
      `B ${receivedFrom(before.b, a.vatId).count}/${N} from A (cut took ${cutDone - cutAt} ms)`,
  );

  // From one second into the cut until the heal, nothing may get through.
  await sleepUntil(cutDone + 1_000);
  const frozen = {
    a: receivedFrom(procA.lastStatus(), b.vatId).count,
    b: receivedFrom(procB.lastStatus(), a.vatId).count,
  };
  await sleepUntil(cutDone + CUT_MS);
  const stillFrozen = {
    a: receivedFrom(procA.lastStatus(), b.vatId).count,
    b: receivedFrom(procB.lastStatus(), a.vatId).count,
  };
  const healAt = Date.now();
  await net.heal();
  const healDone = Date.now();
  assert.deepEqual(stillFrozen, frozen, 'messages got through the cut link');

  const [finalA, finalB] = await expectExchangeComplete(
    [
      { name: 'A', proc: procA, peer: b.vatId },
      { name: 'B', proc: procB, peer: a.vatId },
    ],
    N,
    90_000,
  );
  const drainedAt = Date.now();

  // The outage as each side saw it.
  const draws: Draw[] = [];
  for (const [name, proc, peer, from, atCut, final] of [
    ['A', procA, b.vatId, mark.a, before.a, finalA],
    ['B', procB, a.vatId, mark.b, before.b, finalB],
  ] as const) {
    const side = outage(name, proc, peer, from, { cutAt, healAt, healDone });
    const failures = stat(final, 'connectFailures') - stat(atCut, 'connectFailures');
    assert.ok(
      failures >= side.failedDials,
      `${name}: connectFailures ${failures} counts every failed dial`,
    );
    draws.push(...side.draws);
  }

  // Backoff, pooled over both sides: the delays drawn during the cut.
  const capped = draws.filter((d) => d.ceiling >= BACKOFF.capMs).map((d) => d.ms);
  // Enough retries that the checks below fail by chance less than once in a thousand runs
  // (simulated; a 6 s cut gives ~8 capped delays per side).
  assert.ok(capped.length >= 10, `only ${capped.length} retries at the cap: too few to judge`);
  // Growth: every delay was under its ceiling (so the first ones were short), and the
  // capped ones reach far beyond what the first ones could.
  assert.ok(
    Math.max(...capped) > 2 * backoffCeiling(1, BACKOFF),
    `some capped delay exceeds ${2 * backoffCeiling(1, BACKOFF)} ms: ${capped}`,
  );
  // Jitter: delays under the same ceiling differ, and full jitter puts some below half of it
  // (equal jitter never would).
  assert.ok(
    Math.max(...capped) - Math.min(...capped) > BACKOFF.capMs / 10,
    `capped delays are spread out: ${capped}`,
  );
  assert.ok(
    capped.some((ms) => ms < BACKOFF.capMs / 2),
    `full jitter: some capped delay below ${BACKOFF.capMs / 2} ms: ${capped}`,
  );

  t.diagnostic(`A stats ${JSON.stringify(finalA?.stats)}`);
  t.diagnostic(`B stats ${JSON.stringify(finalB?.stats)}`);
  t.diagnostic(
    `timings: setup+start ${readyAt - started} ms, stream to cut ${cutAt - readyAt} ms, ` +
      `cut ${healAt - cutAt} ms, heal to drained ${drainedAt - healDone} ms, ` +
      `total ${Date.now() - started} ms`,
  );

  /** Checks one side's view of the outage; returns its pauses between failed dials. */
  function outage(
    name: string,
    proc: VatProcess,
    peer: string,
    from: number,
    when: { cutAt: number; healAt: number; healDone: number },
  ): { failedDials: number; draws: Draw[] } {
    const lines = proc.lines.slice(from);
    const dials = lines.filter((l) => l.event === 'dial' && l.peer === peer) as unknown as Dial[];
    const inCut = dials.filter((d) => d.start >= when.cutAt && d.end <= when.healAt);
    assert.ok(
      inCut.every((d) => !d.ok),
      `${name}: a dial succeeded during the cut: ${JSON.stringify(inCut.find((d) => d.ok))}`,
    );
    // Refusals are fast, so at least 6 attempts fit the first ~2 s of the cut; a tight retry
    // loop would make hundreds.
    assert.ok(inCut.length >= 6, `${name}: only ${inCut.length} dial attempts during the cut`);
    assert.ok(inCut.length <= 40, `${name}: ${inCut.length} dial attempts: no backoff?`);
    // Every reconnect goes through host.dial, even onto a connection the peer opened.
    const reconnected = dials.find((d) => d.ok && d.start >= when.healAt);
    assert.ok(reconnected !== undefined, `${name}: no successful dial after the heal`);
    // pauses[k]: from the end of failed dial k to the start of the next one.
    const pauses = inCut.slice(1).map((d, k) => d.start - (inCut[k]?.end ?? 0));
    // The delay drawn after failed dial k: the first failure logs "peer unreachable" (without
    // it), each later one "connect retry failed" with delayMs. The draw after the lost stream
    // was backoff step 0, so the one after failure k is step k+1.
    const retries = lines.filter(
      (l) =>
        l.msg === 'connect retry failed' &&
        l.peer === peer &&
        Number(l.time) >= when.cutAt &&
        Number(l.time) <= when.healAt,
    );
    const draws: Draw[] = retries.map((l, i) => ({
      ms: Number(l.delayMs),
      ceiling: backoffCeiling(i + 2, BACKOFF),
    }));
    assert.ok(draws.length >= inCut.length - 2, `${name}: a retry without its delay logged`);
    draws.forEach((d, i) => {
      assert.ok(d.ms >= 0 && d.ms < d.ceiling, `${name}: delay ${d.ms} not under ${d.ceiling}`);
      const pause = pauses[i + 1];
      if (pause === undefined) return; // the retry after the heal
      assert.ok(
        pause >= d.ms - EARLY_MS,
        `${name}: redialled after ${pause} ms, before its ${d.ms} ms`,
      );
      assert.ok(pause <= d.ms + LATE_MS, `${name}: redialled ${pause} ms after a ${d.ms} ms delay`);
    });
    assert.ok(
      (pauses[0] ?? 0) <= backoffCeiling(1, BACKOFF) + LATE_MS,
      `${name}: first pause ${pauses[0]} ms`,
    );
    const took = inCut.map((d) => d.end - d.start);
    t.diagnostic(
      `${name}: ${inCut.length} failed dials during the cut (each ${Math.min(...took)}-` +
        `${Math.max(...took)} ms); pauses between them (ms): ${pauses.join(' ')}; ` +
        `delays drawn (ms): ${draws.map((d) => d.ms).join(' ')}`,
    );

    const logs = lines.filter((l) => typeof l.msg === 'string' && l.peer === peer);
    const down = logs.filter((l) => String(l.msg).startsWith('peer unreachable'));
    const up = logs.filter((l) => l.msg === 'peer reachable again');
    assert.equal(down.length, 1, `${name}: one "unreachable" line for the outage`);
    assert.equal(up.length, 1, `${name}: one "reachable again" line for the outage`);
    const downAt = Number(down[0]?.time);
    const upAt = Number(up[0]?.time);
    assert.ok(downAt >= when.cutAt && downAt <= when.healAt, `${name}: unreachable during the cut`);
    assert.ok(upAt >= when.healAt, `${name}: reachable again after the heal`);
    t.diagnostic(
      `${name}: unreachable logged ${downAt - when.cutAt} ms into the cut, reachable again ` +
        `${upAt - when.healDone} ms after the heal (down ${String(up[0]?.downMs)} ms)`,
    );
    return { failedDials: dials.filter((d) => !d.ok).length, draws };
  }
});
