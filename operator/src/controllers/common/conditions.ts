// Conditions as metav1.Condition, with lastTransitionTime kept while the status does not change.
import type { Condition, ConditionType } from '../../api/v1alpha1/types.ts';

export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function conditions(
  next: ConditionInput[],
  previous: Condition[] | undefined,
  generation: number,
  now: Date,
): Condition[] {
  return next.map((c) => {
    const prev = previous?.find((p) => p.type === c.type);
    const lastTransitionTime =
      prev && prev.status === c.status ? prev.lastTransitionTime : now.toISOString();
    return { ...c, lastTransitionTime, observedGeneration: generation };
  });
}
