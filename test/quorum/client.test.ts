/**
 * The quorum client layer over real libp2p: member hosts (real NetworkTransports on 127.0.0.1,
 * each serving the quorum's chain) with scripted ports playing quorum vat Q's outbox, and a
 * real solo Kernel behind a QuorumClientPort. Shows: Q's messages are delivered exactly once,
 * in order, only when k current members sent identical content; a forging member is never
 * delivered; an equivocating member is logged once with portable evidence and ignored after;
 * garbage from a member is rejected; a host that serves Q's chain but is not a member is
 * refused; the client's messages reach every member with a valid auth; the kernel forgets a
 * message only when k members acknowledged it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lpStream } from '@libp2p/utils';
import { ignoreEvents } from '../../vat-node/src/events/events.ts';
import { formatSturdyRef, newSecret } from '../../vat-node/src/kernel/sturdyref.ts';
import type { VatId } from '../../vat-node/src/protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../vat-node/src/protocol/messages.ts';
import { flip } from '../../vat-node/src/protocol/refs.ts';
import { assembleCertificate } from '../../vat-node/src/quorum/certificate.ts';
import {
  ConfigChain,
  type ConfigChange,
  changeStatement,
  requestChange,
} from '../../vat-node/src/quorum/chain.ts';
import { verifyFrameEvidence } from '../../vat-node/src/quorum/client/inbound.ts';
import { makeGenesis, quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import { makeTestKey } from '../../vat-node/src/quorum/testing.ts';
import { createVatHost } from '../../vat-node/src/vattp/host.ts';
import { ephemeralIdentity, type HostIdentity } from '../../vat-node/src/vattp/identity.ts';
import { VATTP_PROTOCOL } from '../../vat-node/src/vattp/network-transport.ts';
import {
  type After,
  type Client,
  type MemberHost,
  memberIdentities,
  ScriptedMember,
  sleep,
  startClient,
  startMember,
  until,
} from './client-fixtures.ts';

async function makeQuorum(n: number, k: number) {
  const ids = await memberIdentities(n);
  const admin = makeTestKey();
  const genesis = makeGenesis({
    name: 'scripted',
    nonce: '1'.repeat(32),
    members: ids.map((i) => i.vatId),
    threshold: k,
    admin: admin.publicKey,
  });
  const Q = quorumVatIdOf(genesis);
  return { ids, admin, genesis, Q, chain: new ConfigChain(Q, genesis) };
}

/** A decided configuration change: the administrator's request, certified by k members. */
function change(
  chain: ConfigChain,
  admin: ReturnType<typeof makeTestKey>,
  signers: readonly HostIdentity[],
  c: ConfigChange,
  position: number,
): ConfigChain {
  const config = chain.current;
  const { request, admin: adminSig } = requestChange(admin.sign, config, c);
  const statement = changeStatement(request, position);
  const certificate = assembleCertificate(
    config,
    signers.slice(0, config.threshold).map((m) => [m.vatId, m.sign(statement)] as const),
  );
  return new ConfigChain(chain.quorum, chain.genesis, [
    ...chain.records,
    { request, admin: adminSig, position, certificate },
  ]);
}

/** Q's message `seq` to the client's root: note(text), with a result promise when asked. */
function note(target: string, seq: number, text: string, withResult = false): Sequenced {
  const msg: VatMessage = {
    op: 'deliver',
    target,
    method: 'note',
    args: { body: `#[${JSON.stringify(text)}]`, slots: [] },
    result: withResult ? `p+${seq}` : null,
  };
  return { seq, msg };
}

async function entries(client: Client): Promise<unknown> {
  return (await client.kernel.call('o+0', 'entries', [])).value;
}

function release(m: MemberHost, outbox: Sequenced[], client: Client): void {
  m.port.outbox = outbox;
  m.transport.addHints(client.identity.vatId, client.transport.multiaddrs());
  m.transport.wake(client.identity.vatId);
}

/** Connects as `identity` and writes bytes that are no VatTP frame. */
async function sendGarbage(t: After, identity: HostIdentity, client: Client): Promise<void> {
  const host = await createVatHost({ identity, events: ignoreEvents });
  t.after(() => host.stop());
  await host.addAddresses(client.identity.vatId, client.transport.multiaddrs());
  const stream = await host.dial(client.identity.vatId, VATTP_PROTOCOL, AbortSignal.timeout(5_000));
  const lp = lpStream(stream);
  await lp.read({ signal: AbortSignal.timeout(5_000) }); // the hello
  await lp.write(new TextEncoder().encode('QVTPF\u0001{"not":"a frame"}'.padEnd(120, '!')));
  await sleep(200);
  await host.stop();
}

const rejected = (client: Client, peer: VatId) =>
  client.lines.filter((l) => l.msg === 'rejected input from peer' && l.peer === peer);

test('n=4, k=3: delivery needs 3 identical members; forgery, garbage and equivocation gain nothing', async (t) => {
  const { ids, Q, chain } = await makeQuorum(4, 3);
  const client = await startClient(t);
  const target = flip(client.kernel.grantRoot(Q));
  const [idA, idB, idC, idD] = ids as [HostIdentity, HostIdentity, HostIdentity, HostIdentity];
  const honest = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) =>
      note(target, from + i, `m${from + i}`, from + i === 5),
    );

  // A and B honest, D forging seqs 1..5 and claiming seq 6..7; C silent (not even started).
  const a = await startMember(t, idA, () => chain);
  const b = await startMember(t, idB, () => chain);
  const d = await startMember(t, idD, () => chain);
  for (const m of [a, b]) m.port.ackCap = 0;
  d.port.ackCap = 0;
  client.port.addHints(Q, [...a.transport.multiaddrs(), ...b.transport.multiaddrs()]);
  await until('chain learned', () => client.port.chainOf(Q) !== undefined);
  const learned = client.lines.filter((l) => l.msg === 'quorum configuration chain learned');
  assert.equal(learned.length, 1);
  assert.deepEqual([learned[0]!.epoch, learned[0]!.n, learned[0]!.k], [0, 4, 3]);

  const forged = [
    ...Array.from({ length: 5 }, (_, i) => note(target, i + 1, `forged${i + 1}`)),
    note(target, 6, 'm6'),
    note(target, 7, 'm7-A'),
  ];
  release(d, forged, client);
  release(a, honest(1, 5), client);
  release(b, honest(1, 5), client);
  await until('frames of A, B and D arrived', () =>
    [a, b, d].every((m) => m.transport.stats.messagesSent >= 5),
  );
  await sleep(300);
  assert.equal(
    client.boundary.received.length,
    0,
    'two honest members of k = 3: nothing delivered',
  );

  // C first sends garbage under its own key: rejected, nothing delivered.
  await sendGarbage(t, idC, client);
  await until('garbage rejected', () => rejected(client, idC.vatId).length >= 1);
  assert.equal(client.boundary.received.length, 0);

  // C comes up honest: the third identical copy delivers 1..5, once each, in order.
  const c = await startMember(t, idC, () => chain);
  c.port.ackCap = 0;
  release(c, honest(1, 5), client);
  await until('1..5 delivered', () => client.port.deliveredFrom(Q) === 5);
  await until('1..5 executed', () => client.boundary.received.length === 5);
  assert.deepEqual(
    client.boundary.received,
    [1, 2, 3, 4, 5].map((seq) => ({ peer: Q, seq })),
  );
  assert.deepEqual(await entries(client), ['m1', 'm2', 'm3', 'm4', 'm5']);

  // Message 5 had a result: the client's answer goes to every member, signed (auth) for Q.
  const members = [a, b, c, d];
  await until('answer at every member', () => members.every((m) => m.port.received.length === 1));
  for (const m of members) {
    assert.equal(m.port.received[0]!.seq, 1);
    assert.equal(m.port.received[0]!.msg.op, 'resolve');
    assert.ok(m.port.received[0]!.authOk, 'the auth verifies for Q');
  }
  // Acks: the kernel forgets the answer only when 3 members acknowledged it.
  d.port.ackCap = Number.POSITIVE_INFINITY; // the Byzantine member acks at once
  d.transport.wake(client.identity.vatId);
  a.port.ackCap = Number.POSITIVE_INFINITY;
  a.transport.wake(client.identity.vatId);
  await until('A and D acks arrived', () =>
    [a, d].every((m) => m.transport.stats.ackOnlyFramesSent + m.transport.stats.framesSent >= 1),
  );
  await sleep(500);
  assert.equal(client.boundary.acked.length, 0, 'two acks of k = 3 certify nothing');
  assert.equal(client.kernel.unacked(Q, 0).length, 1, 'the answer is kept');
  b.port.ackCap = Number.POSITIVE_INFINITY;
  b.transport.wake(client.identity.vatId);
  await until('certified', () => client.boundary.acked.length === 1);
  assert.deepEqual(client.boundary.acked, [{ peer: Q, seq: 1 }]);
  await until('forgotten', () => client.kernel.unacked(Q, 0).length === 0);

  // D equivocates: restarted, it says something else for seq 7 (not delivered yet).
  await d.transport.close();
  const d2 = await startMember(t, idD, () => chain);
  release(d2, [note(target, 6, 'm6'), note(target, 7, 'm7-B')], client);
  await until('equivocation logged', () =>
    client.lines.some((l) => l.msg === 'quorum member equivocated: evidence kept, member ignored'),
  );
  // Once more, with yet other content: still one event.
  await d2.transport.close();
  const d3 = await startMember(t, idD, () => chain);
  release(d3, [note(target, 6, 'm6'), note(target, 7, 'm7-C'), note(target, 8, 'm8')], client);
  await until('d3 sent', () => d3.transport.stats.messagesSent >= 3);

  // The honest three carry on: 6..8 delivered, D's content never.
  for (const m of [a, b, c]) release(m, honest(6, 8), client);
  await until('6..8 delivered', () => client.port.deliveredFrom(Q) === 8);
  await until('6..8 executed', () => client.boundary.received.length === 8);
  assert.deepEqual(await entries(client), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8']);
  assert.deepEqual(
    client.boundary.received.map((r) => r.seq),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  const events = client.lines.filter(
    (l) => l.msg === 'quorum member equivocated: evidence kept, member ignored',
  );
  assert.equal(events.length, 1, 'one event per member');
  const logged = events[0] as Record<string, unknown>;
  assert.deepEqual([logged.member, logged.seq], [idD.vatId, 7]);
  const evidence = client.port.evidence(Q)[0]!;
  assert.ok(verifyFrameEvidence(evidence), 'the evidence verifies anywhere');
  const frames = (logged.frames as string[]).map((f) => {
    const bytes = new Uint8Array(Buffer.from(f, 'base64url'));
    return {
      signed: bytes.subarray(0, bytes.length - 64),
      signature: bytes.subarray(bytes.length - 64),
    };
  });
  assert.ok(
    verifyFrameEvidence({ quorum: Q, member: idD.vatId, seq: 7, frames: [frames[0]!, frames[1]!] }),
    'the logged evidence verifies too',
  );
});

test('n=3, k=2: a host serving the chain but not a member is refused; two members deliver', async (t) => {
  const { ids, Q, chain } = await makeQuorum(3, 2);
  const client = await startClient(t);
  const target = flip(client.kernel.grantRoot(Q));
  const [idA, idB] = ids as [HostIdentity, HostIdentity, HostIdentity];
  // The impostor serves Q's (valid) chain and sends Q's messages under its own key.
  const impostorId = await ephemeralIdentity();
  const impostor = await startMember(
    t,
    impostorId,
    () => chain,
    new ScriptedMember(impostorId.vatId, Q),
  );
  release(impostor, [note(target, 1, 'forged')], client);
  await until('impostor refused', () =>
    client.lines.some(
      (l) =>
        l.msg === 'frames refused: not a member of the quorum configuration' &&
        l.peer === impostorId.vatId,
    ),
  );
  // Its frames are rejected from then on (strikes), and nothing is delivered.
  await until('impostor rejected', () => rejected(client, impostorId.vatId).length >= 1);
  assert.equal(client.boundary.received.length, 0);
  // A member the client never heard of (no hints): its frames teach the client Q's chain.
  const a = await startMember(t, idA, () => chain);
  release(a, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  await until(
    'chain learned from a member that called',
    () => client.port.chainOf(Q) !== undefined,
  );
  await sleep(300);
  assert.equal(client.boundary.received.length, 0, 'one member of k = 2');
  const b = await startMember(t, idB, () => chain);
  release(b, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  await until('delivered', () => client.boundary.received.length === 2);
  assert.deepEqual(await entries(client), ['one', 'two']);
});

test('membership changes: a new member is learned from its own chain; a removed one stops counting', async (t) => {
  const { ids, admin, Q, chain: genesisChain } = await makeQuorum(3, 2);
  const [idA, idB, idC] = ids as [HostIdentity, HostIdentity, HostIdentity];
  const client = await startClient(t);
  const target = flip(client.kernel.grantRoot(Q));
  let chain = genesisChain;
  const [a, b, c] = await Promise.all([idA, idB, idC].map((id) => startMember(t, id, () => chain)));
  client.port.addHints(Q, a!.transport.multiaddrs());
  await until('epoch 0 learned', () => client.port.chainOf(Q)?.current.epoch === 0);
  for (const m of [a!, b!]) release(m, [note(target, 1, 'one')], client);
  await until('1 delivered by 2 of 3', () => client.boundary.received.length === 1);

  // Epoch 1: D joins and k becomes 3 (n = 4). Epoch 2: C leaves, k stays 3 (n = 3).
  const idD = await ephemeralIdentity();
  chain = change(chain, admin, [idA, idB], { op: 'add', member: idD.vatId, threshold: 3 }, 10);
  const epoch1 = chain;
  chain = change(
    chain,
    admin,
    [idA, idB, idD],
    { op: 'remove', member: idC.vatId, threshold: 3 },
    20,
  );
  assert.equal(chain.current.epoch, 2);
  // D, which the client has never heard of, calls first: the client takes D's (longer) chain.
  const d = await startMember(t, idD, () => chain);
  release(d, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  await until('epoch 2 learned from D', () => client.port.chainOf(Q)?.current.epoch === 2);
  assert.ok(
    client.lines.some((l) => l.msg === 'quorum configuration chain learned' && l.epoch === 2),
  );
  // C (removed) and A agree on seq 2: two of k = 3, and C no longer counts anyway.
  release(c!, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  release(a!, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  await until(
    'C and A sent',
    () => c!.transport.stats.messagesSent >= 2 && a!.transport.stats.messagesSent >= 2,
  );
  await sleep(300);
  assert.equal(client.boundary.received.length, 1, 'A and D are 2 of k = 3; C is removed');
  release(b!, [note(target, 1, 'one'), note(target, 2, 'two')], client);
  await until('2 delivered by A, B, D', () => client.boundary.received.length === 2);
  assert.deepEqual(await entries(client), ['one', 'two']);
  assert.ok(epoch1.current.members.includes(idC.vatId));
  assert.ok(!client.port.chainOf(Q)!.current.members.includes(idC.vatId));
});

test('restart: a client that owes a quorum a message finds its members again from the hints it kept', async (t) => {
  const { ids, Q, chain } = await makeQuorum(3, 2);
  const members = await Promise.all(ids.map((id) => startMember(t, id, () => chain)));
  for (const m of members) m.port.ackCap = 0;
  const dataDir = mkdtempSync(join(tmpdir(), 'qv-qclient-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startClient(t, { dataDir });
  // Redeeming Q's sturdyref: its hints (member addresses) are kept with the vat's state, and
  // the redeem message goes to every member (they never answer here: that is not the point).
  const uri = formatSturdyRef({
    vatId: Q,
    secret: newSecret(),
    hints: members.map((m) => m.transport.multiaddrs()[0]!),
  });
  void first.kernel.redeem(uri).catch(() => undefined);
  await until('the redeem at every member', () =>
    members.every((m) => m.port.received.length === 1),
  );
  assert.ok(members.every((m) => m.port.received[0]!.authOk));
  await first.kernel.close();
  assert.equal(first.kernel.unacked(Q, 0).length, 1, 'kept: no member acknowledged it');

  // Restarted from its directory, with no hint from anyone: it finds Q's members again and
  // the message is acknowledged once k of them say so.
  for (const m of members) m.port.ackCap = Number.POSITIVE_INFINITY;
  const second = await startClient(t, { dataDir });
  await until('chain learned again', () => second.port.chainOf(Q) !== undefined);
  await until('acknowledged by k members', () => second.boundary.acked.length > 0);
  assert.deepEqual(second.boundary.acked.at(-1), { peer: Q, seq: 1 });
  assert.equal(second.kernel.unacked(Q, 0).length, 0);
});
