import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connection, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { collectEvents } from '../events/events.ts';
import { BootstrapKeeper, type BootstrapNode } from './bootstrap.ts';

const ADDR = '/ip4/127.0.0.1/tcp/4001';

/** A node whose dials to ADDR fail `failures` times, then connect to peer "B" (pure logic). */
function fakeNode(failures: number) {
  const connections: Connection[] = [];
  let dials = 0;
  const node: BootstrapNode = {
    status: 'started',
    async dial(_addr: Multiaddr) {
      dials++;
      if (dials <= failures) throw new Error(`refused ${dials}`);
      const c = { remotePeer: { toString: () => 'B' }, status: 'open' } as unknown as Connection;
      connections.push(c);
      return c;
    },
    getConnections: (_peer?: PeerId) => connections,
    getMultiaddrs: () => [],
    addEventListener() {},
  };
  return { node, dials: () => dials };
}

test('a bootstrap outage is one warning, debug lines for the retries, one line when it is back', async () => {
  const { sink, events } = collectEvents();
  const { node, dials } = fakeNode(3);
  const keeper = new BootstrapKeeper(node, [ADDR], {
    events: sink,
    backoff: { baseMs: 1, capMs: 2, factor: 2 },
  });
  await keeper.firstRound();
  for (let i = 0; i < 200 && dials() < 4; i++) await new Promise((r) => setTimeout(r, 10));
  keeper.stop();
  assert.equal(dials(), 4);
  assert.deepEqual(
    events.map((e) => e.type),
    [
      'bootstrap-unreachable',
      'bootstrap-retry-failed',
      'bootstrap-retry-failed',
      'bootstrap-reachable',
    ],
  );
  const [down, , , up] = events;
  assert.ok(down?.type === 'bootstrap-unreachable' && down.bootstrap === ADDR);
  assert.match(down.err, /refused 1/);
  assert.ok(up?.type === 'bootstrap-reachable' && up.downMs >= 0);
});

test('a reachable bootstrap peer reports nothing', async () => {
  const { sink, events } = collectEvents();
  const { node } = fakeNode(0);
  const keeper = new BootstrapKeeper(node, [ADDR], { events: sink });
  await keeper.firstRound();
  keeper.stop();
  assert.deepEqual(events, []);
});
