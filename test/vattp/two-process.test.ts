/**
 * Two vat node processes on 127.0.0.1 exchange 5,000 signed messages each way; one is
 * SIGKILLed mid-stream and restarted from its data directory. Every message must arrive
 * exactly once and in order (each receiver checks numbering and a rolling hash), and both
 * outboxes must drain (everything acknowledged).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import { expectedHash } from './fixtures/workload.ts';
import { freePort, type Line, outboxFor, receivedFrom, spawnVat, tempDir } from './helpers.ts';

const N = 5_000;

test('5,000 messages each way survive a SIGKILL and restart: exactly once, in order', async (t) => {
  const root = tempDir(t, 'vattp-2proc-');
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const [a, b] = [await loadOrCreateIdentity(dirA), await loadOrCreateIdentity(dirB)];
  const [portA, portB] = [await freePort(), await freePort()];
  const addrA = `/ip4/127.0.0.1/tcp/${portA}`;
  const addrB = `/ip4/127.0.0.1/tcp/${portB}`;
  const common = ['--count', String(N), '--batch', '40', '--interval-ms', '5', '--status-ms', '50'];
  const argsA = [
    '--data-dir',
    dirA,
    '--listen',
    addrA,
    '--hint',
    `${b.vatId}=${addrB}/p2p/${b.vatId}`,
    '--send-to',
    b.vatId,
    ...common,
  ];
  const argsB = [
    '--data-dir',
    dirB,
    '--listen',
    addrB,
    '--hint',
    `${a.vatId}=${addrA}/p2p/${a.vatId}`,
    '--send-to',
    a.vatId,
    ...common,
  ];

  const started = Date.now();
  const procA = spawnVat(t, argsA);
  let procB = spawnVat(t, argsB);
  await Promise.all([
    procA.waitFor('A ready', (l) => l.event === 'ready'),
    procB.waitFor('B ready', (l) => l.event === 'ready'),
  ]);

  // Kill B once A has received a good part of B's stream (and B is still sending).
  const midway = (l: Line) => l.event === 'status' && receivedFrom(l, b.vatId).count >= 1_000;
  const seen = await procA.waitFor('A receives 1,000 from B', midway);
  const linesBeforeKill = procA.lines.length;
  procB.child.kill('SIGKILL');
  await procB.exited;
  const killedAt = receivedFrom(seen, b.vatId).count;
  t.diagnostic(`B killed when A had ${killedAt} of its messages`);
  await new Promise((r) => setTimeout(r, 300)); // A notices and backs off
  procB = spawnVat(t, argsB);
  await procB.waitFor('B ready again', (l) => l.event === 'ready');

  const done = (self: Line, peer: string) =>
    self.event === 'status' && receivedFrom(self, peer).count >= N && outboxFor(self, peer) === 0;
  const [finalA, finalB] = await Promise.all([
    procA.waitFor('A has everything from B and nothing unacked', (l) => done(l, b.vatId), 120_000),
    procB.waitFor('B has everything from A and nothing unacked', (l) => done(l, a.vatId), 120_000),
  ]);
  const elapsed = Date.now() - started;

  const hash = expectedHash(N);
  for (const [name, status, peer] of [
    ['A', finalA, b.vatId],
    ['B', finalB, a.vatId],
  ] as const) {
    const r = receivedFrom(status, peer);
    assert.deepEqual(r.errors, [], `${name} saw out-of-order or duplicate deliveries`);
    assert.equal(r.count, N, `${name} delivered count`);
    assert.equal(r.hash, hash, `${name} rolling hash of bodies 1..${N}`);
  }
  // The outage: one line when B became unreachable, one when it was back, none per retry.
  // (A may also log a pair at start-up if it dialled before B listened.)
  const outage = procA.lines.slice(linesBeforeKill);
  const unreachable = outage.filter((l) => String(l.msg).startsWith('peer unreachable'));
  const back = outage.filter((l) => l.msg === 'peer reachable again');
  assert.equal(unreachable.length, 1, 'one unreachable line for the outage');
  assert.equal(back.length, 1, 'one reachable-again line for the outage');
  assert.ok(
    finalA.stats !== undefined && (finalA.stats as { connectFailures: number }).connectFailures > 1,
  );
  t.diagnostic(`A stats ${JSON.stringify(finalA.stats)}`);
  t.diagnostic(`B stats ${JSON.stringify(finalB.stats)}`);
  t.diagnostic(`total ${elapsed} ms for ${2 * N} messages with a kill and restart`);
});
