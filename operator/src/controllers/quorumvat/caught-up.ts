// When a member pod counts as Ready: its node serves AND it is a voting member that has caught
// up with what the quorum decided. The kubelet's probe (/readyz) sees only the first half; the
// second needs the other members' heights, which only the operator sees. So member pods carry a
// readiness gate (spec.readinessGates, condition MEMBER_GATE) that the operator sets from the
// members' /readyz quorum fields; a pod is Ready only when the probe passes and the gate is True.
//
// Why it matters: a StatefulSet rolling update (helm upgrade to a new image) replaces the
// highest ordinal first and moves on to the next only once the replaced pod is Ready, and the
// PodDisruptionBudget counts Ready pods. Without the gate, a member restarted on the new image
// would count as Ready while it still replays, and the roll would take the next member down
// while the restarted one cannot vote yet: with k = 2 of 3 the quorum would stall. Pure
// (caught-up.test.ts).
import type { V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { LEARNER_LAG, type MemberReadiness } from './members.ts';

/** The readiness gate of member pods. */
export const MEMBER_GATE = 'quorumvat.dev/caught-up';

export interface GateDecision {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

const answered = (r: MemberReadiness | undefined, quorum: string) =>
  r !== undefined && r.quorum?.quorum === quorum;

/**
 * The gate each probed member pod should have. `probes`: every member pod's /readyz answer in
 * one round (undefined: unreachable). `threshold`: k of the configuration in force. A pod whose
 * node did not answer is left out (its container probe already says it is not serving; one
 * missed probe of ours is no reason to flip the gate).
 *
 * Caught up: a voting member, not halted, whose decided height is within LEARNER_LAG of the
 * HIGHEST height of the other ready voters, compared with at least k − 1 of them (so the mark is
 * what a quorum decided, not one straggler's view). A learner, a removed member or a halted one
 * is not Ready.
 */
export function gates(
  probes: ReadonlyMap<string, MemberReadiness | undefined>,
  quorum: string,
  threshold: number,
): Map<string, GateDecision> {
  const voters = [...probes].filter(
    ([, r]) =>
      answered(r, quorum) && r!.ready && r!.quorum!.role === 'member' && !r!.quorum!.halted,
  );
  const out = new Map<string, GateDecision>();
  for (const [pod, r] of probes) {
    if (!r) continue;
    if (!answered(r, quorum)) {
      out.set(pod, {
        status: 'False',
        reason: 'NotAMember',
        message: `the node does not run quorum ${quorum}`,
      });
      continue;
    }
    const q = r.quorum!;
    if (q.halted) {
      out.set(pod, { status: 'False', reason: 'Halted', message: `halted: ${q.halted}` });
      continue;
    }
    if (!r.ready) {
      out.set(pod, {
        status: 'False',
        reason: 'NodeNotReady',
        message: r.reason ?? 'the node is not ready',
      });
      continue;
    }
    if (q.role !== 'member') {
      out.set(pod, {
        status: 'False',
        reason: q.role === 'learner' ? 'Learner' : 'NotAMember',
        message:
          q.role === 'learner'
            ? 'a learner: it catches up and is voted in before it counts'
            : 'not a member of the configuration in force',
      });
      continue;
    }
    const others = voters
      .filter(([p]) => p !== pod)
      .map(([, o]) => o!.quorum!.ordering?.height)
      .filter((h): h is number => typeof h === 'number');
    const height = q.ordering?.height;
    if (others.length < threshold - 1 || typeof height !== 'number') {
      out.set(pod, {
        status: 'False',
        reason: 'CatchingUp',
        message: `${others.length} other voting members answered, ${threshold - 1} needed to judge its height`,
      });
      continue;
    }
    const mark = Math.max(...others);
    out.set(
      pod,
      height >= mark - LEARNER_LAG
        ? {
            status: 'True',
            reason: 'CaughtUp',
            message: `voting, decided height ${height} (the others' highest: ${mark})`,
          }
        : {
            status: 'False',
            reason: 'CatchingUp',
            message: `decided height ${height}, the others' highest ${mark}: catching up`,
          },
    );
  }
  return out;
}

/** The gate condition a pod has now. */
export const gateOf = (pod: V1Pod): V1PodCondition | undefined =>
  pod.status?.conditions?.find((c) => c.type === MEMBER_GATE);

/** When the pod's vat container last started (its node's state is only as old as that). */
function startedAt(pod: V1Pod): number | undefined {
  const s = pod.status?.containerStatuses?.find((c) => c.name === 'vat')?.state?.running?.startedAt;
  return s ? new Date(s).getTime() : undefined;
}

/**
 * Whether the decided gate must be written. Once True it stays True while the node merely falls
 * a little behind under load (no flapping), and goes False when the member stops voting, halts,
 * or is not ready; and a True set before the vat container last (re)started is stale: the
 * restarted node is judged afresh.
 */
export function gateChange(pod: V1Pod, decided: GateDecision): GateDecision | undefined {
  const now = gateOf(pod);
  if (now?.status === 'True' && decided.reason === 'CatchingUp') {
    const set = now.lastTransitionTime ? new Date(now.lastTransitionTime).getTime() : 0;
    const started = startedAt(pod);
    if (started === undefined || started <= set) return undefined;
  }
  if (now?.status === decided.status && now.reason === decided.reason) return undefined;
  if (now?.status === decided.status && decided.status === 'True') return undefined;
  return decided;
}

/** A member container is ready by its own probe (the node serves), gate or not. */
export const nodeReady = (pod: V1Pod): boolean =>
  pod.status?.containerStatuses?.find((c) => c.name === 'vat')?.ready ?? false;
