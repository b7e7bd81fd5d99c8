// The status of a Vat from what the operator observed: pure (status.test.ts).
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { VatStatus } from '../../api/v1alpha1/types.ts';
import { type ConditionInput, conditions } from '../common/conditions.ts';
import { names, STURDYREF_KEY } from '../common/names.ts';
import { nodeFailure, podReady } from '../common/pods.ts';

export interface Identity {
  vatId: string;
  addresses: string[];
}

export interface VatObservation {
  name: string;
  generation: number;
  previous: VatStatus | undefined;
  /** Why the desired objects could not be made (a missing ConfigMap, an apply refused). */
  problem?: { reason: string; message: string };
  contractHash?: string;
  statefulSet?: V1StatefulSet;
  pod?: V1Pod;
  sturdyrefPublished: boolean;
  identity?: Identity;
  now: Date;
}

export function vatStatus(o: VatObservation): VatStatus {
  const failure = nodeFailure(o.pod);
  const ready = podReady(o.pod);
  const sts = o.statefulSet?.status;
  const rolling =
    !!o.statefulSet &&
    ((sts?.observedGeneration ?? 0) < (o.statefulSet.metadata?.generation ?? 0) ||
      sts?.currentRevision !== sts?.updateRevision ||
      (sts?.updatedReplicas ?? 0) < (o.statefulSet.spec?.replicas ?? 1));
  let readyCond: ConditionInput;
  if (o.problem) {
    readyCond = { type: 'Ready', status: 'False', ...o.problem };
  } else if (failure) {
    readyCond = { type: 'Ready', status: 'False', reason: 'NodeFailing', message: failure };
  } else if (!ready) {
    readyCond = {
      type: 'Ready',
      status: 'False',
      reason: o.pod ? 'PodNotReady' : 'PodPending',
      message: o.pod ? `pod ${o.pod.metadata?.name} is not ready yet` : 'waiting for the pod',
    };
  } else if (!o.identity) {
    readyCond = {
      type: 'Ready',
      status: 'False',
      reason: 'WaitingForIdentity',
      message: 'the node is ready but has not told its VatID yet',
    };
  } else if (!o.sturdyrefPublished) {
    readyCond = {
      type: 'Ready',
      status: 'False',
      reason: 'WaitingForSturdyref',
      message: `waiting for the pod to publish its sturdyref into Secret ${names(o.name).secret}`,
    };
  } else {
    readyCond = {
      type: 'Ready',
      status: 'True',
      reason: 'VatReady',
      message: `vat ${o.identity.vatId} answers; its sturdyref is in Secret ${names(o.name).secret}`,
    };
  }
  const degraded: ConditionInput =
    o.problem || failure
      ? {
          type: 'Degraded',
          status: 'True',
          reason: o.problem?.reason ?? 'NodeFailing',
          message: o.problem?.message ?? failure!,
        }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no fault seen' };
  const progressing: ConditionInput =
    !o.problem && !failure && (rolling || !ready)
      ? {
          type: 'Progressing',
          status: 'True',
          reason: rolling ? 'RollingOut' : 'Starting',
          message: rolling
            ? 'the pod is being replaced with the new template'
            : 'the vat is starting',
        }
      : { type: 'Progressing', status: 'False', reason: 'Idle', message: 'nothing in progress' };
  const identity =
    o.identity ??
    (o.previous?.vatId
      ? { vatId: o.previous.vatId, addresses: o.previous.addresses ?? [] }
      : undefined);
  return {
    observedGeneration: o.generation,
    conditions: conditions(
      [readyCond, progressing, degraded],
      o.previous?.conditions,
      o.generation,
      o.now,
    ),
    ...(identity ? { vatId: identity.vatId, addresses: identity.addresses } : {}),
    ...(o.sturdyrefPublished
      ? { sturdyrefSecret: { name: names(o.name).secret, key: STURDYREF_KEY } }
      : {}),
    ...(o.contractHash ? { contractHash: o.contractHash } : {}),
  };
}
