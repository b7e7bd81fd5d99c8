import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigChain } from '../../quorum/chain.ts';
import type { QuorumMember } from '../../quorum/member/member.ts';
import { makeTestQuorum } from '../../quorum/testing.ts';
import { memberProvider } from './member-provider.ts';
import { ChangesNotTaken } from './quorum.ts';

const q = await makeTestQuorum(4, 3, { params: { viewTimeoutMs: 1000 } });
const [self, other] = q.config.members;

/** The parts of a member the provider reads, with a replica status the test moves. */
function member(status: Record<string, unknown>, halted?: string) {
  return {
    quorum: q.config.quorum,
    vatId: self!,
    chain: new ConfigChain(q.config.quorum, q.genesis),
    status: () => status,
    halted,
  } as unknown as QuorumMember;
}

test("the replica's status as the endpoint shows it; stalled = inputs waiting and no decision for a view timeout", async () => {
  const s = {
    epoch: 0,
    round: 5,
    height: 7,
    leader: other,
    members: 4,
    threshold: 3,
    byzantine: 1,
    crashes: 1,
    pendingInputs: 2,
    halted: null,
  };
  let now = 0;
  const p = memberProvider(member(s), () => now);
  const first = p.status();
  assert.deepEqual(first, {
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
      height: 7,
      round: 5,
      leader: other,
      leading: false,
      stalled: false,
      pendingInputs: 2,
    },
    halted: null,
  });
  now = 900;
  assert.equal(p.status().ordering.stalled, false, 'within the view timeout');
  now = 1500;
  assert.equal(p.status().ordering.stalled, true, 'a view timeout without a decision');
  s.height = 8;
  assert.equal(p.status().ordering.stalled, false, 'decided again');
  now = 5000;
  s.pendingInputs = 0;
  assert.equal(p.status().ordering.stalled, false, 'nothing waiting is idle, not stalled');
  s.leader = self;
  (s as { halted: string | null }).halted = 'more than f faults';
  assert.equal(p.status().ordering.leading, true);
  assert.equal(p.status().halted, 'more than f faults');
  assert.equal(p.chain().quorum, q.config.quorum);
  await assert.rejects(p.submitChange({} as never, new AbortController().signal), ChangesNotTaken);
});

test("a member's own halt (a backstop, a divergence) shows even while its replica runs on", () => {
  const s = { epoch: 0, round: 1, height: 3, leader: other, pendingInputs: 0, halted: null };
  const reason =
    'executor failed at height 6: vat Q: a backstop stopped a delivery (vat worker exited (SIGKILL))';
  assert.equal(memberProvider(member(s)).status().halted, null);
  assert.equal(memberProvider(member(s, reason)).status().halted, reason);
});
