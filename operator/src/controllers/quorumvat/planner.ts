// The membership planner of a QuorumVat: given what the quorum's own configuration chain says
// (voters, learners, threshold, epoch) and what the pods are, the ONE next step towards the
// spec. Pure and memoryless: after an operator crash the next reconcile re-reads the chain and
// the pods and carries on from there, whatever step it was in (planner.test.ts crashes after
// every step). Membership changes one member at a time, as etcd-operator and Strimzi do:
//
//   scale-up:   StatefulSet +1 → new pod made its own key and told its VatID → added as learner
//               → caught up → voted in (the threshold follows in the same configuration)
//   scale-down: the highest-ordinal voter is voted out first (state "leaving") → only then
//               the StatefulSet shrinks and its pod goes
//
// Every configuration it proposes satisfies k <= n and 2k > n, and a change is proposed only
// while at least k voters are live (the current quorum must decide it) and, for a removal, when
// the remaining live voters still reach the new threshold. Otherwise it refuses, saying why.

export interface QuorumConfig {
  epoch: number;
  /** VatIDs of the voting members. */
  voters: string[];
  /** VatIDs of members that receive everything but do not vote yet. */
  learners: string[];
  threshold: number;
}

export interface PodView {
  ordinal: number;
  name: string;
  ready: boolean;
  /** The member host's VatID, once its node told it. */
  vatId?: string;
  /** For a learner: whether it has applied everything the quorum decided. */
  caughtUp?: boolean;
}

export interface PlannerInput {
  /** spec.replicas and spec.threshold (undefined: a majority of whatever n is). */
  replicas: number;
  threshold?: number;
  /** The committed configuration, or undefined before the quorum was formed. */
  config: QuorumConfig | undefined;
  /** The StatefulSet's spec.replicas as applied now. */
  statefulSetReplicas: number;
  pods: PodView[];
}

export type Step =
  | { kind: 'scale'; replicas: number; why: string }
  | { kind: 'genesis'; voters: string[]; threshold: number }
  | { kind: 'addLearner'; vatId: string; pod: string }
  | { kind: 'removeLearner'; vatId: string; pod: string }
  | { kind: 'promote'; vatId: string; pod: string; threshold: number }
  | {
      kind: 'removeVoter';
      vatId: string;
      pod: string;
      threshold: number;
      /** Why, when it is not a scale-down (a member that lost its volume). */
      because?: string;
    }
  | { kind: 'setThreshold'; threshold: number }
  | { kind: 'wait'; reason: string; message: string }
  | { kind: 'refuse'; reason: string; message: string }
  | { kind: 'done' };

export const majority = (n: number): number => Math.floor(n / 2) + 1;

export const valid = (n: number, k: number): boolean => k >= 1 && k <= n && 2 * k > n;

/** The threshold for a quorum of n members: the spec's when valid at n, else a majority. */
export function thresholdFor(n: number, specThreshold: number | undefined): number {
  return specThreshold !== undefined && valid(n, specThreshold) ? specThreshold : majority(n);
}

/** Faults a configuration survives: crashed members, and lying members (safety and liveness). */
export function tolerates(n: number, k: number): { crashed: number; byzantine: number } {
  return { crashed: Math.max(0, n - k), byzantine: Math.max(0, Math.min(n - k, 2 * k - n - 1)) };
}

export type MemberState = 'learner' | 'voting' | 'leaving';

/** Each pod's member state, for status: voting, learner, or leaving (slated to be voted out). */
export function memberStates(
  input: PlannerInput,
): { pod: string; vatId?: string; state: MemberState }[] {
  const out: { pod: string; vatId?: string; state: MemberState }[] = [];
  const c = input.config;
  if (!c) return out;
  for (const p of [...input.pods].sort((a, b) => a.ordinal - b.ordinal)) {
    if (!p.vatId) continue;
    const voter = c.voters.includes(p.vatId);
    const learner = c.learners.includes(p.vatId);
    if (!voter && !learner) continue;
    const leaving =
      p.ordinal >= input.replicas && (voter ? c.voters.length > input.replicas : true);
    out.push({
      pod: p.name,
      vatId: p.vatId,
      state: leaving ? 'leaving' : voter ? 'voting' : 'learner',
    });
  }
  return out;
}

export function plan(input: PlannerInput): Step {
  const { replicas: n, config } = input;
  const pods = [...input.pods].sort((a, b) => a.ordinal - b.ordinal);
  const podOf = (vatId: string) => pods.find((p) => p.vatId === vatId);

  // Forming the quorum: all first members start together, then one genesis configuration.
  if (!config) {
    if (input.statefulSetReplicas !== n) {
      return { kind: 'scale', replicas: n, why: `start the first ${n} members` };
    }
    // A member pod tells its VatID before its node runs (it cannot run as a member before the
    // genesis exists), so the first members are counted by VatID, not by readiness.
    const first = pods.filter((p) => p.ordinal < n);
    const unknown = first.filter((p) => !p.vatId);
    if (first.length < n || unknown.length > 0) {
      return {
        kind: 'wait',
        reason: 'AwaitingMembers',
        message: `waiting for ${n - first.length + unknown.length} of the first ${n} members to report their VatID`,
      };
    }
    return {
      kind: 'genesis',
      voters: first.map((p) => p.vatId!),
      threshold: thresholdFor(n, input.threshold),
    };
  }

  const voters = config.voters;
  const liveVoters = voters.filter((v) => podOf(v)?.ready).length;
  const members = new Set([...voters, ...config.learners]);
  const memberPods = pods.filter((p) => p.vatId && members.has(p.vatId));
  const highestMember = Math.max(-1, ...memberPods.map((p) => p.ordinal));
  const quorumCanDecide = liveVoters >= config.threshold;
  const cannotDecide: Step = {
    kind: 'refuse',
    reason: 'QuorumLost',
    message:
      `only ${liveVoters} of ${voters.length} voting members are live, fewer than the threshold ` +
      `${config.threshold}: no membership change can be decided until members come back`,
  };

  // Pods above every member that the spec no longer wants: a scale-down whose vote-out was
  //    committed before a crash, or a scale-up abandoned before its pod joined. Remove them.
  //    A pod whose VatID is not known yet might be a member: it is never removed unseen.
  const wanted = Math.max(n, highestMember + 1);
  if (input.statefulSetReplicas > wanted) {
    const unknown = pods.find((p) => p.ordinal >= wanted && !p.vatId);
    if (!unknown) {
      return { kind: 'scale', replicas: wanted, why: `remove pods above the ${wanted} members` };
    }
    if (voters.length <= n) {
      return {
        kind: 'wait',
        reason: 'MemberUnknown',
        message: `pod ${unknown.name} has not told its VatID: it is not removed while it may be a member`,
      };
    }
  }

  // A learner the spec no longer wants (scale-up reversed mid-way): drop it before anything.
  for (const l of config.learners) {
    const p = podOf(l);
    if (!p || p.ordinal >= n || voters.length >= n) {
      if (!quorumCanDecide) return cannotDecide;
      return { kind: 'removeLearner', vatId: l, pod: p?.name ?? '(gone)' };
    }
  }

  // A member whose volume was lost: its pod came back with a new key (a VatID outside the
  //    configuration) and no pod carries the old member's VatID any more. The old member can
  //    never vote again (its key is gone): vote it out first, then the new pod joins as any new
  //    member does (learner, caught up, voted in), one change at a time. Judged only once every
  //    pod has told its VatID, so a member whose pod is merely restarting is never taken for lost.
  const orphans = voters.filter((v) => !podOf(v));
  if (orphans.length > 0) {
    const unknown = pods.find((p) => !p.vatId);
    if (unknown) {
      return {
        kind: 'wait',
        reason: 'MemberStarting',
        message: `waiting for pod ${unknown.name} to report its VatID (${orphans.length} voting member(s) have no pod now)`,
      };
    }
    const replacement = pods.find((p) => p.ordinal < n && !members.has(p.vatId!));
    if (replacement) {
      const lost = orphans[0]!;
      const k = thresholdFor(voters.length - 1, input.threshold);
      if (!quorumCanDecide) return cannotDecide;
      if (liveVoters < k) {
        return {
          kind: 'refuse',
          reason: 'UnsafeReplacement',
          message: `voting out the lost member ${lost} would leave ${liveVoters} live voting members, fewer than the threshold ${k}: bring the down members back first`,
        };
      }
      return {
        kind: 'removeVoter',
        vatId: lost,
        pod: `${replacement.name}'s old member`,
        threshold: k,
        because: `${replacement.name} came back without its volume (new VatID ${replacement.vatId}); the lost member is voted out first, then the new one joins`,
      };
    }
  }

  if (voters.length < n) {
    const next = voters.length + 1;
    const k = thresholdFor(next, input.threshold);
    const learner = config.learners[0];
    if (learner) {
      const p = podOf(learner)!;
      if (!p.ready || !p.caughtUp) {
        return {
          kind: 'wait',
          reason: 'LearnerCatchingUp',
          message: `${p.name} (${learner}) is a learner catching up; it is voted in once it has`,
        };
      }
      if (!quorumCanDecide) return cannotDecide;
      return { kind: 'promote', vatId: learner, pod: p.name, threshold: k };
    }
    // A pod within the spec that told a VatID outside the configuration: a new member's, or
    // one that replaces a lost member. It joins as a learner.
    const stranger = pods.find((p) => p.ordinal < n && p.vatId && !members.has(p.vatId));
    if (stranger) {
      if (!quorumCanDecide) return cannotDecide;
      return { kind: 'addLearner', vatId: stranger.vatId!, pod: stranger.name };
    }
    // The next pod is the lowest ordinal that is not a member.
    const ordinal = highestMember + 1;
    if (input.statefulSetReplicas < ordinal + 1) {
      return { kind: 'scale', replicas: ordinal + 1, why: `start member ${ordinal + 1} of ${n}` };
    }
    // Known by its VatID is enough to be admitted: its node may only become ready once the
    // chain names it (a learner catches up before it serves).
    const p = pods.find((x) => x.ordinal === ordinal);
    if (!p?.vatId) {
      return {
        kind: 'wait',
        reason: 'MemberStarting',
        message: `waiting for pod ${p?.name ?? `#${ordinal}`} to report its VatID before it joins as a learner`,
      };
    }
    if (!quorumCanDecide) return cannotDecide;
    return { kind: 'addLearner', vatId: p.vatId, pod: p.name };
  }

  if (voters.length > n) {
    // The highest-ordinal voter leaves first.
    const leaving = memberPods.filter((p) => voters.includes(p.vatId!)).at(-1);
    const vatId = leaving?.vatId ?? voters.find((v) => !podOf(v))!;
    const remaining = voters.length - 1;
    const k = thresholdFor(remaining, input.threshold);
    const liveAfter = liveVoters - (leaving?.ready ? 1 : 0);
    if (!quorumCanDecide) return cannotDecide;
    if (liveAfter < k) {
      return {
        kind: 'refuse',
        reason: 'UnsafeScaleDown',
        message:
          `voting out ${leaving?.name ?? vatId} would leave ${liveAfter} live voting members, ` +
          `fewer than the threshold ${k}: bring the down members back first`,
      };
    }
    return { kind: 'removeVoter', vatId, pod: leaving?.name ?? '(gone)', threshold: k };
  }

  const k = thresholdFor(n, input.threshold);
  if (config.threshold !== k) {
    if (!quorumCanDecide) return cannotDecide;
    return { kind: 'setThreshold', threshold: k };
  }
  if (input.statefulSetReplicas !== n) {
    return { kind: 'scale', replicas: n, why: 'match the StatefulSet to the members' };
  }
  return { kind: 'done' };
}
