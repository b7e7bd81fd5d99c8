// The status of a QuorumVat: pure (status.test.ts).
import type { V1Pod } from '@kubernetes/client-node';
import type { QuorumVatStatus } from '../../api/v1alpha1/types.ts';
import { type ConditionInput, conditions } from '../common/conditions.ts';
import { nodeFailure } from '../common/pods.ts';
import { memberStates, type PlannerInput, type Step, tolerates } from './planner.ts';

export interface QuorumObservation {
  generation: number;
  previous: QuorumVatStatus | undefined;
  selector: string;
  input: PlannerInput;
  step: Step;
  /** Why the configuration could not be read, or objects not applied. */
  problem?: { reason: string; message: string };
  pods: V1Pod[];
  contractHash?: string;
  quorumVatId?: string;
  now: Date;
}

export function quorumVatStatus(o: QuorumObservation): QuorumVatStatus {
  const c = o.input.config;
  const failing = o.pods.map((p) => [p.metadata?.name, nodeFailure(p)] as const).find(([, f]) => f);
  const steady = o.step.kind === 'done';
  const ready: ConditionInput = o.problem
    ? { type: 'Ready', status: 'False', ...o.problem }
    : !c
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'Forming',
          message: 'the first members are starting',
        }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'QuorumReady',
          message: `${c.voters.length} voting members, threshold ${c.threshold}, epoch ${c.epoch}`,
        };
  const progressing: ConditionInput =
    o.step.kind === 'refuse' || steady || o.problem
      ? {
          type: 'Progressing',
          status: 'False',
          reason: steady ? 'Idle' : 'Blocked',
          message: steady
            ? 'membership matches the spec'
            : o.step.kind === 'refuse'
              ? o.step.message
              : o.problem!.message,
        }
      : {
          type: 'Progressing',
          status: 'True',
          reason:
            o.step.kind === 'wait'
              ? o.step.reason
              : `Step${o.step.kind[0]!.toUpperCase()}${o.step.kind.slice(1)}`,
          message: o.step.kind === 'wait' ? o.step.message : `membership change: ${o.step.kind}`,
        };
  const degraded: ConditionInput =
    o.step.kind === 'refuse'
      ? { type: 'Degraded', status: 'True', reason: o.step.reason, message: o.step.message }
      : failing
        ? {
            type: 'Degraded',
            status: 'True',
            reason: 'MemberFailing',
            message: `${failing[0]}: ${failing[1]}`,
          }
        : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no fault seen' };
  return {
    observedGeneration: o.generation,
    conditions: conditions(
      [ready, progressing, degraded],
      o.previous?.conditions,
      o.generation,
      o.now,
    ),
    selector: o.selector,
    replicas: c?.voters.length ?? 0,
    ...(c
      ? {
          epoch: c.epoch,
          threshold: c.threshold,
          tolerates: tolerates(c.voters.length, c.threshold),
        }
      : {}),
    members: memberStates(o.input),
    ...(o.quorumVatId ? { vatId: o.quorumVatId } : {}),
    ...(o.contractHash ? { contractHash: o.contractHash } : {}),
  };
}
