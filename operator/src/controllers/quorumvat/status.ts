// The status of a QuorumVat: pure (status.test.ts).
import type { V1Pod } from '@kubernetes/client-node';
import type { PendingChange, QuorumVatStatus } from '../../api/v1alpha1/types.ts';
import { type ConditionInput, conditions } from '../common/conditions.ts';
import type { ContractResult } from '../common/contract.ts';
import { STURDYREF_KEY } from '../common/names.ts';
import { nodeFailure } from '../common/pods.ts';
import { contractHash } from '../vat/desired.ts';
import { IDENTITY_CONTAINER } from './desired.ts';
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
  /** Set once the genesis exists. */
  quorum?: { vatId: string; genesisConfigMap: string; sturdyrefSecret: string };
  /** Pods whose node reports itself ready as a member of this quorum (the /readyz quorum fields). */
  readyMembers?: ReadonlySet<string>;
  /** Voting members whose ordering says inputs wait and nothing was decided for a while. */
  stalled?: readonly string[];
  /** The spec's contract is not the pinned one the members run (contractDrift). */
  contractChanged?: { reason: string; message: string };
  pendingChange?: PendingChange;
  /** Progress of the change in flight, when there is one (requested, waiting, unreachable). */
  change?: { reason: string; message: string };
  now: Date;
}

/** The VatID a member pod reported (its identity init container's termination message). */
export function reportedVatId(pod: V1Pod): string | undefined {
  const s = pod.status?.initContainerStatuses?.find((c) => c.name === IDENTITY_CONTAINER);
  const t = s?.state?.terminated ?? s?.lastState?.terminated;
  if (t?.exitCode !== 0 || !t.message) return undefined;
  try {
    const v = (JSON.parse(t.message) as { vatId?: unknown }).vatId;
    return typeof v === 'string' && /^12D3KooW[1-9A-HJ-NP-Za-km-z]{40,60}$/.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function quorumVatStatus(o: QuorumObservation): QuorumVatStatus {
  const c = o.input.config;
  const failing = o.pods.map((p) => [p.metadata?.name, nodeFailure(p)] as const).find(([, f]) => f);
  const steady = o.step.kind === 'done' && !o.pendingChange;
  const members = memberStates(o.input).map((m) => ({
    ...m,
    ready: o.readyMembers?.has(m.pod) ?? false,
  }));
  const readyVoters = members.filter((m) => m.state !== 'learner' && m.ready).length;
  const ready: ConditionInput = o.problem
    ? { type: 'Ready', status: 'False', ...o.problem }
    : !c
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'AwaitingMembers',
          message:
            o.step.kind === 'wait'
              ? o.step.message
              : `the first ${o.input.replicas} members are starting; the genesis is made once each told its VatID`,
        }
      : readyVoters < c.threshold
        ? {
            type: 'Ready',
            status: 'False',
            reason: c.epoch === 0 && !o.previous?.epoch ? 'GenesisCreated' : 'MembersNotReady',
            message: `${readyVoters} of ${c.voters.length} voting members report ready, the quorum needs ${c.threshold} (epoch ${c.epoch})`,
          }
        : {
            type: 'Ready',
            status: 'True',
            reason: 'QuorumReady',
            message: `${readyVoters} of ${c.voters.length} voting members ready, threshold ${c.threshold}, epoch ${c.epoch}`,
          };
  const progressing: ConditionInput = o.change
    ? { type: 'Progressing', status: 'True', ...o.change }
    : o.step.kind === 'refuse' || steady || o.problem
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
        : o.stalled && o.stalled.length > 0
          ? {
              type: 'Degraded',
              status: 'True',
              reason: 'OrderingStalled',
              message: `${o.stalled.join(', ')}: inputs wait and nothing was decided for longer than the view timeout (fewer than k members reachable, or faulty leaders)`,
            }
          : o.contractChanged
            ? { type: 'Degraded', status: 'True', ...o.contractChanged }
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
    members,
    ...(o.quorum
      ? {
          vatId: o.quorum.vatId,
          genesisConfigMap: o.quorum.genesisConfigMap,
          sturdyrefSecret: { name: o.quorum.sturdyrefSecret, key: STURDYREF_KEY },
        }
      : {}),
    ...(o.pendingChange ? { pendingChange: o.pendingChange } : {}),
    ...(o.contractHash ? { contractHash: o.contractHash } : {}),
  };
}

/**
 * The spec's contract is not the one the quorum vat was created with (the spec's inline source
 * cannot change, but a ConfigMap's content can, or the ConfigMap can go): said, not rolled out.
 */
export function contractDrift(
  spec: ContractResult,
  pinned: string,
): { reason: string; message: string } | undefined {
  const keep = `the members keep running the contract the quorum vat was created with (sha256 ${contractHash(pinned)}): a quorum vat's contract cannot change (a member restarted with other code would diverge); restore it, or create a new QuorumVat for new code`;
  if (!spec.ok) return { reason: 'ContractChanged', message: `${spec.message}; ${keep}` };
  const now = contractHash(spec.source);
  if (now === contractHash(pinned)) return undefined;
  return {
    reason: 'ContractChanged',
    message: `the spec's contract (sha256 ${now}) is not the one in force; ${keep}`,
  };
}
