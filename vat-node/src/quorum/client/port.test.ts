/**
 * The client port's mapping between the kernel's view (Q is one peer) and the transport's
 * (links to member hosts), with fakes on both sides: no network. The combining itself is in
 * inbound.test.ts / acks.test.ts; over real libp2p in test/quorum/client.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectEvents } from '../../events/events.ts';
import type { VatId } from '../../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../protocol/messages.ts';
import type { KernelPort } from '../../transport/types.ts';
import { canonicalJson, encodeFrame } from '../../vattp/codec.ts';
import { ephemeralIdentity } from '../../vattp/identity.ts';
import { ConfigChain } from '../chain.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from '../testing.ts';
import { MAX_SIGNED_RUN, verifyInputAuth } from './auth.ts';
import { type HostTransport, InboundDeferred, memberOfHint, QuorumClientPort } from './port.ts';

const q = await makeTestQuorum(3, 2);
const Q = q.config.quorum;
const me = await ephemeralIdentity();
const [solo] = await makeTestMembers(1);
const SESSION = '00112233445566778899aabbccddeeff';

const msg = (token: number): VatMessage => ({ op: 'echoed', token });

function fakeLower(dial: () => Promise<never> = async () => Promise.reject(new Error('no'))) {
  const wakes: VatId[] = [];
  const hints: [VatId, readonly string[]][] = [];
  const lower: HostTransport & { attached?: KernelPort } = {
    vatId: me.vatId,
    host: { dial, addAddresses: async () => {} },
    attach(k) {
      lower.attached = k;
    },
    wake: (peer) => wakes.push(peer),
    addHints: (peer, addrs) => hints.push([peer, addrs]),
    close: async () => {},
  };
  return { lower, wakes, hints };
}

function fakeKernel(vatId: VatId, outbox: Sequenced[] = []) {
  const calls = { received: [] as [VatId, number][], acked: [] as [VatId, number][] };
  const kernel: KernelPort = {
    vatId,
    receive(peer, seq) {
      calls.received.push([peer, seq]);
      return 'accepted';
    },
    committedInbound: (peer) => (peer === Q ? 7 : 3),
    acked: (peer, seq) => calls.acked.push([peer, seq]),
    unacked: (_peer, after) => outbox.filter((s) => s.seq > after),
    owed: (_peer, after) => outbox.some((s) => s.seq > after),
  };
  return { kernel, calls };
}

function setup(signInputs?: boolean, outbox: Sequenced[] = []) {
  const { lower, wakes, hints } = fakeLower(async () => {
    const err = new Error('protocol selection failed');
    err.name = 'UnsupportedProtocolError';
    throw err;
  });
  let signatures = 0;
  const sign = (bytes: Uint8Array) => {
    signatures++;
    return me.sign(bytes);
  };
  const { sink, events } = collectEvents();
  const port = new QuorumClientPort({
    lower,
    sign,
    events: sink,
    chains: [new ConfigChain(Q, q.genesis)],
    ...(signInputs === undefined ? {} : { signInputs }),
  });
  const { kernel, calls } = fakeKernel(me.vatId, outbox);
  port.attach(kernel);
  return { port, lower, wakes, hints, calls, events, signatures: () => signatures };
}

function frameFrom(m: TestMember, messages: Sequenced[], ack = 0) {
  const signed = encodeFrame({ from: m.vatId, to: me.vatId, session: SESSION, ack, messages });
  return { signed, signature: m.sign(signed) };
}

test('hints of a quorum are its members addresses: each goes to its member; others pass', () => {
  assert.equal(
    memberOfHint(`/ip4/127.0.0.1/tcp/1/p2p/${q.members[0]!.vatId}`),
    q.members[0]!.vatId,
  );
  assert.equal(memberOfHint('/ip4/127.0.0.1/tcp/1'), undefined);
  const { port, hints, wakes } = setup();
  const addr = (m: TestMember, p: number) => `/ip4/127.0.0.1/tcp/${p}/p2p/${m.vatId}`;
  port.addHints(Q, [addr(q.members[0]!, 1), addr(q.members[1]!, 2), '/ip4/127.0.0.1/tcp/3']);
  assert.deepEqual(hints, [
    [q.members[0]!.vatId, [addr(q.members[0]!, 1)]],
    [q.members[1]!.vatId, [addr(q.members[1]!, 2)]],
  ]);
  port.addHints(solo!.vatId, ['/ip4/127.0.0.1/tcp/4']);
  assert.deepEqual(hints.at(-1), [solo!.vatId, ['/ip4/127.0.0.1/tcp/4']]);
  // Waking Q wakes every member (attach already did once, for the chain it was given).
  wakes.length = 0;
  port.wake(Q);
  assert.deepEqual(wakes, q.config.members);
  port.wake(solo!.vatId);
  assert.deepEqual(wakes.at(-1), solo!.vatId);
});

test("outbound to Q: every member gets the kernel's Q outbox, each message signed once (auth)", () => {
  const outbox = [1, 2, 3].map((seq) => ({ seq, msg: msg(seq) }));
  const { port, signatures, calls } = setup(undefined, outbox);
  const [m0, m1, m2] = q.config.members as [VatId, VatId, VatId];
  const a = port.unacked(m0, 0);
  const b = port.unacked(m1, 1);
  assert.deepEqual(
    a.map((s) => s.seq),
    [1, 2, 3],
  );
  assert.deepEqual(
    b.map((s) => s.seq),
    [2, 3],
  );
  assert.equal(signatures(), 1, 'one signature for the run, shared by all members');
  const inputs = a.map((s) => ({
    from: me.vatId,
    seq: s.seq,
    body: new Uint8Array(Buffer.from(canonicalJson(s.msg), 'utf8')),
    auth: s.auth,
  }));
  const related = (seq: number) => inputs.find((x) => x.seq === seq);
  for (const x of inputs) assert.ok(verifyInputAuth(Q, x, undefined, related));
  assert.ok(port.owed(m2, 2));
  assert.equal(port.committedInbound(m2), 7, "the kernel's mark for Q, on every member's link");
  // Acks: the mark is the k-th highest (k = 2) among members.
  port.acked(m0, 3);
  assert.deepEqual(calls.acked, []);
  port.acked(m1, 2);
  assert.deepEqual(calls.acked, [[Q, 2]]);
  port.acked(m2, 3);
  assert.deepEqual(calls.acked, [
    [Q, 2],
    [Q, 3],
  ]);
});

test('a long outbox is signed in runs of at most MAX_SIGNED_RUN; only new messages get signed', () => {
  const outbox = Array.from({ length: MAX_SIGNED_RUN + 44 }, (_, i) => ({
    seq: i + 1,
    msg: msg(i + 1),
  }));
  const { port, signatures } = setup(undefined, outbox);
  const [m0, m1] = q.config.members as [VatId, VatId];
  const a = port.unacked(m0, 0);
  assert.equal(signatures(), 2);
  assert.equal(a[0]!.auth, a[MAX_SIGNED_RUN - 1]!.auth);
  assert.notEqual(a[MAX_SIGNED_RUN - 1]!.auth, a[MAX_SIGNED_RUN]!.auth);
  port.unacked(m1, 10);
  assert.equal(signatures(), 2, 'the other member gets the same signatures');
});

test('a member node (signInputs false) sends no auth', () => {
  const { port, signatures } = setup(false, [{ seq: 1, msg: msg(1) }]);
  assert.equal(port.unacked(q.config.members[0]!, 0)[0]!.auth, undefined);
  assert.equal(signatures(), 0);
});

test('inbound from Q: members frames combine; the kernel sees Q, once, at k', () => {
  const { port, calls } = setup();
  const run = [8, 9].map((seq) => ({ seq, msg: msg(seq) }));
  for (const [i, m] of q.members.slice(0, 2).entries()) {
    const f = frameFrom(m, run);
    port.signedFrame(m.vatId, f.signed, f.signature);
    for (const s of run) port.receive(m.vatId, s.seq, s.msg);
    assert.deepEqual(
      calls.received,
      i === 0
        ? []
        : [
            [Q, 8],
            [Q, 9],
          ],
    );
  }
  // The third member's copies: duplicates for the transport (it re-acks).
  const m = q.members[2]!;
  const f = frameFrom(m, run);
  port.signedFrame(m.vatId, f.signed, f.signature);
  assert.equal(port.receive(m.vatId, 8, run[0]!.msg), 'duplicate');
  assert.equal(calls.received.length, 2);
});

test('a member far ahead of delivery: not kept, its stream is closed without a strike (it resends)', () => {
  const { port, calls } = setup();
  const m = q.members[0]!;
  const seq = 7 + q.config.params.maxPendingPerSender + 1;
  const f = frameFrom(m, [{ seq, msg: msg(seq) }]);
  port.signedFrame(m.vatId, f.signed, f.signature);
  assert.throws(() => port.receive(m.vatId, seq, msg(seq)), InboundDeferred);
  assert.deepEqual(calls.received, []);
  const g = frameFrom(m, [{ seq: 8, msg: msg(8) }]);
  port.signedFrame(m.vatId, g.signed, g.signature);
  assert.equal(port.receive(m.vatId, 8, msg(8)), 'accepted', 'the window itself is kept');
});

test('an unknown host is deferred until classified; one that serves no chain is a solo vat', async () => {
  const { port, calls } = setup();
  const f = frameFrom(solo!, [{ seq: 1, msg: msg(1) }]);
  assert.throws(() => port.signedFrame(solo!.vatId, f.signed, f.signature), InboundDeferred);
  await new Promise((r) => setImmediate(r));
  port.signedFrame(solo!.vatId, f.signed, f.signature);
  assert.equal(port.receive(solo!.vatId, 1, msg(1)), 'accepted');
  assert.deepEqual(calls.received, [[solo!.vatId, 1]]);
  assert.equal(port.committedInbound(solo!.vatId), 3);
});

test('a quorum whose chain nobody serves: one event, retried with backoff, nothing guessed', async () => {
  const other = await makeTestQuorum(3, 2);
  const { port, events, wakes } = setup();
  wakes.length = 0;
  port.addHints(other.config.quorum, [`/ip4/127.0.0.1/tcp/9/p2p/${other.members[0]!.vatId}`]);
  port.wake(other.config.quorum);
  await new Promise((r) => setTimeout(r, 500));
  const unavailable = events.filter((e) => e.type === 'quorum-chain-unavailable');
  assert.equal(unavailable.length, 1);
  assert.deepEqual(wakes, [], 'no member is woken before the chain is known');
  await port.close();
});
