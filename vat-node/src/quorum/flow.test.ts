/**
 * The pure parts together, over a simulated network that drops, duplicates and reorders (seeded,
 * so a failure replays): a quorum vat's messages to a solo receiver, and a solo sender's messages
 * to a quorum vat, with one member Byzantine or crashed. What the vat node wiring will do with
 * real processes and VatTP, minus the processes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sequenced } from '../protocol/messages.ts';
import { AckCombiner, signAck } from './ack.ts';
import { assembleCertificate } from './certificate.ts';
import {
  type ChainRecord,
  ConfigChain,
  type ConfigChange,
  changeStatement,
  requestChange,
} from './chain.ts';
import { OutboundCombiner, type SignedOutbound, signOutbound } from './outbound.ts';
import { makeTestMembers, makeTestQuorum, type TestMember } from './testing.ts';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A network of in-flight items: each send may be dropped or duplicated, delivery order is random,
 * and at most `capacity` items are in flight (more are dropped, as a full buffer would).
 */
class Net<T> {
  readonly #items: T[] = [];
  readonly rnd: () => number;
  readonly drop: number;
  readonly dup: number;
  constructor(rnd: () => number, drop = 0.3, dup = 0.1) {
    this.rnd = rnd;
    this.drop = drop;
    this.dup = dup;
  }
  readonly capacity = 400;
  send(item: T): void {
    if (this.rnd() < this.drop || this.#items.length >= this.capacity) return;
    this.#items.push(item);
    if (this.rnd() < this.dup) this.#items.push(item);
  }
  /** One random item in flight, or undefined. */
  take(): T | undefined {
    if (this.#items.length === 0) return undefined;
    const i = Math.floor(this.rnd() * this.#items.length);
    return this.#items.splice(i, 1)[0];
  }
  get size(): number {
    return this.#items.length;
  }
}

function messages(n: number, tag = 'ok'): Sequenced[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    msg: {
      op: 'deliver',
      target: 'o-1',
      method: 'note',
      args: { body: `#[${i + 1},"${tag}"]`, slots: [] },
      result: null,
    },
  }));
}

const N = 100;

for (const fault of ['byzantine', 'crashed'] as const) {
  test(`quorum → receiver over a lossy network, one member ${fault}: exactly once, in order, all acked`, async () => {
    const q = await makeTestQuorum(4, 3);
    const [receiver] = await makeTestMembers(1);
    const R = receiver!.vatId;
    const bad = q.members[3]!;
    const honest = q.members.slice(0, 3);
    for (let seed = 1; seed <= 3; seed++) {
      const rnd = prng(seed);
      const all = messages(N);
      // Each member keeps its outbound messages until the receiver acknowledges them.
      const outbox = new Map<TestMember, Sequenced[]>(honest.map((m) => [m, [...all]]));
      const toReceiver = new Net<[SignedOutbound, Sequenced[]]>(rnd);
      const toMembers = new Net<[TestMember, number]>(rnd);
      const combiner = new OutboundCombiner({ receiver: R });
      combiner.setConfig(q.config);
      const got: Sequenced[] = [];
      let steps = 0;
      while ([...outbox.values()].some((o) => o.length > 0) && steps++ < 20_000) {
        const r = rnd();
        if (r < 0.35) {
          // An honest member (re)sends a run of what is not yet acknowledged.
          const m = honest[Math.floor(rnd() * honest.length)]!;
          const pending = outbox.get(m)!;
          if (pending.length > 0) {
            const run = pending.slice(0, 1 + Math.floor(rnd() * 16));
            toReceiver.send([signOutbound(m.sign, m.vatId, q.config.quorum, R, run), run]);
          }
        } else if (r < 0.45 && fault === 'byzantine') {
          const first = 1 + Math.floor(rnd() * N);
          const run = messages(N, rnd() < 0.5 ? 'forged' : `forged${steps}`).slice(
            first - 1,
            first + 3,
          );
          toReceiver.send([signOutbound(bad.sign, bad.vatId, q.config.quorum, R, run), run]);
        } else if (r < 0.85) {
          const item = toReceiver.take();
          if (item !== undefined) {
            got.push(...combiner.offer(item[0], item[1]).delivered);
            // The receiver acknowledges what it delivered (committed) to the sending member.
            const member = honest.find((m) => m.vatId === item[0].signer);
            if (member !== undefined)
              toMembers.send([member, combiner.delivered(q.config.quorum)!]);
          }
        } else {
          const ack = toMembers.take();
          if (ack !== undefined) {
            const [m, upTo] = ack;
            outbox.set(
              m,
              outbox.get(m)!.filter((x) => x.seq > upTo),
            );
          }
        }
      }
      assert.deepEqual(got, all, `seed ${seed}`);
      assert.ok(
        [...outbox.values()].every((o) => o.length === 0),
        `seed ${seed}: all acknowledged`,
      );
      for (const e of combiner.evidence(q.config.quorum)) assert.equal(e.member, bad.vatId);
    }
  });

  test(`sender → quorum over a lossy network, one member ${fault}: released only once k members committed`, async () => {
    const q = await makeTestQuorum(4, 3);
    const [sender] = await makeTestMembers(1);
    const S = sender!.vatId;
    const bad = q.members[3]!;
    const honest = q.members.slice(0, 3);
    for (let seed = 1; seed <= 3; seed++) {
      const rnd = prng(100 + seed);
      const all = messages(N);
      let outbox = [...all];
      const acks = new AckCombiner(S, q.config);
      const toMembers = new Net<[TestMember, Sequenced]>(rnd);
      const toSender = new Net<[TestMember, number, Uint8Array]>(rnd);
      // Each honest member commits the sender's messages in seq order (the agreed order, here
      // simply seq order) and acknowledges its committed mark.
      const committed = new Map<TestMember, number>(honest.map((m) => [m, 0]));
      let steps = 0;
      while (outbox.length > 0 && steps++ < 100_000) {
        const r = rnd();
        if (r < 0.3) {
          // The sender sends to every member (never only one: it could censor).
          for (const x of outbox.slice(0, 4)) for (const m of q.members) toMembers.send([m, x]);
        } else if (r < 0.7) {
          const item = toMembers.take();
          if (item !== undefined && honest.includes(item[0])) {
            const [m, x] = item;
            const advanced = x.seq === committed.get(m)! + 1;
            if (advanced) committed.set(m, x.seq);
            // Ack what it committed; a duplicate gets the ack again now and then (acks get lost).
            const c = committed.get(m)!;
            if (advanced || rnd() < 0.2)
              toSender.send([m, c, signAck(m.sign, q.config.quorum, S, c)]);
          }
        } else if (r < 0.75 && fault === 'byzantine') {
          // It claims to have committed everything, long before anyone has.
          const lie = N + Math.floor(rnd() * 1000);
          toSender.send([bad, lie, signAck(bad.sign, q.config.quorum, S, lie)]);
        } else {
          const item = toSender.take();
          if (item !== undefined) {
            const certified = acks.offer(item[0].vatId, item[1], item[2]).certified;
            // Safety: whatever is released, at least k − f = 2 honest members committed.
            const honestMarks = [...committed.values()].sort((a, b) => b - a);
            assert.ok(
              certified <= honestMarks[1]!,
              `seed ${seed}: released ${certified}, honest ${honestMarks}`,
            );
            outbox = outbox.filter((x) => x.seq > certified);
          }
        }
      }
      assert.equal(outbox.length, 0, `seed ${seed}: everything certified in the end`);
      assert.equal(acks.certified, N);
    }
  });
}

test('membership changes while messages flow: nothing lost or repeated, a removed member stops counting', async () => {
  const q = await makeTestQuorum(4, 3);
  const [receiver, newcomer] = await makeTestMembers(2);
  const R = receiver!.vatId;
  q.signerOf.set(newcomer!.vatId, newcomer!.sign);
  const [A, B, C, D] = q.members as [TestMember, TestMember, TestMember, TestMember];
  const E = newcomer!;
  // The chain the quorum decides: add E with k = 4, then remove A with k = 3.
  let members = new ConfigChain(q.config.quorum, q.genesis);
  const decide = (change: ConfigChange, position: number): ChainRecord => {
    const config = members.current;
    const { request, admin } = requestChange(q.admin.sign, config, change);
    const statement = changeStatement(request, position);
    const certificate = assembleCertificate(
      config,
      config.members
        .slice(0, config.threshold)
        .map((m) => [m, q.signerOf.get(m)!(statement)] as const),
    );
    const record = { request, admin, position, certificate };
    members.append(record);
    return record;
  };
  let refusedFromA = 0;
  for (let seed = 1; seed <= 3; seed++) {
    members = new ConfigChain(q.config.quorum, q.genesis);
    const rnd = prng(500 + seed);
    const all = messages(N);
    const sending = new Set<TestMember>([A, B, C, D]);
    const outbox = new Map<TestMember, Sequenced[]>([A, B, C, D, E].map((m) => [m, [...all]]));
    const toReceiver = new Net<[SignedOutbound, Sequenced[]] | ChainRecord>(rnd);
    const receiverChain = new ConfigChain(q.config.quorum, q.genesis);
    const combiner = new OutboundCombiner({ receiver: R });
    combiner.setConfig(receiverChain.current);
    const records: ChainRecord[] = [];
    const got: Sequenced[] = [];
    let steps = 0;
    const done = () => combiner.delivered(q.config.quorum) === N;
    while (!done() && steps++ < 50_000) {
      if (steps === 150 && records.length === 0) {
        records.push(decide({ op: 'add', member: E.vatId, threshold: 4 }, 1000 * seed));
        sending.add(E); // caught up from the others (as a learner), now a member
      }
      if (steps === 400 && records.length === 1) {
        records.push(decide({ op: 'remove', member: A.vatId, threshold: 3 }, 1000 * seed + 1));
      }
      const r = rnd();
      if (r < 0.3) {
        const who = [...sending];
        const m = who[Math.floor(rnd() * who.length)]!;
        const pending = outbox.get(m)!;
        const first = 1 + Math.floor(rnd() * Math.min(pending.length, 60));
        let run = pending.slice(first - 1, first - 1 + 1 + Math.floor(rnd() * 16));
        // Once removed, A turns hostile: it signs other contents.
        if (records.length === 2 && m === A)
          run = messages(N, 'after-removal').slice(first - 1, first + 3);
        if (run.length > 0)
          toReceiver.send([signOutbound(m.sign, m.vatId, q.config.quorum, R, run), run]);
      } else if (r < 0.35 && records.length > 0) {
        // Any member passes the chain on: records are self-certifying.
        toReceiver.send(records[Math.floor(rnd() * records.length)]!);
      } else {
        const item = toReceiver.take();
        if (item === undefined) continue;
        if (!Array.isArray(item)) {
          if (item.request.epoch === receiverChain.current.epoch) {
            receiverChain.append(item);
            got.push(...combiner.setConfig(receiverChain.current));
          }
          continue;
        }
        const result = combiner.offer(item[0], item[1]);
        if (item[0].signer === A.vatId && result.outcome === 'not-a-member') refusedFromA++;
        got.push(...result.delivered);
        // Members drop what the receiver committed (the ack, not simulated as lossy here).
        const d = combiner.delivered(q.config.quorum)!;
        for (const [m, o] of outbox)
          outbox.set(
            m,
            o.filter((x) => x.seq > d),
          );
      }
    }
    assert.deepEqual(got, all, `seed ${seed}`);
    if (receiverChain.current.epoch === 2) {
      assert.deepEqual(receiverChain.current.members, [B, C, D, E].map((m) => m.vatId).sort());
    }
    assert.equal(receiverChain.quorum, q.config.quorum, 'the VatID never changed');
  }
  assert.ok(refusedFromA > 0, "the removed member's statements were refused as a non-member's");
});
