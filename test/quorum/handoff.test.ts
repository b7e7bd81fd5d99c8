/**
 * Three-party handoffs into and out of a quorum vat, with real processes on 127.0.0.1: a quorum
 * vat Q of three member processes (k = 2, the forwarder contract), solo vats C, C2 and D as
 * `quorumvat node` processes (the forwarder contract), and a solo vat A in the test process
 * (the client layer over a real NetworkTransport) that drives them.
 *
 *   - A introduces Q to C: C gets a reference to Q from A (a certificate signed by A naming
 *     quorum Q as the exporter); C's take goes to Q's members (the chain C verified from Q's
 *     VatID), each member checks the certificate names Q and C, and C then calls Q.
 *   - Q introduces D to C2: Q's contract passes C2 a reference to D's object. The members'
 *     kernels write the certificate unsigned, each member host signs it beside the message, C2's
 *     client layer completes it with k signatures once k members sent the same message, and D
 *     checks those against Q's configuration chain before it gives C2 the object.
 *   - A forged quorum certificate presented to D (one member's signature with k = 2; signers
 *     not in Q's configuration) is refused with the reason, D keeps serving and loses nothing;
 *     with k members' signatures the same take passes the signature check.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { logEvents } from '../../vat-node/src/events/log.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { spawnVatNode } from '../../vat-node/src/node/spawn.ts';
import type { VatId } from '../../vat-node/src/protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../vat-node/src/protocol/messages.ts';
import { assembleCertificate } from '../../vat-node/src/quorum/certificate.ts';
import { genesisConfig } from '../../vat-node/src/quorum/config.ts';
import {
  formatQuorumHandoffSlot,
  type QuorumHandoffBody,
  signHandoff,
} from '../../vat-node/src/quorum/handoff.ts';
import type { AuthSequenced, KernelPort } from '../../vat-node/src/transport/types.ts';
import { ephemeralIdentity, loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import { NetworkTransport } from '../../vat-node/src/vattp/network-transport.ts';
import { FORWARDER, type MemberProcess, makeQuorum, startMember, startSolo } from './members.ts';

async function until<T>(what: string, ms: number, f: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A solo `quorumvat node` process running the forwarder contract. */
async function startSoloNode(t: { after: (f: () => unknown) => void }, name: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `qv-handoff-${name}-`));
  const node = await spawnVatNode({ dataDir, contractPath: FORWARDER, name });
  t.after(async () => {
    await node.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...node, sturdyRef: () => readFileSync(node.sturdyRefFile, 'utf8').trim() };
}

/** A host that only presents takes to one vat and records the answers (an attacker's vat). */
class Presenter implements KernelPort {
  readonly vatId: VatId;
  outbox: Sequenced[] = [];
  received: VatMessage[] = [];
  #acked = 0;
  constructor(vatId: VatId) {
    this.vatId = vatId;
  }
  receive(_peer: VatId, seq: number, msg: VatMessage): 'accepted' | 'duplicate' {
    if (seq <= this.received.length) return 'duplicate';
    this.received.push(msg);
    return 'accepted';
  }
  committedInbound(): number {
    return this.received.length;
  }
  acked(_peer: VatId, seq: number): void {
    this.#acked = Math.max(this.#acked, seq);
  }
  unacked(_peer: VatId, afterSeq: number): readonly AuthSequenced[] {
    return this.outbox.filter((s) => s.seq > afterSeq && s.seq > this.#acked);
  }
  owed(peer: VatId, afterSeq: number): boolean {
    return this.unacked(peer, afterSeq).length > 0;
  }
}

test('handoffs into and out of a quorum vat (n = 3, k = 2); forged quorum certificates refused', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000, checkpointInterval: 4 });
  t.after(() => q.cleanup());
  const members: MemberProcess[] = [];
  t.after(() => Promise.all(members.map((m) => m.stop('SIGKILL'))));
  for (let i = 0; i < 3; i++) members.push(await startMember(q, i));
  const [c, c2, d] = [
    await startSoloNode(t, 'c'),
    await startSoloNode(t, 'c2'),
    await startSoloNode(t, 'd'),
  ];
  const a = await startSolo(q);
  t.after(() => a.close());
  const rQ = await a.redeem(q.sturdyRef);
  const rC = await a.redeem(c.sturdyRef());
  const rC2 = await a.redeem(c2.sturdyRef());
  const rD = await a.redeem(d.sturdyRef());
  const ok = (value: unknown) => ({ rejected: false, value });

  await t.test(
    'A introduces Q to C: C calls the quorum vat through its own reference',
    async () => {
      assert.deepEqual(await a.kernel.call(rC, 'remember', [new HostRef(rQ)]), ok(undefined));
      for (let i = 1; i <= 3; i++) {
        assert.deepEqual(await a.kernel.call(rC, 'call', ['count']), ok(i));
      }
      assert.deepEqual(await a.kernel.call(rQ, 'counted', []), ok(3));
    },
  );

  await t.test(
    'Q introduces D to C2: the certificate Q gives carries k member signatures; then C2 calls D without Q',
    async () => {
      // Q gets D (A's certificate, Q as the recipient), then passes it on to C2 (Q's certificate).
      assert.deepEqual(await a.kernel.call(rQ, 'remember', [new HostRef(rC2)]), ok(undefined));
      assert.deepEqual(
        await a.kernel.call(rQ, 'call', ['remember', new HostRef(rD)]),
        ok(undefined),
      );
      for (let i = 1; i <= 3; i++) {
        assert.deepEqual(await a.kernel.call(rC2, 'call', ['count']), ok(i));
      }
      assert.deepEqual(await a.kernel.call(rD, 'counted', []), ok(3));
      // C2 holds D's object itself (not through Q): with every member of Q stopped it still calls D.
      await Promise.all(members.map((m) => m.stop('SIGKILL')));
      assert.deepEqual(await a.kernel.call(rC2, 'call', ['count']), ok(4));
    },
  );

  await t.test(
    'forged quorum certificates are refused by D with the reason (checked against the chain D holds); D keeps serving',
    async () => {
      // An attacker's host holding ONE member's key (a Byzantine member) and keys of its own.
      const identity = await ephemeralIdentity();
      const transport = await NetworkTransport.create({
        identity,
        events: logEvents(pino({ level: 'silent' })),
      });
      t.after(() => transport.close());
      const presenter = new Presenter(identity.vatId);
      transport.attach(presenter);
      await transport.host.addAddresses(d.vatId, d.addrs);
      const config = genesisConfig(q.genesis);
      const keys = await Promise.all(q.members.map((m) => loadOrCreateIdentity(m.dataDir)));
      const outsiders = await Promise.all([ephemeralIdentity(), ephemeralIdentity()]);
      const body: QuorumHandoffBody = {
        exporter: d.vatId,
        ref: 'o+999',
        giver: q.quorum,
        recipient: identity.vatId,
        nonce: 1,
      };
      const slot = (
        signers: { vatId: VatId; sign: (b: Uint8Array) => Uint8Array }[],
        as = signers,
      ) =>
        formatQuorumHandoffSlot(
          body,
          assembleCertificate(
            config,
            signers.map((s, i) => [as[i]!.vatId, signHandoff(s.sign, body)] as const),
          ),
        );
      const takes: [string, string, RegExp][] = [
        [
          'one member of k = 2',
          slot(keys.slice(0, 1)),
          /1 of the signers are members of epoch 0, threshold 2/,
        ],
        ['signers not in the configuration', slot(outsiders, keys.slice(0, 2)), /does not verify/],
        // With k members' signatures the certificate passes; only the ref is not Q's.
        ['k members (control)', slot(keys.slice(0, 2)), /which quorum\w+ does not hold/],
      ];
      presenter.outbox = takes.map(([, cert], i) => ({
        seq: i + 1,
        msg: { op: 'take', cert, result: `p+${i + 1}` },
      }));
      transport.wake(d.vatId);
      await until('D answered every take', 90_000, () =>
        presenter.received.length >= takes.length ? true : undefined,
      );
      for (const [i, [what, , reason]] of takes.entries()) {
        const answer = JSON.stringify(presenter.received[i]);
        assert.match(answer, /"op":"resolve"/, what);
        assert.match(answer, /"rejected":true/, what);
        assert.match(answer, reason, `${what}: ${answer}`);
      }
      // Nothing lost: D still serves its honest callers.
      assert.deepEqual(await a.kernel.call(rC2, 'call', ['count']), ok(5));
      assert.deepEqual(await a.kernel.call(rD, 'counted', []), ok(5));
    },
  );
});
