/**
 * The HTTP endpoint's view of a member node (quorum.ts QuorumProvider) over the member runtime
 * (quorum/member/member.ts): the replica's status, the member's verified chain, and change
 * requests handed to the member when it takes them.
 *
 * "Stalled" is judged here from what the status shows: inputs wait and the decided height has
 * not moved for longer than the view timeout (a leader change would have decided something by
 * then if k members were reachable). It is observed at probe granularity, which is what a
 * probe or a scrape needs.
 */
import { isLearner, isMember } from '../../quorum/config.ts';
import type { QuorumMember } from '../../quorum/member/member.ts';
import { chainDocument } from '../../quorum/status.ts';
import {
  type ChangeOutcome,
  ChangesNotTaken,
  type QuorumMemberStatus,
  type QuorumProvider,
  type SignedChange,
} from './quorum.ts';

/** What the member runtime offers for change requests, once it does. */
type Submits = {
  submitChange?: (change: SignedChange, signal: AbortSignal) => Promise<ChangeOutcome>;
};

export function memberProvider(
  member: QuorumMember & Submits,
  now: () => number = Date.now,
): QuorumProvider {
  let lastHeight = -1;
  let movedAt = now();
  return {
    status(): QuorumMemberStatus {
      const config = member.chain.current;
      const s = member.status();
      const height = s?.height ?? 0;
      if (height !== lastHeight) {
        lastHeight = height;
        movedAt = now();
      }
      const pending = s?.pendingInputs ?? 0;
      const leader = s?.leader ?? config.members[0]!;
      return {
        quorum: member.quorum,
        name: config.name,
        epoch: s?.epoch ?? config.epoch,
        members: s?.members ?? config.members.length,
        threshold: s?.threshold ?? config.threshold,
        byzantine: s?.byzantine ?? 0,
        crashes: s?.crashes ?? 0,
        role: isMember(config, member.vatId)
          ? 'member'
          : isLearner(config, member.vatId)
            ? 'learner'
            : 'none',
        caughtUp: member.caughtUp ?? isMember(config, member.vatId),
        ordering: {
          height,
          round: s?.round ?? 0,
          leader,
          leading: leader === member.vatId,
          stalled: pending > 0 && now() - movedAt > config.params.viewTimeoutMs,
          pendingInputs: pending,
        },
        halted: member.halted ?? s?.halted ?? null,
      };
    },
    chain: () => chainDocument(member.chain),
    async submitChange(change, signal) {
      if (typeof member.submitChange !== 'function') {
        throw new ChangesNotTaken(
          'this member does not take change requests yet (membership changes are not wired into the member runtime)',
        );
      }
      return member.submitChange(change, signal);
    },
  };
}
