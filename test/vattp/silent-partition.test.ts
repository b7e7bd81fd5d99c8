/**
 * A silent partition: the link between two vat hosts (each in a network namespace this test
 * creates) drops every packet, with no reset and no closed connection, the way a dead route
 * or a crashed middlebox behaves. TCP alone would sit on its retransmissions for many minutes;
 * the transport notices that its unacknowledged messages get no answer (stall timeout),
 * gives up on the connection, reports the peer unreachable once, redials with backoff, and
 * after the heal delivers everything exactly once and in order.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import {
  expectExchangeComplete,
  type Line,
  receivedFrom,
  sentTo,
  spawnVat,
  tempDir,
} from './helpers.ts';
import { createNetPair, removeLeftoverNamespaces } from './netns.ts';

const N = 2_000;
/**
 * How long detection may take: up to two stall periods (the watchdog re-arms once when the
 * peer spoke shortly before the cut), then a redial that times out, on a loaded machine. The
 * link stays cut until then, so a wide bound does not weaken the test: an undetected partition
 * is never reported at all.
 */
const DETECT_MS = 30_000;
const STALL_MS = 1_500;
const PORT = 4001;
const TRACED = fileURLToPath(new URL('./fixtures/traced-vat-process.ts', import.meta.url));

test('a silent partition is detected by the stall timeout, and healed without loss', {
  // Sized for a loaded machine (alone it takes about 10 s); only a wedge comes near it.
  timeout: 240_000,
}, async (t) => {
  removeLeftoverNamespaces();
  const net = createNetPair();
  t.after(() => net.destroy());
  const root = tempDir(t, 'vattp-silent-');
  const [dirA, dirB] = [join(root, 'a'), join(root, 'b')];
  const [a, b] = [await loadOrCreateIdentity(dirA), await loadOrCreateIdentity(dirB)];
  const addrA = `/ip4/${net.a.ip}/tcp/${PORT}`;
  const addrB = `/ip4/${net.b.ip}/tcp/${PORT}`;
  const common = [
    ...['--count', String(N), '--batch', '20', '--interval-ms', '5', '--window', '200'],
    ...['--status-ms', '50', '--no-fsync', '--backoff', '50,1000,2'],
    ...['--stall-ms', String(STALL_MS), '--connect-timeout-ms', '2000'],
  ];
  const procA = spawnVat(
    t,
    [
      ...['--data-dir', dirA, '--listen', addrA, '--send-to', b.vatId],
      ...['--hint', `${b.vatId}=${addrB}/p2p/${b.vatId}`, ...common],
    ],
    { fixture: TRACED, prefix: net.prefix(net.a) },
  );
  const procB = spawnVat(
    t,
    ['--data-dir', dirB, '--listen', addrB, '--send-to', a.vatId, ...common],
    { fixture: TRACED, prefix: net.prefix(net.b) },
  );
  await Promise.all([
    procA.waitFor('A ready', (l) => l.event === 'ready'),
    procB.waitFor('B ready', (l) => l.event === 'ready'),
  ]);
  const third = (peer: string) => (l: Line) =>
    l.event === 'status' && receivedFrom(l, peer).count >= N / 3;
  await Promise.all([
    procA.waitFor('A receives a third', third(b.vatId)),
    procB.waitFor('B receives a third', third(a.vatId)),
  ]);
  const mark = { a: procA.lines.length, b: procB.lines.length };
  assert.ok(sentTo(procA.lastStatus(), b.vatId) < N, 'A still streaming at the cut');
  await net.cut('silent');
  const unreachable = (l: Line) =>
    typeof l.msg === 'string' && l.msg.startsWith('peer unreachable');
  // Detected while the link is still cut: stall timeout, then a failed redial. Only lines
  // after the cut count: on a loaded machine A may have dialled before B listened, and logged
  // an unreachable line at start-up (then waitFor matched it at once and the test healed the
  // link before the stall was ever detected).
  const sinceCut = (proc: typeof procA, from: number) => (l: Line) =>
    unreachable(l) && proc.lines.indexOf(l) >= from;
  await Promise.all([
    procA.waitFor('A reports B unreachable', sinceCut(procA, mark.a), DETECT_MS),
    procB.waitFor('B reports A unreachable', sinceCut(procB, mark.b), DETECT_MS),
  ]);
  await new Promise((r) => setTimeout(r, 1_000));
  await net.heal();

  await expectExchangeComplete(
    [
      { name: 'A', proc: procA, peer: b.vatId },
      { name: 'B', proc: procB, peer: a.vatId },
    ],
    N,
    90_000,
  );
  for (const [name, proc, from] of [
    ['A', procA, mark.a],
    ['B', procB, mark.b],
  ] as const) {
    const lines = proc.lines.slice(from);
    assert.equal(lines.filter(unreachable).length, 1, `${name}: one unreachable line`);
    assert.equal(
      lines.filter((l) => l.msg === 'peer reachable again').length,
      1,
      `${name}: one reachable-again line`,
    );
  }
});
