import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandoffError } from '../../kernel/handoff.ts';
import type { VatId } from '../../protocol/identity.ts';
import { ephemeralIdentity } from '../../vattp/identity.ts';
import { assembleCertificate } from '../certificate.ts';
import { ConfigChain } from '../chain.ts';
import {
  formatQuorumHandoffSlot,
  type QuorumHandoffBody,
  signHandoff,
  unsignedQuorumHandoffBody,
} from '../handoff.ts';
import { makeTestMembers, makeTestQuorum } from '../testing.ts';
import { nodeHandoffCerts } from './handoffs.ts';

const q = await makeTestQuorum(3, 2);
const other = await makeTestQuorum(3, 2);
const Q = q.config.quorum;
const host = await ephemeralIdentity();
const [exporter, recipient] = await makeTestMembers(2);
const chains = new Map<VatId, ConfigChain>([[Q, new ConfigChain(Q, q.genesis)]]);
const chainOf = (id: VatId) => chains.get(id);
const soloCerts = nodeHandoffCerts({ identity: host, chainOf });
const memberCerts = nodeHandoffCerts({ identity: host, chainOf, quorum: Q });

const body: QuorumHandoffBody = {
  exporter: exporter!.vatId,
  ref: 'o+4',
  giver: Q,
  recipient: recipient!.vatId,
  nonce: 2,
};
const signedBy = (
  signers: { vatId: VatId; sign: (b: Uint8Array) => Uint8Array }[],
  config = q.config,
) =>
  formatQuorumHandoffSlot(
    body,
    assembleCertificate(
      config,
      signers.map((m) => [m.vatId, signHandoff(m.sign, body)] as const),
    ),
  );

test('a solo node reads a quorum-given certificate only with k current members behind it', () => {
  const read = soloCerts.read(signedBy(q.members.slice(0, 2)));
  assert.equal(read.giver, Q);
  assert.equal(read.exporter, exporter!.vatId);
  const refused: [string, string, RegExp][] = [
    ['one signer of k = 2', signedBy(q.members.slice(0, 1)), /1 of the signers .* threshold 2/],
    [
      'signers of another quorum',
      formatQuorumHandoffSlot(
        body,
        assembleCertificate(
          other.config,
          other.members.slice(0, 2).map((m) => [m.vatId, signHandoff(m.sign, body)] as const),
        ),
      ),
      /does not verify/,
    ],
    [
      'unsigned',
      formatQuorumHandoffSlot(body, { epoch: 0, signers: '00', signatures: '' }),
      /0 of the signers/,
    ],
  ];
  for (const [what, slot, reason] of refused) {
    assert.throws(
      () => soloCerts.read(slot),
      (e: Error) => e instanceof HandoffError && reason.test(e.message),
      what,
    );
  }
  // A quorum nobody here knows: refused with the reason, never guessed.
  const stranger = nodeHandoffCerts({ identity: host, chainOf: () => undefined });
  assert.throws(() => stranger.read(signedBy(q.members.slice(0, 2))), /not known here/);
});

test("a member writes its quorum's certificate unsigned, gives none to another quorum, and takes none from one", () => {
  const terms = {
    exporter: exporter!.vatId,
    ref: 'o+4' as const,
    recipient: recipient!.vatId,
    nonce: 2,
  };
  const slot = memberCerts.make(terms)!;
  assert.deepEqual(unsignedQuorumHandoffBody(slot), { ...terms, giver: Q, hints: [] });
  assert.ok(memberCerts.maxChars(exporter!.vatId, recipient!.vatId)! >= slot.length + 200);
  assert.equal(memberCerts.make({ ...terms, recipient: other.config.quorum }), undefined);
  assert.equal(memberCerts.maxChars(exporter!.vatId, other.config.quorum), undefined);
  assert.throws(
    () => memberCerts.read(signedBy(q.members.slice(0, 2))),
    /takes no handoff certificate given by another quorum vat/,
  );
  // A solo node's certificates are signed by its own key, and a member reads them.
  const solo = soloCerts.make({ ...terms, recipient: Q })!;
  assert.equal(memberCerts.read(solo).giver, host.vatId);
});
