// How the operator reads a quorum's committed configuration and proposes a membership change.
// The quorum runtime (members that run the ordering core, vat-node/src/quorum/) exposes these
// next; until then `membershipUnavailable` says so, and the operator changes no membership.
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import type { PodView, QuorumConfig, Step } from './planner.ts';

export interface QuorumView {
  /** The committed configuration, from the quorum's own chain; undefined before genesis. */
  config: QuorumConfig | undefined;
  /** For each learner: whether it has applied everything decided so far. */
  caughtUp: Record<string, boolean>;
}

export interface QuorumAdmin {
  /** Reads the configuration chain from live members, or says why it cannot. */
  read(qv: QuorumVat, pods: PodView[]): Promise<QuorumView | { unavailable: string }>;
  /** Proposes one configuration step (signed with the operator's administrator key). */
  propose(
    qv: QuorumVat,
    step: Exclude<Step, { kind: 'scale' | 'wait' | 'refuse' | 'done' }>,
  ): Promise<void>;
}

export const membershipUnavailable: QuorumAdmin = {
  read: async () => ({
    unavailable:
      'the members do not expose the quorum configuration chain yet (the quorum runtime is not ' +
      'in this image): membership stays as it is',
  }),
  propose: async () => {
    throw new Error('no quorum runtime to propose to');
  },
};
