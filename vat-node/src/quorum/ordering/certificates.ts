/**
 * Checking certificates of the current epoch: a QC is k distinct members' valid votes for one
 * block in one round, a TC k distinct members' valid timeouts of one round. Successful
 * signature checks are remembered (certificates repeat the votes a member already checked).
 */
import type { VatId } from '../../protocol/identity.ts';
import { assembleCertificate, certificateEntries } from '../certificate.ts';
import { isMember, type QuorumConfig } from '../config.ts';
import type { ReplicaState } from './state.ts';
import { timeoutStatement, voteStatement } from './statements.ts';
import type { BlockId, QC, TC } from './types.ts';

const VERIFIED_CACHE = 100_000;

/** Verifies one member signature, remembering successes (certificates repeat votes). */
export function verifySig(
  s: ReplicaState,
  signer: VatId,
  bytes: Uint8Array,
  sig: Uint8Array,
  key: string,
): boolean {
  const cacheKey = `${key}|${signer}|${Buffer.from(sig).toString('base64')}`;
  if (s.verified.has(cacheKey)) return true;
  if (!s.crypto.verify(signer, bytes, sig)) return false;
  if (s.verified.size >= VERIFIED_CACHE) s.verified.clear();
  s.verified.add(cacheKey);
  return true;
}

export function verifyVoteSig(
  s: ReplicaState,
  signer: VatId,
  epoch: number,
  round: number,
  blockId: BlockId,
  sig: Uint8Array,
): boolean {
  return verifySig(
    s,
    signer,
    voteStatement(s.quorum, epoch, round, blockId),
    sig,
    `v|${epoch}|${round}|${blockId}`,
  );
}

/** A QC of the current epoch: k distinct members' valid votes (or the epoch's root QC). */
export function checkQC(s: ReplicaState, qc: QC): string | undefined {
  if (qc.epoch !== s.epoch) return `certificate of epoch ${qc.epoch}, not ${s.epoch}`;
  if (qc.round === 0) {
    const root = rootId(s);
    const none = certificateEntries(s.config, qc);
    return qc.blockId === root && typeof none !== 'string' && none.length === 0
      ? undefined
      : 'bad root certificate';
  }
  const votes = certificateEntries(s.config, qc);
  if (typeof votes === 'string') return votes;
  return checkSigners(
    votes.map((v) => v.signer),
    (i) => {
      const v = votes[i]!;
      return verifyVoteSig(s, v.signer, qc.epoch, qc.round, qc.blockId, v.signature);
    },
    s.config,
  );
}

/** The root certificate of an epoch: its root block, round 0, no signer. */
export function rootQC(config: QuorumConfig, blockId: BlockId): QC {
  return { ...assembleCertificate(config, []), round: 0, blockId };
}

/** The members whose votes a QC of the current epoch carries (none if it is malformed). */
export function votersOf(s: ReplicaState, qc: QC): readonly VatId[] {
  const votes = certificateEntries(s.config, qc);
  return typeof votes === 'string' ? [] : votes.map((v) => v.signer);
}

export function checkTC(s: ReplicaState, tc: TC): string | undefined {
  if (tc.epoch !== s.epoch) return `timeout certificate of epoch ${tc.epoch}`;
  return checkSigners(
    tc.timeouts.map((t) => t.signer),
    (i) => {
      const t = tc.timeouts[i]!;
      return verifySig(
        s,
        t.signer,
        timeoutStatement(s.quorum, tc.epoch, tc.round, t.highQcRound),
        t.sig,
        `t|${tc.epoch}|${tc.round}|${t.highQcRound}`,
      );
    },
    s.config,
  );
}

function checkSigners(
  signers: readonly VatId[],
  valid: (i: number) => boolean,
  config: QuorumConfig,
): string | undefined {
  if (signers.length < config.threshold) {
    return `${signers.length} signatures, threshold ${config.threshold}`;
  }
  const seen = new Set<VatId>();
  for (const [i, signer] of signers.entries()) {
    if (seen.has(signer)) return `signer ${signer} counted twice`;
    seen.add(signer);
    if (!isMember(config, signer))
      return `signer ${signer} is not a member of epoch ${config.epoch}`;
    if (!valid(i)) return `bad signature of ${signer}`;
  }
  return undefined;
}

function rootId(s: ReplicaState): BlockId {
  // The epoch's root is the decided block the epoch started from.
  return s.epochRoot;
}
