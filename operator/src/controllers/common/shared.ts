// Pieces both controllers use: the namespace's DHT Service, and which status change is news.
import type { Condition, VatStatus } from '../../api/v1alpha1/types.ts';
import type { ControllerContext } from './context.ts';
import type { Owner } from './names.ts';
import { dhtService } from './workload.ts';

/** Applies the namespace's shared DHT Service, owned by every live vat there (none: GC'd). */
export async function applyDhtService(ctx: ControllerContext, namespace: string): Promise<void> {
  const owners: Owner[] = [];
  for (const v of ctx.caches.vats.list(namespace)) {
    if (!v.metadata.deletionTimestamp && v.metadata.uid) {
      owners.push({ kind: 'Vat', name: v.metadata.name, namespace, uid: v.metadata.uid });
    }
  }
  for (const q of ctx.caches.quorumVats.list(namespace)) {
    if (!q.metadata.deletionTimestamp && q.metadata.uid) {
      owners.push({ kind: 'QuorumVat', name: q.metadata.name, namespace, uid: q.metadata.uid });
    }
  }
  if (owners.length === 0) return; // the garbage collector removes it with its last owner
  await ctx.api.apply(dhtService(namespace, owners));
}

const ready = (s: VatStatus | undefined): Condition | undefined =>
  s?.conditions?.find((c) => c.type === 'Ready');

/** An Event for a user when the Ready condition changed reason (not for every poll). */
export function readyEvent(
  previous: VatStatus | undefined,
  next: VatStatus,
): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const before = ready(previous);
  const after = ready(next);
  if (!after || (before && before.reason === after.reason && before.status === after.status)) {
    return undefined;
  }
  const warning = new Set([
    'NodeFailing',
    'ContractNotFound',
    'ApplyRefused',
    'QuorumLost',
    'UnsafeScaleDown',
  ]);
  return {
    type: warning.has(after.reason) ? 'Warning' : 'Normal',
    reason: after.reason,
    message: after.message,
  };
}
