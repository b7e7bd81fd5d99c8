// Reconciles one Vat: reads it from the cache, applies its desired objects (server-side apply),
// observes the pod, the node's identity and the sturdyref Secret, and writes status through
// /status. Level-triggered: it never depends on which event woke it.
import { GROUP, VERSION } from '../../api/v1alpha1/spec.ts';
import type { Vat, VatStatus } from '../../api/v1alpha1/types.ts';
import { apiMessage, type ResourceRef, statusCode } from '../../runtime/api.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { type ControllerContext, splitKey } from '../common/context.ts';
import { contractSource } from '../common/contract.ts';
import { names, STURDYREF_KEY } from '../common/names.ts';
import { applyDhtService, readyEvent } from '../common/shared.ts';
import { contractHash, desiredVat } from './desired.ts';
import { vatStatus } from './status.ts';

export const vatRef = (vat: Vat): ResourceRef => ({
  group: GROUP,
  version: VERSION,
  plural: 'vats',
  kind: 'Vat',
  namespace: vat.metadata.namespace!,
  name: vat.metadata.name!,
  ...(vat.metadata.uid ? { uid: vat.metadata.uid } : {}),
});

export async function reconcileVat(ctx: ControllerContext, key: string): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const vat = ctx.caches.vats.get(name, namespace) as Vat | undefined;
  if (!vat) {
    // Deleted: owned objects go by garbage collection; volumes as the retention policy says.
    await applyDhtService(ctx, namespace);
    return undefined;
  }
  if (vat.metadata.deletionTimestamp) return undefined;
  const ref = vatRef(vat);
  const generation = vat.metadata.generation ?? 0;

  let problem: { reason: string; message: string } | undefined;
  let hash: string | undefined;
  const contract = await contractSource(ctx.api.core, namespace, vat.spec.contract);
  if (!contract.ok) {
    problem = { reason: contract.reason, message: contract.message };
  } else {
    hash = contractHash(contract.source);
    try {
      for (const obj of desiredVat(vat, contract.source, ctx.settings, ctx.agentSource)) {
        await ctx.api.apply(obj);
      }
    } catch (err) {
      const code = statusCode(err);
      // A refused object (invalid, forbidden, a name taken by something not ours) is the
      // user's to fix: say so in status. Anything else is retried with backoff.
      if (code === undefined || code >= 500 || code === 409 || code === 429) throw err;
      problem = { reason: 'ApplyRefused', message: apiMessage(err) };
    }
    await applyDhtService(ctx, namespace);
  }

  const sts = ctx.caches.statefulSets.get(names(name).statefulSet, namespace);
  const pod = ctx.caches.pods.get(`${names(name).statefulSet}-0`, namespace);
  const podIP = pod?.status?.podIP;
  const identity =
    podIP && pod?.status?.phase === 'Running' ? await ctx.identity(podIP) : undefined;
  const sturdyrefPublished = await secretHasSturdyref(ctx, namespace, names(name).secret);

  const status = vatStatus({
    name,
    generation,
    previous: vat.status,
    ...(problem ? { problem } : {}),
    ...(hash ? { contractHash: hash } : {}),
    ...(sts ? { statefulSet: sts } : {}),
    ...(pod ? { pod } : {}),
    sturdyrefPublished,
    ...(identity ? { identity } : {}),
    now: new Date(),
  });
  await writeStatus(ctx, ref, vat.status, status);
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  return { requeueAfterMs: ready?.status === 'True' ? 60_000 : 3_000 };
}

async function secretHasSturdyref(
  ctx: ControllerContext,
  namespace: string,
  name: string,
): Promise<boolean> {
  try {
    const s = await ctx.api.core.readNamespacedSecret({ namespace, name });
    return !!s.data?.[STURDYREF_KEY];
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}

/** Writes status when it changed, and an Event when the Ready condition's reason changed. */
export async function writeStatus(
  ctx: ControllerContext,
  ref: ResourceRef,
  previous: VatStatus | undefined,
  next: VatStatus,
): Promise<void> {
  // Key order may differ between what the API server returns and what we built.
  if (canonical(previous ?? {}) !== canonical(next)) {
    await ctx.api.applyStatus(ref, next as Record<string, unknown>);
  }
  const event = readyEvent(previous, next);
  if (event) {
    await ctx.api.event(ref, event.type, event.reason, event.message);
    ctx.log[event.type === 'Warning' ? 'warn' : 'info'](
      { [ref.kind.toLowerCase()]: `${ref.namespace}/${ref.name}`, reason: event.reason },
      event.message,
    );
  }
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}
