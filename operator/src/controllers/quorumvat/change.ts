// One membership change at a time, and what happens to it across operator crashes
// (change.test.ts). Pure.
//
// A change request names the epoch it applies to (chain.ts): the quorum orders it and applies
// it only while that epoch is current, and refuses it as stale once the epoch has moved on. That
// is what makes the operator's crash recovery simple and clean:
//   - the request is recorded in status (pendingChange) BEFORE it is sent; after a crash the
//     next reconcile re-reads the chain: if the epoch moved, the change (or another one) took
//     effect and the planner goes on from the new configuration; if not, it waits a while and
//     sends the SAME request again (Ed25519 signatures are deterministic: the same bytes, which
//     the quorum orders at most once);
//   - if the spec changed meanwhile (a scale-up reversed), the new plan's request for the same
//     epoch replaces it: whichever of the two the quorum orders first takes effect, and the
//     other is stale forever. An abandoned request can never apply later.
import type { PendingChange } from '../../api/v1alpha1/types.ts';
import type { Step } from './planner.ts';
import type { ConfigChange } from './quorum-lib.ts';

export type ChangeStep = Extract<
  Step,
  { kind: 'addLearner' | 'removeLearner' | 'promote' | 'removeVoter' | 'setThreshold' }
>;

export const isChangeStep = (s: Step): s is ChangeStep =>
  s.kind === 'addLearner' ||
  s.kind === 'removeLearner' ||
  s.kind === 'promote' ||
  s.kind === 'removeVoter' ||
  s.kind === 'setThreshold';

/** The configuration change a planner step asks the quorum for. */
export function changeOf(step: ChangeStep): ConfigChange {
  switch (step.kind) {
    case 'addLearner':
      return { op: 'add-learner', member: step.vatId };
    case 'removeLearner':
      return { op: 'remove-learner', member: step.vatId };
    case 'promote':
      return { op: 'add', member: step.vatId, threshold: step.threshold };
    case 'removeVoter':
      return { op: 'remove', member: step.vatId, threshold: step.threshold };
    case 'setThreshold':
      return { op: 'threshold', threshold: step.threshold };
  }
}

const sameChange = (a: PendingChange, epoch: number, c: ConfigChange): boolean =>
  a.epoch === epoch &&
  a.op === c.op &&
  (a.member ?? undefined) === ('member' in c ? c.member : undefined) &&
  (a.threshold ?? undefined) === ('threshold' in c ? c.threshold : undefined);

export type ChangeAction =
  /** Send the request (first time, again after retryMs, or replacing an abandoned one). */
  | { kind: 'submit'; pending: PendingChange; note?: string }
  /** Sent already and not yet in the chain: wait for the quorum to order it. */
  | { kind: 'wait'; pending: PendingChange; message: string }
  /** No change to make; any recorded request is over (applied, stale, or abandoned). */
  | { kind: 'none' };

/**
 * What to do about the planner's step given the request recorded in status and the epoch the
 * chain is at now. `retryMs`: how long a request may stay unordered before it is sent again.
 */
export function changeAction(input: {
  step: Step;
  pending: PendingChange | undefined;
  epoch: number;
  now: Date;
  retryMs: number;
}): ChangeAction {
  const { step, pending, epoch, now } = input;
  if (!isChangeStep(step)) return { kind: 'none' };
  const change = changeOf(step);
  const fresh: PendingChange = {
    epoch,
    op: change.op,
    ...('member' in change ? { member: change.member } : {}),
    ...('threshold' in change ? { threshold: change.threshold } : {}),
    ...('pod' in step ? { pod: step.pod } : {}),
    requestedAt: now.toISOString(),
    attempts: 1,
  };
  if (!pending) return { kind: 'submit', pending: fresh };
  if (!sameChange(pending, epoch, change)) {
    return {
      kind: 'submit',
      pending: fresh,
      note:
        pending.epoch === epoch
          ? `replaces the unordered request ${describePending(pending)} (the spec changed); whichever the quorum orders first applies, the other is stale`
          : undefined,
    };
  }
  const since = now.getTime() - Date.parse(pending.requestedAt);
  if (!(since < input.retryMs) || Number.isNaN(since)) {
    return {
      kind: 'submit',
      pending: { ...pending, requestedAt: now.toISOString(), attempts: pending.attempts + 1 },
    };
  }
  return {
    kind: 'wait',
    pending,
    message: pending.lastError
      ? `requested ${describePending(pending)} at epoch ${pending.epoch} (attempt ${pending.attempts}), not taken: ${pending.lastError}; sent again after ${Math.round(input.retryMs / 1000)} s`
      : `requested ${describePending(pending)} at epoch ${pending.epoch} (attempt ${pending.attempts}); waiting for the quorum to order it`,
  };
}

export function describePending(p: PendingChange): string {
  const who = p.pod ?? p.member;
  switch (p.op) {
    case 'add-learner':
      return `${who} joins as a learner`;
    case 'remove-learner':
      return `learner ${who} leaves`;
    case 'add':
      return `${who} is voted in (threshold ${p.threshold})`;
    case 'remove':
      return `${who} is voted out (threshold ${p.threshold})`;
    case 'threshold':
      return `threshold becomes ${p.threshold}`;
  }
}
