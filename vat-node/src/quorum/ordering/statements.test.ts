import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statementKindOf, verifyMemberSignature } from '../signatures.ts';
import { makeTestQuorum } from '../testing.ts';
import {
  checkpointStatement,
  proposalStatement,
  timeoutStatement,
  voteStatement,
} from './statements.ts';

const q = await makeTestQuorum(4, 3);
const other = await makeTestQuorum(4, 3);
const quorum = q.config.quorum;
const id = 'ab'.repeat(32);

// The ordering statements with the same numbers in every field they share: only the kind (and
// the body's field names) tell them apart.
const statements = {
  proposal: proposalStatement(quorum, 0, 5, id),
  vote: voteStatement(quorum, 0, 5, id),
  timeout: timeoutStatement(quorum, 0, 5, 5),
  checkpoint: checkpointStatement(quorum, 0, 5, id),
} as const;

test('ordering statements carry the kind of the one statement-kind table (signatures.ts)', () => {
  for (const [kind, bytes] of Object.entries(statements)) {
    assert.equal(statementKindOf(bytes), kind);
  }
});

test('an ordering signature of one kind never verifies as another kind, epoch, round or quorum', () => {
  const member = q.members[0]!;
  for (const [kind, bytes] of Object.entries(statements)) {
    const sig = member.sign(bytes);
    assert.ok(verifyMemberSignature(member.vatId, bytes, sig), kind);
    for (const [otherKind, otherBytes] of Object.entries(statements)) {
      if (otherKind === kind) continue;
      assert.equal(
        verifyMemberSignature(member.vatId, otherBytes, sig),
        false,
        `${kind} as ${otherKind}`,
      );
    }
  }
  const vote = member.sign(statements.vote);
  for (const [what, bytes] of [
    ['next epoch', voteStatement(quorum, 1, 5, id)],
    ['next round', voteStatement(quorum, 0, 6, id)],
    ['other block', voteStatement(quorum, 0, 5, 'cd'.repeat(32))],
    ['other quorum', voteStatement(other.config.quorum, 0, 5, id)],
  ] as const) {
    assert.equal(verifyMemberSignature(member.vatId, bytes, vote), false, what);
  }
  const timeout = member.sign(statements.timeout);
  assert.equal(
    verifyMemberSignature(member.vatId, timeoutStatement(quorum, 0, 5, 4), timeout),
    false,
    'another high QC round',
  );
});
