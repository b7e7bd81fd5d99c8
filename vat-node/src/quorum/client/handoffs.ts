/**
 * Three-party handoff certificates on a vat node that talks to quorum vats (the kernel's
 * HandoffCerts, kernel/handoff.ts).
 *
 * Reading (every node): a certificate whose giver is a solo vat is its single signature, as
 * before; one whose giver is a quorum vat Q must carry a k-of-n certificate of Q's members,
 * checked against Q's verified configuration chain (quorum/handoff.ts readQuorumHandoffSlot:
 * k signers of the CURRENT configuration, removed members never count). A certificate naming a
 * quorum vat as the exporter needs no key of the exporter: the recipient's `take` goes to the
 * quorum through the client layer, that is to every member of Q's chain verified from Q's VatID
 * (never to an address the giver chose), and its answer counts only once k current members sent
 * the same; the members' kernels check that the certificate names their quorum and its recipient
 * is the presenter.
 *
 * On a member host the kernel's vat is the quorum Q, which has no key. Writing: Q gives a solo
 * vat a certificate as the unsigned slot (the same bytes on every member); the member hosts sign
 * it beside the message and the receiver completes it with k signatures (member-auth.ts).
 * Reading: a certificate given by another quorum vat is refused on a member, whatever chains the
 * member knows: members must decide alike, and what chain of the giver each member has fetched
 * is not agreed. For the same reason a quorum gives another quorum no certificate: it proxies
 * the reference (the kernel's fallback without a certificate).
 */
import {
  type HandoffCert,
  type HandoffCerts,
  HandoffError,
  identityCerts,
  isHint,
  MAX_HINTS,
} from '../../kernel/handoff.ts';
import type { VatId, VatIdentity } from '../../protocol/identity.ts';
import { isQuorumVatId } from '../config.ts';
import {
  formatUnsignedQuorumHandoffSlot,
  handoffGiver,
  MAX_SLOT_CHARS,
  QuorumHandoffError,
  readQuorumHandoffSlot,
} from '../handoff.ts';
import type { ChainOf } from './auth.ts';

/** Longest certificate a quorum's members may sign: an Ed25519 signature per member, in base64url. */
const SIGNATURE_CHARS = 86;

export interface NodeHandoffCertsOptions {
  /** The host's identity: signs (a solo vat) and verifies anyone by VatID. */
  readonly identity: VatIdentity;
  /** Verified configuration chains of quorum vats (QuorumClientPort.chainOf). */
  readonly chainOf: ChainOf;
  /** On a member host: the quorum vat its kernel runs. */
  readonly quorum?: VatId;
}

export function nodeHandoffCerts(options: NodeHandoffCertsOptions): HandoffCerts {
  const { chainOf, quorum } = options;
  const solo = identityCerts(options.identity);
  /** The members' longest completed slot with these hints (k ≤ n signatures, bitmap, epoch). */
  const completedChars = (slot: string) => {
    const n = quorum === undefined ? 0 : (chainOf(quorum)?.current.members.length ?? 64);
    const certJson = 64 + n * SIGNATURE_CHARS + Math.ceil(n / 4);
    return slot.length + Math.ceil((certJson * 4) / 3);
  };
  const unsigned = (terms: Parameters<HandoffCerts['make']>[0], q: VatId): string => {
    const hints = [...new Set((terms.hints ?? []).filter(isHint))].slice(0, MAX_HINTS);
    for (;;) {
      const slot = formatUnsignedQuorumHandoffSlot({ ...terms, giver: q, hints });
      if (completedChars(slot) <= MAX_SLOT_CHARS || hints.length === 0) return slot;
      hints.pop();
    }
  };
  return {
    make: (terms) => {
      if (quorum === undefined) return solo.make(terms);
      // To a quorum: its members could not order one certificate alike (see above): proxy.
      if (isQuorumVatId(terms.recipient)) return undefined;
      return unsigned(terms, quorum);
    },
    read: (slot): HandoffCert => {
      const giver = handoffGiver(slot);
      if (giver === undefined || !isQuorumVatId(giver)) return solo.read(slot);
      if (quorum !== undefined) {
        throw new HandoffError(
          `a quorum vat takes no handoff certificate given by another quorum vat (${giver}): its members could not check it alike`,
        );
      }
      try {
        const cert = readQuorumHandoffSlot(slot, chainOf);
        return {
          exporter: cert.exporter,
          ref: cert.ref,
          giver: cert.giver,
          recipient: cert.recipient,
          nonce: cert.nonce,
          signature: cert.certificate.signatures,
          hints: cert.hints,
        };
      } catch (err) {
        if (err instanceof QuorumHandoffError) throw new HandoffError(err.message);
        throw err;
      }
    },
    maxChars: (exporter, recipient, hints) => {
      if (quorum === undefined) return solo.maxChars(exporter, recipient, hints);
      if (isQuorumVatId(recipient)) return undefined;
      const longest = unsigned(
        { exporter, ref: `o+${'9'.repeat(15)}`, recipient, nonce: Number.MAX_SAFE_INTEGER, hints },
        quorum,
      );
      return Math.min(MAX_SLOT_CHARS, completedChars(longest));
    },
  };
}
