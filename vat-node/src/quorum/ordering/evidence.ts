/**
 * Checking evidence away from the member that found it: given the configuration of the
 * evidence's epoch, anyone can verify that the accused member signed two statements that no
 * honest member signs together (two proposals or two votes in one round, two transcript hashes
 * at one height), or a transcript hash other than the one k members certified.
 */

import type { VatId } from '../../protocol/identity.ts';
import { certificateEntries } from '../certificate.ts';
import { isMember, type QuorumConfig } from '../config.ts';
import { checkpointStatement, proposalStatement, voteStatement } from './statements.ts';
import type { Evidence } from './types.ts';

export type VerifySignature = (signer: VatId, bytes: Uint8Array, sig: Uint8Array) => boolean;

/** undefined if the evidence holds against `evidence.signer`, else why it does not. */
export function checkEvidence(
  config: QuorumConfig,
  evidence: Evidence,
  verify: VerifySignature,
): string | undefined {
  const q = config.quorum;
  if (evidence.epoch !== config.epoch) return `evidence of epoch ${evidence.epoch}`;
  if (!isMember(config, evidence.signer)) return `${evidence.signer} is not a member`;
  const s = evidence.signer;
  switch (evidence.kind) {
    case 'proposal':
    case 'vote': {
      const { a, b, round } = evidence;
      if (a.blockId === b.blockId) return 'the two statements are the same';
      const bytes =
        evidence.kind === 'proposal'
          ? (id: string) => proposalStatement(q, evidence.epoch, round, id)
          : (id: string) => voteStatement(q, evidence.epoch, round, id);
      if (!verify(s, bytes(a.blockId), a.sig) || !verify(s, bytes(b.blockId), b.sig)) {
        return 'a signature does not verify';
      }
      if (evidence.kind === 'proposal') {
        const leader = config.members[(round + config.epoch) % config.members.length];
        if (leader !== s) return `${s} does not lead round ${round}`;
      }
      return undefined;
    }
    case 'checkpoint': {
      const { a, b, height } = evidence;
      if (a.hash === b.hash) return 'the two hashes are the same';
      const ok = (h: { hash: string; sig: Uint8Array }) =>
        verify(s, checkpointStatement(q, evidence.epoch, height, h.hash), h.sig);
      return ok(a) && ok(b) ? undefined : 'a signature does not verify';
    }
    case 'transcript': {
      const { claimed, agreed, height } = evidence;
      if (claimed.hash === agreed.hash) return 'the claimed hash is the agreed one';
      const statement = (hash: string) => checkpointStatement(q, evidence.epoch, height, hash);
      if (!verify(s, statement(claimed.hash), claimed.sig)) return 'the claim does not verify';
      if (agreed.certificate.epoch !== config.epoch) return 'the certificate is of another epoch';
      const entries = certificateEntries(config, agreed.certificate);
      if (typeof entries === 'string') return `the certificate is malformed: ${entries}`;
      const valid = entries.filter((e) => verify(e.signer, statement(agreed.hash), e.signature));
      if (valid.length < config.threshold) {
        return `only ${valid.length} valid signatures on the agreed hash, threshold ${config.threshold}`;
      }
      return undefined;
    }
  }
}
