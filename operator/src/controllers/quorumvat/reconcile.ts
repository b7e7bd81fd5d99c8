// Reconciles one QuorumVat: reads the quorum's committed configuration (QuorumAdmin) and the
// member pods, asks the planner for the ONE next step, carries it out (the StatefulSet's size,
// or a proposal to the quorum), applies the other objects, and writes status through /status.
// Memoryless: after a crash the next reconcile starts again from the chain and the pods.
import { GROUP, VERSION } from '../../api/v1alpha1/spec.ts';
import type { QuorumVat } from '../../api/v1alpha1/types.ts';
import { apiMessage, type ResourceRef, statusCode } from '../../runtime/api.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { type ControllerContext, splitKey } from '../common/context.ts';
import { contractSource } from '../common/contract.ts';
import { names, selectorString } from '../common/names.ts';
import { podReady } from '../common/pods.ts';
import { applyDhtService } from '../common/shared.ts';
import { contractHash } from '../vat/desired.ts';
import { writeStatus } from '../vat/reconcile.ts';
import type { QuorumAdmin } from './admin.ts';
import { desiredQuorumVat } from './desired.ts';
import { type PlannerInput, type PodView, plan, type Step, thresholdFor } from './planner.ts';
import { quorumVatStatus } from './status.ts';

const ref = (qv: QuorumVat): ResourceRef => ({
  group: GROUP,
  version: VERSION,
  plural: 'quorumvats',
  kind: 'QuorumVat',
  namespace: qv.metadata.namespace!,
  name: qv.metadata.name!,
  ...(qv.metadata.uid ? { uid: qv.metadata.uid } : {}),
});

export async function reconcileQuorumVat(
  ctx: ControllerContext,
  admin: QuorumAdmin,
  key: string,
): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const qv = ctx.caches.quorumVats.get(name, namespace) as QuorumVat | undefined;
  if (!qv) {
    await applyDhtService(ctx, namespace);
    return undefined;
  }
  if (qv.metadata.deletionTimestamp) return undefined;
  const owner = { kind: 'QuorumVat' as const, name };
  const sts = ctx.caches.statefulSets.get(names(name).statefulSet, namespace);
  const podObjs = ctx.caches.pods
    .list(namespace)
    .filter(
      (p) =>
        p.metadata?.labels?.['quorumvat.dev/vat'] === name &&
        p.metadata.labels['quorumvat.dev/kind'] === 'QuorumVat',
    );
  const pods: PodView[] = [];
  for (const p of podObjs) {
    const ordinal = Number(p.metadata!.name!.slice(name.length + 1));
    const ready = podReady(p);
    const identity = ready && p.status?.podIP ? await ctx.identity(p.status.podIP) : undefined;
    pods.push({
      ordinal,
      name: p.metadata!.name!,
      ready,
      ...(identity ? { vatId: identity.vatId } : {}),
    });
  }

  let problem: { reason: string; message: string } | undefined;
  const view = await admin.read(qv, pods);
  const current = sts?.spec?.replicas;
  let step: Step;
  let input: PlannerInput;
  if ('unavailable' in view) {
    problem = { reason: 'MembershipUnavailable', message: view.unavailable };
    input = {
      replicas: qv.spec.replicas,
      config: undefined,
      statefulSetReplicas: current ?? 0,
      pods,
    };
    // Only the first formation may start pods; membership is never changed blind.
    step =
      current === undefined
        ? { kind: 'scale', replicas: qv.spec.replicas, why: 'first members' }
        : { kind: 'wait', reason: 'MembershipUnavailable', message: view.unavailable };
  } else {
    for (const p of pods)
      if (p.vatId && view.caughtUp[p.vatId] !== undefined) p.caughtUp = view.caughtUp[p.vatId]!;
    input = {
      replicas: qv.spec.replicas,
      ...(qv.spec.threshold !== undefined ? { threshold: qv.spec.threshold } : {}),
      config: view.config,
      statefulSetReplicas: current ?? 0,
      pods,
    };
    step = plan(input);
  }

  const contract = await contractSource(ctx.api.core, namespace, qv.spec.contract);
  let hash: string | undefined;
  if (!contract.ok) {
    problem = { reason: contract.reason, message: contract.message };
  } else {
    hash = contractHash(contract.source);
    const replicas = step.kind === 'scale' ? step.replicas : (current ?? 0);
    const threshold = input.config?.threshold ?? thresholdFor(qv.spec.replicas, qv.spec.threshold);
    try {
      for (const obj of desiredQuorumVat(qv, contract.source, ctx.settings, ctx.agentSource, {
        statefulSetReplicas: replicas,
        threshold,
        learners: input.config?.learners.length ?? 0,
      })) {
        await ctx.api.apply(obj);
      }
    } catch (err) {
      const code = statusCode(err);
      if (code === undefined || code >= 500 || code === 409 || code === 429) throw err;
      problem = { reason: 'ApplyRefused', message: apiMessage(err) };
    }
    await applyDhtService(ctx, namespace);
    if (
      !problem &&
      step.kind !== 'scale' &&
      step.kind !== 'wait' &&
      step.kind !== 'refuse' &&
      step.kind !== 'done'
    ) {
      await admin.propose(qv, step);
      await ctx.api.event(ref(qv), 'Normal', 'MembershipChange', describe(step));
      ctx.log.info({ quorumvat: key, step: step.kind }, describe(step));
    }
  }

  const status = quorumVatStatus({
    generation: qv.metadata.generation ?? 0,
    previous: qv.status,
    selector: selectorString(owner),
    input,
    step,
    ...(problem ? { problem } : {}),
    pods: podObjs,
    ...(hash ? { contractHash: hash } : {}),
    now: new Date(),
  });
  const before = qv.status?.conditions?.find((c) => c.type === 'Degraded');
  const after = status.conditions?.find((c) => c.type === 'Degraded');
  if (after?.status === 'True' && (before?.status !== 'True' || before.reason !== after.reason)) {
    await ctx.api.event(ref(qv), 'Warning', after.reason, after.message);
  }
  await writeStatus(ctx, ref(qv), qv.status, status);
  return { requeueAfterMs: step.kind === 'done' ? 60_000 : 3_000 };
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'genesis':
      return `formed the quorum: ${step.voters.length} members, threshold ${step.threshold}`;
    case 'addLearner':
      return `${step.pod} joins as a learner`;
    case 'promote':
      return `${step.pod} is voted in (threshold ${step.threshold})`;
    case 'removeVoter':
      return `${step.pod} is voted out (threshold ${step.threshold}); its pod goes next`;
    case 'removeLearner':
      return `learner ${step.pod} is removed`;
    case 'setThreshold':
      return `threshold set to ${step.threshold}`;
    default:
      return step.kind;
  }
}
