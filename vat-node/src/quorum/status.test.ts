import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assembleCertificate } from './certificate.ts';
import {
  ChainError,
  ConfigChain,
  type ConfigChange,
  changeStatement,
  requestChange,
} from './chain.ts';
import { chainDocument, quorumStatus, readChainDocument, statusLines } from './status.ts';
import { makeTestMembers, makeTestQuorum } from './testing.ts';

const q = await makeTestQuorum(3, 2);
const other = await makeTestQuorum(3, 2);
const [newcomer, learner] = await makeTestMembers(2);
const learnerId = learner!.vatId;
q.signerOf.set(newcomer!.vatId, newcomer!.sign);

function grow(chain: ConfigChain, change: ConfigChange, position: number): void {
  const config = chain.current;
  const { request, admin } = requestChange(q.admin.sign, config, change);
  const statement = changeStatement(request, position);
  const certificate = assembleCertificate(
    config,
    config.members
      .slice(0, config.threshold)
      .map((m) => [m, q.signerOf.get(m)!(statement)] as const),
  );
  chain.append({ request, admin, position, certificate });
}

test('status states the configuration and both fault-tolerance numbers, at genesis and after a change', () => {
  const chain = new ConfigChain(q.config.quorum, q.genesis);
  const s0 = quorumStatus(chain);
  assert.equal(
    s0.summary,
    '3 members, threshold 2: tolerates 0 Byzantine and 1 crashed (quorums intersect in 1)',
  );
  assert.equal(s0.changes, 0);
  grow(chain, { op: 'add', member: newcomer!.vatId, threshold: 3 }, 100);
  const s1 = quorumStatus(chain);
  assert.deepEqual(
    [s1.epoch, s1.since, s1.changes, s1.members.length, s1.threshold],
    [1, 101, 1, 4, 3],
  );
  assert.equal(s1.tolerance.byzantine, 1);
  assert.equal(s1.tolerance.crashes, 1);
  assert.equal(s1.quorum, s0.quorum, 'same VatID');
  const lines = statusLines(s1);
  assert.match(lines[1]!, /epoch 1 \(since order position 101, 1 change since genesis\)/);
  assert.match(lines[2]!, /tolerates 1 Byzantine and 1 crashed/);
  assert.equal(lines.length, 3 + 4);
  grow(chain, { op: 'add-learner', member: learnerId }, 200);
  const s2 = quorumStatus(chain);
  assert.deepEqual(s2.learners, [learnerId]);
  assert.equal(statusLines(s2).at(-1), `  learner ${learnerId}`);
});

test('a chain document round-trips and is re-verified from the VatID; tampering is refused', () => {
  const chain = new ConfigChain(q.config.quorum, q.genesis);
  grow(chain, { op: 'add', member: newcomer!.vatId, threshold: 3 }, 7);
  grow(chain, { op: 'remove', member: q.members[0]!.vatId, threshold: 2 }, 9);
  const text = JSON.stringify(chainDocument(chain));
  const back = readChainDocument(text, q.config.quorum);
  assert.deepEqual(quorumStatus(back), quorumStatus(chain));
  const doc = JSON.parse(text);
  const tamper = (f: (d: typeof doc) => void) => {
    const d = structuredClone(doc);
    f(d);
    return JSON.stringify(d);
  };
  const table: [string, string, string][] = [
    ['not JSON', '{', 'malformed'],
    ['no records', JSON.stringify({ quorum: doc.quorum, genesis: doc.genesis }), 'malformed'],
    [
      'another quorum expected',
      JSON.stringify({ ...doc, quorum: other.config.quorum }),
      'wrong-quorum',
    ],
    ['a record dropped', tamper((d) => d.records.splice(0, 1)), 'skipped-epoch'],
    [
      'a threshold edited',
      tamper((d) => (d.records[1].request.change.threshold = 3)),
      'bad-admin-signature',
    ],
    ['the genesis edited', tamper((d) => (d.genesis.threshold = 3)), 'genesis-mismatch'],
  ];
  for (const [what, t, reason] of table) {
    assert.throws(
      () => readChainDocument(t, q.config.quorum),
      (e: unknown) => e instanceof ChainError && e.reason === reason,
      what,
    );
  }
  // Without an expected VatID, a valid chain of another quorum reads as that quorum.
  const foreign = JSON.stringify(
    chainDocument(new ConfigChain(other.config.quorum, other.genesis)),
  );
  assert.equal(readChainDocument(foreign).quorum, other.config.quorum);
  assert.throws(() => readChainDocument(foreign, q.config.quorum), /not quorum/);
});
