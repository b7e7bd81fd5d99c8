// Cost of quorum signatures on the receiving side (vat-node/src/quorum/), one core:
//  - `what: "certificate"`: verifying one k-of-n certificate (k Ed25519 verifications with
//    node:crypto plus bitmap and shape checks) for (n, k) = (3, 2), (4, 3), (7, 5), next to one
//    plain Ed25519 verification of the same statement measured in the same run;
//  - `what: "combiner"`: messages per second through the receiver's OutboundCombiner when every
//    member statement covers a run of 1 or 64 messages (k statements per run, verified once
//    each; the members' signing is done beforehand and not counted).
// Each check's result is asserted (a failing verification exits 1).

import { strict as assert } from 'node:assert';
import type { Sequenced } from '../vat-node/src/protocol/messages.ts';
import { assembleCertificate, verifyCertificate } from '../vat-node/src/quorum/certificate.ts';
import {
  OutboundCombiner,
  type SignedOutbound,
  signOutbound,
} from '../vat-node/src/quorum/outbound.ts';
import { statementBytes, verifyMemberSignature } from '../vat-node/src/quorum/signatures.ts';
import { makeTestMembers, makeTestQuorum } from '../vat-node/src/quorum/testing.ts';
import { emit, measureSync, quick, round } from './lib.ts';

const SHAPES: readonly [number, number][] = [
  [3, 2],
  [4, 3],
  [7, 5],
];
const durationMs = quick(1500, 150);
const warmupMs = quick(200, 30);

for (const [n, k] of SHAPES) {
  const q = await makeTestQuorum(n, k);
  const statement = statementBytes('checkpoint', {
    quorum: q.config.quorum,
    position: 1000,
    hash: 'ab'.repeat(32),
  });
  const cert = assembleCertificate(
    q.config,
    q.members.slice(0, k).map((m) => [m.vatId, m.sign(statement)] as const),
  );
  assert.ok(verifyCertificate(q.config, statement, cert).ok);
  const one = q.members[0]!;
  const sig = one.sign(statement);
  let bad = 0;
  const c = measureSync(
    () => {
      if (!verifyCertificate(q.config, statement, cert).ok) bad++;
    },
    { durationMs, warmupMs },
  );
  const v = measureSync(
    () => {
      if (!verifyMemberSignature(one.vatId, statement, sig)) bad++;
    },
    { durationMs, warmupMs },
  );
  assert.equal(bad, 0, 'a verification failed');
  emit({
    bench: 'quorum-certs',
    what: 'certificate',
    members: n,
    threshold: k,
    cert_verify_per_s: Math.round(c.perSecond),
    cert_verify_us: round(1e6 / c.perSecond, 3),
    ed25519_verify_us: round(1e6 / v.perSecond, 3),
  });
}

const [receiver] = await makeTestMembers(1);
for (const [n, k] of SHAPES) {
  const q = await makeTestQuorum(n, k);
  for (const run of [1, 64]) {
    const total = quick(run === 1 ? 3000 : 19_200, run === 1 ? 300 : 1920);
    const messages: Sequenced[] = Array.from({ length: total }, (_, i) => ({
      seq: i + 1,
      msg: {
        op: 'deliver',
        target: 'o-1',
        method: 'deposit',
        args: { body: `#[${i},"moola"]`, slots: ['o+3'] },
        result: `p+${i + 1}`,
      },
    }));
    // Members sign beforehand: what is measured is the receiver's work only.
    const offers: [SignedOutbound, Sequenced[]][] = [];
    for (let first = 0; first < total; first += run) {
      const slice = messages.slice(first, first + run);
      for (const m of q.members.slice(0, k)) {
        offers.push([
          signOutbound(m.sign, m.vatId, q.config.quorum, receiver!.vatId, slice),
          slice,
        ]);
      }
    }
    const combiner = new OutboundCombiner({ receiver: receiver!.vatId });
    combiner.setConfig(q.config);
    let delivered = 0;
    const started = performance.now();
    for (const [signed, slice] of offers) {
      const r = combiner.offer(signed, slice);
      assert.equal(r.outcome, 'accepted');
      delivered += r.delivered.length;
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(delivered, total);
    emit({
      bench: 'quorum-certs',
      what: 'combiner',
      members: n,
      threshold: k,
      run,
      msgs: total,
      msgs_per_s: Math.round(total / seconds),
      us_per_msg: round((seconds * 1e6) / total, 3),
    });
  }
}
