import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigChain } from '../../quorum/chain.ts';
import { makeTestQuorum } from '../../quorum/testing.ts';
import { EXIT } from '../config.ts';
import type { MemberHealth } from './member-http.ts';
import { exitCodeOf, healthOf, reportLines, type StatusReport } from './status-command.ts';

const q = await makeTestQuorum(4, 3);
const chain = new ConfigChain(q.config.quorum, q.genesis);
const view = { quorum: q.config.quorum, chain, sources: [] };

function health(i: number, over: Partial<MemberHealth> = {}): MemberHealth {
  return {
    endpoint: `http://m${i}:9090`,
    reachable: true,
    ready: true,
    vatId: q.config.members[i],
    quorum: {
      quorum: q.config.quorum,
      name: 'test',
      epoch: 0,
      members: 4,
      threshold: 3,
      byzantine: 1,
      crashes: 1,
      role: 'member',
      caughtUp: true,
      ordering: {
        height: 9,
        round: 4,
        leader: q.config.members[0]!,
        leading: i === 0,
        stalled: false,
        pendingInputs: 0,
      },
      halted: null,
    },
    ...over,
  };
}

const report = (
  members: MemberHealth[],
  more: Partial<StatusReport['view']> = {},
): StatusReport => ({
  view: { ...view, ...more },
  members,
});

test('k ready voting members: progress possible, exit 0; fewer: said, exit 1', () => {
  const all = report([0, 1, 2, 3].map((i) => health(i)));
  assert.deepEqual(healthOf(all), { given: 4, ready: 4, threshold: 3, enough: true });
  assert.equal(exitCodeOf(all), EXIT.ok);
  assert.match(
    reportLines(all).at(-1)!,
    /4 of the 4 .* at least k = 3, the quorum can make progress/,
  );

  const two = report([
    health(0),
    health(1),
    health(2, { reachable: false, ready: undefined, quorum: undefined, problem: 'ECONNREFUSED' }),
    health(3, { ready: false, reason: 'quorum member halted: x' }),
  ]);
  assert.deepEqual(healthOf(two), { given: 4, ready: 2, threshold: 3, enough: false });
  assert.equal(exitCodeOf(two), EXIT.failure);
  const lines = reportLines(two);
  assert.match(lines.at(-1)!, /2 of the 4 .* fewer than k = 3, the quorum cannot make progress/);
  assert.ok(lines.includes('member http://m2:9090: unreachable (ECONNREFUSED)'));
  assert.match(
    lines.find((l) => l.startsWith('member http://m3'))!,
    /NOT READY \(quorum member halted: x\)/,
  );
  assert.match(lines.find((l) => l.startsWith('member http://m0'))!, /leader this member/);

  const partial = report([health(0), health(1)]);
  assert.match(reportLines(partial).at(-1)!, /fewer than k = 3 \(not every member was asked\)/);
  assert.equal(exitCodeOf(partial), EXIT.ok, 'the members asked are fine');
});

test('a learner, another quorum, a conflict, a chain that does not verify', () => {
  const learner = health(0, { quorum: { ...health(0).quorum!, role: 'learner' } });
  assert.equal(healthOf(report([learner])).ready, 0, 'a learner does not vote');
  const elsewhere = health(1, { quorum: { ...health(1).quorum!, quorum: 'quorumOther' } });
  assert.match(
    reportLines(report([elsewhere])).find((l) => l.startsWith('member'))!,
    /serves quorum quorumOther, not this one/,
  );
  assert.equal(exitCodeOf(report([elsewhere])), EXIT.failure);
  assert.equal(exitCodeOf(report([], { conflict: 'the chains of a and b differ' })), EXIT.tampered);
  const bad = report([], {
    sources: [{ source: 'chain.json', invalid: 'record 0: certificate: x' }],
  });
  assert.equal(exitCodeOf(bad), EXIT.tampered);
  assert.ok(
    reportLines(bad).includes('chain from chain.json: DOES NOT VERIFY: record 0: certificate: x'),
  );
});

test('a learner: said to be catching up or caught up, and never counted toward k', () => {
  const learner = (caughtUp: boolean) =>
    health(3, { quorum: { ...health(3).quorum!, role: 'learner', caughtUp } });
  for (const caughtUp of [false, true]) {
    const r = report([health(0), health(1), learner(caughtUp)]);
    const line = reportLines(r).find((l) => l.startsWith('member http://m3'))!;
    assert.match(line, caughtUp ? /learner \(caught up\) / : /learner \(catching up\) /);
    assert.equal(healthOf(r).ready, 2);
  }
});
