// Membership changes on real member processes (127.0.0.1, VatTP over libp2p, the members' HTTP
// endpoints): a (3,2) quorum vat serves a solo vat that keeps calls in flight the whole time;
// the administrator admits a new host as a learner (epoch 1), it catches up from the others'
// decisions (checked against their signed checkpoints) and is voted in with k = 3 (epoch 2);
// then a founder is removed with k = 2 (epoch 3) while another founder is killed and restarted.
// Nothing is lost, every answer comes in order, the quorum's VatID never changes, every member's
// chain verifies from genesis, the client follows the chain, and the removed host (still
// running) speaks for nobody. Then refusals (2k ≤ n; too few live members) and, in the idle
// quorum, a request given to one member only is still ordered.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assembleCertificate } from '../../vat-node/src/quorum/certificate.ts';
import {
  type ConfigChange,
  requestChange,
  requestStatement,
  verifyChain,
} from '../../vat-node/src/quorum/chain.ts';
import type { QuorumConfig } from '../../vat-node/src/quorum/config.ts';
import { quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import {
  agreed,
  callStream,
  errorLines,
  type MemberHost,
  type MemberProcess,
  makeQuorum,
  newHost,
  type QuorumFixture,
  startMember,
  startSolo,
  until,
} from './members.ts';

const url = (h: MemberHost, path: string) => `http://127.0.0.1:${h.httpPort}${path}`;

async function getJson(h: MemberHost, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(url(h, path));
  return (await res.json()) as Record<string, unknown>;
}

interface Readyz {
  ready: boolean;
  quorum: {
    epoch: number;
    role: string;
    caughtUp: boolean;
    members: number;
    threshold: number;
    ordering: { height: number };
  };
}
const readyz = (h: MemberHost) => getJson(h, '/readyz') as Promise<unknown> as Promise<Readyz>;
/** /readyz, or undefined while the endpoint does not answer yet. */
const probe = (h: MemberHost) => readyz(h).catch(() => undefined);

/** The configuration the chain served by `h` leads to, verified from genesis. */
async function verifiedChain(q: QuorumFixture, h: MemberHost): Promise<readonly QuorumConfig[]> {
  const doc = await getJson(h, '/quorum/chain');
  assert.equal(doc['quorum'], q.quorum);
  return verifyChain(q.quorum, doc['genesis'], doc['records'] as unknown[]);
}

/**
 * What `quorumvat quorum change --member …` does: signs the change for the newest configuration
 * (read from a member's chain) and POSTs it to every given member; the first decision wins.
 */
async function change(
  q: QuorumFixture,
  to: readonly MemberHost[],
  make: (current: QuorumConfig) => ConfigChange,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const current = (await verifiedChain(q, to[0]!)).at(-1)!;
  const signed = requestChange(q.admin.sign, current, make(current));
  const settled = await Promise.allSettled(
    to.map(async (h) => {
      const res = await fetch(url(h, '/quorum/changes?wait=60000'), {
        method: 'POST',
        body: JSON.stringify(signed),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }),
  );
  // A member may die meanwhile (the test kills one): the others' answers count.
  const answers = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  assert.ok(answers.length > 0, 'some member answered');
  return answers.find((a) => a.status === 200) ?? answers[0]!;
}

test('add a member and remove one while calls flow: nothing lost, in order, VatID unchanged, the chain verifies from genesis', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: 4 });
  t.after(() => q.cleanup());
  const processes = new Map<string, MemberProcess>();
  t.after(() => Promise.all([...processes.values()].map((m) => m.stop('SIGKILL'))));
  for (const [i, h] of q.members.entries()) {
    processes.set(h.vatId, await startMember(q, i, { http: true }));
  }
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const root = await solo.redeem(q.sturdyRef);

  // Calls in flight the whole time: up to 4 outstanding, each answer the next count.
  const calls = callStream(solo, root);
  const { answers, progressed } = calls;
  await progressed(20);

  // 1. A new host is admitted as a learner (epoch 1), then started with the chain so far.
  const x = await newHost(q);
  await solo.knowHost(x);
  const founders = [...q.members];
  let t0 = Date.now();
  const took = (what: string) => {
    t.diagnostic(`${what}: ${Date.now() - t0} ms (${answers.length} calls answered so far)`);
    t0 = Date.now();
  };
  const learnerChange = await change(q, founders, () => ({ op: 'add-learner', member: x.vatId }));
  took('add-learner decided and certified');
  assert.equal(learnerChange.status, 200, JSON.stringify(learnerChange.body));
  assert.deepEqual(learnerChange.body, {
    state: 'decided',
    epoch: 1,
    position: learnerChange.body['position'],
  });
  const chainFile = join(q.root, 'chain.json');
  writeFileSync(chainFile, JSON.stringify(await getJson(founders[0]!, '/quorum/chain')));
  processes.set(x.vatId, await startMember(q, x, { http: true, chainFile }));
  took('learner process started');
  const caughtUp = await until('the learner caught up', 120_000, async () => {
    const r = await probe(x);
    return r?.quorum?.role === 'learner' && r.quorum.caughtUp ? r : undefined;
  });
  assert.equal(caughtUp.quorum.epoch, 1);
  took(`learner caught up to height ${caughtUp.quorum.ordering.height}`);
  await progressed(answers.length + 10);

  // 2. It is voted in: (4,3), epoch 2.
  t0 = Date.now();
  const add = await change(q, founders, () => ({ op: 'add', member: x.vatId, threshold: 3 }));
  took('vote-in decided and certified');
  assert.equal(add.status, 200, JSON.stringify(add.body));
  assert.equal(add.body['epoch'], 2);
  await until('the new member votes', 60_000, async () => {
    const r = await probe(x);
    return r?.quorum?.role === 'member' && r.quorum.epoch === 2 ? r : undefined;
  });
  await progressed(answers.length + 10);

  // 3. A founder (not the one added) is removed: (3,2), epoch 3. Another founder is killed while
  // the change is under way (the other three of (4,3) decide and certify it) and restarted
  // from its data directory alone: it resumes from its stored chain and catches up into epoch 3.
  const removed = founders[0]!;
  const crashed = founders[1]!;
  const stay = [...founders.slice(1), x];
  t0 = Date.now();
  const removing = change(q, stay, () => ({
    op: 'remove',
    member: removed.vatId,
    threshold: 2,
  }));
  await new Promise((r) => setTimeout(r, 50));
  await processes.get(crashed.vatId)!.stop('SIGKILL');
  const remove = await removing;
  took('removal decided and certified (one voter killed meanwhile)');
  assert.equal(remove.status, 200, JSON.stringify(remove.body));
  assert.equal(remove.body['epoch'], 3);
  processes.set(crashed.vatId, await startMember(q, crashed, { http: true }));
  await until('the restarted member is back in epoch 3', 120_000, async () => {
    const r = await probe(crashed);
    return r?.quorum?.epoch === 3 && r.quorum.role === 'member' ? r : undefined;
  });
  // Every remaining member holds the certified record (the restarted one fetches it if it
  // missed the signatures).
  for (const h of stay) {
    await until(`${h.vatId} holds the record of epoch 3`, 60_000, async () =>
      (await verifiedChain(q, h).catch(() => [])).length === 4 ? true : undefined,
    );
  }
  // The client learns the change (pushed by the members) and stops counting the removed host.
  await until('the client follows the chain to epoch 3', 30_000, async () =>
    solo.port.chainOf(q.quorum)?.current.epoch === 3 ? true : undefined,
  );
  await progressed(answers.length + 20);

  // Nothing lost, in order: the answers are 1, 2, 3, … as sent.
  await calls.stop();
  assert.deepEqual(await solo.kernel.call(root, 'counted', []), {
    rejected: false,
    value: answers.length,
  });

  // The VatID never changed, and every remaining member's chain verifies from genesis to (3,2).
  assert.equal(quorumVatIdOf(q.genesis), q.quorum);
  assert.equal(solo.port.chainOf(q.quorum)!.quorum, q.quorum);
  for (const h of stay) {
    const configs = await verifiedChain(q, h);
    assert.deepEqual(
      configs.map((c) => [c.epoch, c.members.length, c.threshold, c.learners.length]),
      [
        [0, 3, 2, 0],
        [1, 3, 2, 1],
        [2, 4, 3, 0],
        [3, 3, 2, 0],
      ],
    );
    assert.deepEqual([...configs.at(-1)!.members].sort(), stay.map((m) => m.vatId).sort());
    const r = await readyz(h);
    assert.equal(r.quorum.epoch, 3);
    assert.equal(r.quorum.role, 'member');
    assert.equal(r.quorum.members, 3);
    assert.equal(r.quorum.threshold, 2);
  }
  assert.deepEqual(
    [...solo.port.chainOf(q.quorum)!.current.members].sort(),
    stay.map((m) => m.vatId).sort(),
    'the client counts only the current members',
  );
  // The removed host still runs; it knows it was removed and makes no claims for the quorum.
  const gone = await readyz(removed);
  assert.equal(gone.quorum.role, 'none');
  // Its signature no longer counts for the client: with its real key (from its data directory)
  // and one current member's, a statement is not certified by k = 2 current members; two
  // current members' signatures are.
  const clientChain = solo.port.chainOf(q.quorum)!;
  const statement = new TextEncoder().encode('any statement of the quorum');
  const signedBy = async (hosts: MemberHost[]) =>
    assembleCertificate(
      clientChain.configAt(2)!,
      await Promise.all(
        hosts.map(async (h) => {
          const id = await loadOrCreateIdentity(h.dataDir);
          return [id.vatId, id.sign(statement)] as const;
        }),
      ),
    );
  const withRemoved = clientChain.verifyCurrent(statement, await signedBy([removed, stay[1]!]));
  assert.equal(withRemoved.ok, false);
  assert.match(
    JSON.stringify(withRemoved),
    /too-few-signers.*1 of the signers are members of epoch 3/,
  );
  assert.equal(clientChain.verifyCurrent(statement, await signedBy([stay[0]!, stay[1]!])).ok, true);

  // Every remaining member executed the same order: one height, one transcript hash.
  const stayProcesses = stay.map((h) => processes.get(h.vatId)!);
  await agreed(stayProcesses);
  for (const m of stayProcesses) assert.deepEqual(errorLines(m), [], 'no member logged an error');

  // Refused before ordering, with the reason: a change to 2k ≤ n, and (x stopped) a change
  // that needs more live members than there are. The quorum serves on.
  const unsafe = await postUnsigned(q, stay[0]!, {
    op: 'remove',
    member: stay[1]!.vatId,
    threshold: 1,
  });
  assert.equal(unsafe.status, 400);
  assert.equal(unsafe.body['reason'], 'bad-configuration');
  await processes.get(x.vatId)!.stop('SIGKILL');
  // Down once not heard for five heartbeats (half the view timeout each): 2.5 s here.
  await new Promise((r) => setTimeout(r, 4_000));
  const allMustVote = await postUnsigned(q, stay[0]!, { op: 'threshold', threshold: 3 });
  assert.equal(allMustVote.status, 400, JSON.stringify(allMustVote.body));
  assert.equal(allMustVote.body['reason'], 'too-few-live-members');
  assert.match(String(allMustVote.body['error']), new RegExp(`not heard from: ${x.vatId}`));
  const next = await solo.kernel.call(root, 'count', []);
  assert.deepEqual(next, { rejected: false, value: answers.length + 1 });
  assert.equal((await verifiedChain(q, stay[0]!)).length, 4, 'nothing was changed');

  // An idle quorum, a request given to one member only, not the leader: that member hands it
  // to the others, so whoever leads orders it (here: admitting another learner, epoch 4).
  const live = [stay[0]!, stay[1]!];
  const notLeading = await until('a member that does not lead', 30_000, async () => {
    for (const h of live) {
      const r = await probe(h);
      if (
        r?.quorum?.ordering !== undefined &&
        !(r.quorum.ordering as { leading?: boolean }).leading
      )
        return h;
    }
    return undefined;
  });
  const y = await newHost(q);
  const one = await change(q, [notLeading], () => ({ op: 'add-learner', member: y.vatId }));
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(one.body['epoch'], 4);
});

/**
 * A request signed by the administrator without the CLI's own check (requestChange refuses to
 * sign an unsafe change): what a member must refuse by itself. `?wait=0`: refusals are answered
 * before anything is ordered.
 */
async function postUnsigned(
  q: QuorumFixture,
  to: MemberHost,
  change: ConfigChange,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const current = (await verifiedChain(q, to)).at(-1)!;
  const request = { quorum: q.quorum, epoch: current.epoch, change };
  const admin = Buffer.from(q.admin.sign(requestStatement(request))).toString('base64url');
  const res = await fetch(url(to, '/quorum/changes?wait=0'), {
    method: 'POST',
    body: JSON.stringify({ request, admin }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
