// A member's door for membership changes (changes.ts): every refusal before ordering, with its
// reason; a good request ordered once as a `reconfigure` input; the record certified by k
// signatures of the epoch's members (a removed member's or an outsider's never count); an
// answer for a request already decided, or superseded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatId } from '../../protocol/identity.ts';
import { ChainError, ConfigChain, type ConfigChange, requestChange } from '../chain.ts';
import type { QuorumConfig } from '../config.ts';
import type { Input } from '../ordering/types.ts';
import { makeTestKey, makeTestMembers, makeTestQuorum, type TestQuorum } from '../testing.ts';
import { ADMIN_REQUESTER, Changes } from './changes.ts';
import { OrderingStore } from './ordering-store.ts';

const HEARTBEAT = Buffer.from(JSON.stringify({ member: 'heartbeat' }));

function door(q: TestQuorum, self = q.members[0]!) {
  let chain = new ConfigChain(q.config.quorum, q.genesis);
  const submitted: Input[] = [];
  const sent: { to: VatId; bytes: Uint8Array }[] = [];
  let config: QuorumConfig = chain.current;
  const changes = new Changes({
    quorum: q.config.quorum,
    self: self.vatId,
    sign: self.sign,
    store: new OrderingStore(undefined),
    events: () => {},
    heartbeatMs: 60_000,
    chain: () => chain,
    adoptChain: (c) => {
      chain = c;
    },
    ordering: () => ({ config, height: 7 }),
    submit: (i) => submitted.push(i),
    send: (to, bytes) => sent.push({ to, bytes }),
    fetchChain: () => Promise.reject(new Error('no peers here')),
    grew: () => {},
  });
  const hear = (...ids: VatId[]) => {
    for (const id of ids) changes.receive(id, HEARTBEAT);
  };
  return {
    changes,
    submitted,
    sent,
    hear,
    chain: () => chain,
    enter(next: QuorumConfig) {
      config = next;
    },
  };
}

const signed = (q: TestQuorum, config: QuorumConfig, change: ConfigChange) =>
  requestChange(q.admin.sign, config, change);

function refusedWith(reason: string, f: () => unknown) {
  assert.throws(f, (e: unknown) => e instanceof ChainError && e.reason === reason, reason);
}

test('refusals before ordering: each with its reason, nothing ordered', async () => {
  const q = await makeTestQuorum(3, 2);
  const d = door(q);
  d.hear(...q.config.members);
  const never = new AbortController().signal;
  const [outsider] = await makeTestMembers(1);
  const c = q.config;
  const good = signed(q, c, { op: 'add-learner', member: outsider!.vatId });
  // The administrator of the genesis, and only it, may ask.
  const mallory = makeTestKey();
  refusedWith('bad-admin-signature', () =>
    d.changes.submit(
      requestChange(mallory.sign, c, { op: 'add-learner', member: outsider!.vatId }),
      never,
    ),
  );
  refusedWith('bad-admin-signature', () =>
    d.changes.submit(
      {
        ...good,
        request: { ...good.request, change: { op: 'add-learner', member: q.members[1]!.vatId } },
      },
      never,
    ),
  );
  // Another quorum, another epoch.
  const other = await makeTestQuorum(3, 2);
  refusedWith('wrong-quorum', () =>
    d.changes.submit(
      { request: { ...good.request, quorum: other.config.quorum }, admin: good.admin },
      never,
    ),
  );
  refusedWith('skipped-epoch', () =>
    d.changes.submit(
      signed(q, { ...c, epoch: 1 }, { op: 'add-learner', member: outsider!.vatId }),
      never,
    ),
  );
  // Changes that do not apply, or break the arithmetic (2k ≤ n, k > n).
  const unsafe: [string, ConfigChange][] = [
    ['already-a-member', { op: 'add', member: q.members[1]!.vatId, threshold: 3 }],
    ['not-a-member', { op: 'remove', member: outsider!.vatId, threshold: 2 }],
    ['not-a-learner', { op: 'remove-learner', member: outsider!.vatId }],
    ['threshold-unchanged', { op: 'threshold', threshold: 2 }],
    ['bad-configuration', { op: 'add', member: outsider!.vatId, threshold: 2 }], // 2k = 4 = n
    ['bad-configuration', { op: 'remove', member: q.members[1]!.vatId, threshold: 1 }], // 2k = n
    ['bad-configuration', { op: 'remove', member: q.members[1]!.vatId, threshold: 3 }], // k > n
    ['bad-configuration', { op: 'threshold', threshold: 1 }],
  ];
  for (const [reason, change] of unsafe) {
    // requestChange refuses to sign these; a request signed anyway is refused by the member.
    const request = { quorum: c.quorum, epoch: 0, change };
    const { requestStatement } = await import('../chain.ts');
    const admin = Buffer.from(q.admin.sign(requestStatement(request))).toString('base64url');
    refusedWith(reason, () => d.changes.submit({ request, admin }, never));
  }
  // Two members in one change.
  refusedWith('one-member-at-a-time', () =>
    d.changes.submit(
      {
        request: {
          ...good.request,
          change: { op: 'add', member: [outsider!.vatId, outsider!.vatId], threshold: 3 } as never,
        },
        admin: good.admin,
      },
      never,
    ),
  );
  refusedWith('malformed', () =>
    d.changes.submit({ request: { quorum: c.quorum } as never, admin: good.admin }, never),
  );
  assert.deepEqual(d.submitted, [], 'nothing was ordered');
});

test('refused when fewer than k members of the new configuration are live', async () => {
  const q = await makeTestQuorum(4, 3);
  const [a, b, c, dd] = q.members.map((m) => m.vatId) as [VatId, VatId, VatId, VatId];
  const [newcomer] = await makeTestMembers(1);
  const never = new AbortController().signal;
  const d = door(q, q.members[0]!);
  // Only b is heard besides ourselves (a): removing d leaves (3,2) with a and b live: fine.
  d.hear(b);
  const removeD = signed(q, q.config, { op: 'remove', member: dd, threshold: 2 });
  void d.changes.submit(removeD, never);
  assert.equal(d.submitted.length, 1);
  // Removing b (live) with k = 2 leaves a, c, d where only a is live: refused, naming who is down.
  const d2 = door(q, q.members[0]!);
  d2.hear(b);
  assert.throws(
    () => d2.changes.submit(signed(q, q.config, { op: 'remove', member: b, threshold: 2 }), never),
    (e: unknown) =>
      e instanceof ChainError &&
      e.reason === 'too-few-live-members' &&
      e.message.includes('only 1 are live') &&
      e.message.includes(c) &&
      e.message.includes(dd),
  );
  // Adding a member and raising k to 4 with two members down: refused.
  const d3 = door(q, q.members[0]!);
  d3.hear(b, newcomer!.vatId); // c and d silent: a, b and the newcomer live, k would be 4
  assert.throws(
    () =>
      d3.changes.submit(
        signed(q, q.config, { op: 'add', member: newcomer!.vatId, threshold: 4 }),
        never,
      ),
    (e: unknown) => e instanceof ChainError && e.reason === 'too-few-live-members',
  );
  // Raising k to 4 (all four must vote) while c and d are silent: refused; heard: ordered.
  assert.throws(
    () => d3.changes.submit(signed(q, q.config, { op: 'threshold', threshold: 4 }), never),
    (e: unknown) => e instanceof ChainError && e.reason === 'too-few-live-members',
  );
  d3.hear(c, dd);
  void d3.changes.submit(signed(q, q.config, { op: 'threshold', threshold: 4 }), never);
  assert.equal(d3.submitted.length, 1);
  // A learner needs no live quorum change: voting is unchanged.
  const d4 = door(q, q.members[0]!);
  void d4.changes.submit(
    signed(q, q.config, { op: 'add-learner', member: newcomer!.vatId }),
    never,
  );
  assert.equal(d4.submitted.length, 1);
  assert.ok(a);
});

test('a good request is ordered once; k signatures of the epoch certify it; others never count', async () => {
  const q = await makeTestQuorum(3, 2);
  const [m0, m1, m2] = q.members;
  const [outsider] = await makeTestMembers(1);
  const d = door(q, m0);
  d.hear(m1!.vatId, m2!.vatId);
  const req = signed(q, q.config, { op: 'remove', member: m2!.vatId, threshold: 2 });
  const answer = d.changes.submit(req, new AbortController().signal);
  assert.equal(d.submitted.length, 1);
  const input = d.submitted[0]!;
  assert.equal(input.kind, 'reconfigure');
  assert.equal(input.from, ADMIN_REQUESTER);
  assert.equal(input.seq, 1, 'seq = the epoch it applies to + 1');

  // The ordering decides it at height 9: epoch 1 from height 10.
  const { applyChange, changeStatement } = await import('../chain.ts');
  const next = applyChange(q.config, req.request.change, 10);
  d.enter(next);
  d.changes.entered({ config: next, root: 'ab'.repeat(32), since: 10, ...req });
  // The request went to the other members (each holds it), then our signature of the record.
  const sentOf = (kind: string) =>
    d.sent.filter((m) => JSON.parse(Buffer.from(m.bytes).toString()).member === kind);
  assert.deepEqual(
    sentOf('change')
      .map((m) => m.to)
      .sort(),
    [m1!.vatId, m2!.vatId].sort(),
  );
  assert.deepEqual(
    sentOf('record-sig')
      .map((m) => m.to)
      .sort(),
    [m1!.vatId, m2!.vatId].sort(),
  );
  const statement = changeStatement(req.request, 9);
  const sigMsg = (signer: VatId, sig: Uint8Array, position = 9) =>
    Buffer.from(
      JSON.stringify({
        member: 'record-sig',
        epoch: 0,
        position,
        signer,
        sig: Buffer.from(sig).toString('base64url'),
      }),
    );
  // An outsider's signature, a signature relayed for another signer, a wrong position, a bad
  // signature: none counts.
  d.changes.receive(outsider!.vatId, sigMsg(outsider!.vatId, outsider!.sign(statement)));
  d.changes.receive(m2!.vatId, sigMsg(m1!.vatId, m1!.sign(statement)));
  d.changes.receive(m1!.vatId, sigMsg(m1!.vatId, m1!.sign(changeStatement(req.request, 8)), 8));
  d.changes.receive(m1!.vatId, sigMsg(m1!.vatId, m1!.sign(changeStatement(req.request, 8))));
  assert.equal(d.chain().records.length, 0, 'not certified by one member');
  // The member being removed was a member of epoch 0: its signature counts for this record.
  d.changes.receive(m2!.vatId, sigMsg(m2!.vatId, m2!.sign(statement)));
  assert.equal(d.chain().records.length, 1);
  assert.deepEqual(await answer, { state: 'decided', epoch: 1, position: 9 });
  assert.equal(d.chain().current.epoch, 1);
  assert.ok(!d.chain().current.members.includes(m2!.vatId));

  // Asked again: the same request answers decided; another one for epoch 0 is superseded.
  assert.deepEqual(await d.changes.submit(req, new AbortController().signal), {
    state: 'decided',
    epoch: 1,
    position: 9,
  });
  const late = signed(q, q.config, { op: 'threshold', threshold: 3 });
  const r = await d.changes.submit(late, new AbortController().signal);
  assert.equal(r.state, 'refused');
  assert.equal((r as { reason: string }).reason, 'superseded');
  assert.equal(d.submitted.length, 1, 'neither was ordered again');

  // In epoch 1 the removed member's signature no longer counts toward a certificate.
  const req2 = signed(q, d.chain().current, { op: 'add-learner', member: outsider!.vatId });
  void d.changes.submit(req2, new AbortController().signal);
  const next2 = applyChange(d.chain().current, req2.request.change, 20);
  d.changes.entered({ config: next2, root: 'cd'.repeat(32), since: 20, ...req2 });
  const st2 = changeStatement(req2.request, 19);
  const sig2 = (signer: VatId, sig: Uint8Array) =>
    Buffer.from(
      JSON.stringify({
        member: 'record-sig',
        epoch: 1,
        position: 19,
        signer,
        sig: Buffer.from(sig).toString('base64url'),
      }),
    );
  d.changes.receive(m2!.vatId, sig2(m2!.vatId, m2!.sign(st2)));
  assert.equal(d.chain().records.length, 1, 'a removed member does not certify');
  d.changes.receive(m1!.vatId, sig2(m1!.vatId, m1!.sign(st2)));
  assert.equal(d.chain().records.length, 2);
  d.changes.close();
});

test('a request another member took is held here too (valid, from a member); anything else is not', async () => {
  const q = await makeTestQuorum(3, 2);
  const [m0, m1] = q.members;
  const [outsider] = await makeTestMembers(1);
  const d = door(q, m1);
  const req = signed(q, q.config, { op: 'add-learner', member: outsider!.vatId });
  const forward = (from: VatId, body: object) =>
    d.changes.receive(from, Buffer.from(JSON.stringify({ member: 'change', ...body })));
  forward(outsider!.vatId, req); // not a member
  forward(m0!.vatId, {
    ...req,
    admin: signed(q, q.config, { op: 'threshold', threshold: 3 }).admin,
  });
  forward(m0!.vatId, { request: { ...req.request, epoch: 1 }, admin: req.admin });
  forward(m0!.vatId, { request: 'nonsense', admin: 7 });
  assert.equal(d.submitted.length, 0, 'none of these is held');
  forward(m0!.vatId, req);
  assert.equal(d.submitted.length, 1);
  assert.equal(d.submitted[0]!.kind, 'reconfigure');
  assert.equal(d.submitted[0]!.seq, 1);
  d.changes.close();
});
