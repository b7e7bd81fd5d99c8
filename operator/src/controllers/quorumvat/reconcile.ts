// Reconciles one QuorumVat. Memoryless: every reconcile starts again from what is there (the
// pods, the genesis ConfigMap, the configuration chain the members serve, status.pendingChange),
// so an operator crash at any point is repaired by the next one.
//
//   1. Forming: the first spec.replicas member pods start together; each makes its own key on
//      its volume and reports its VatID (init container member-identity's termination message,
//      status.ts reportedVatId). With all VatIDs known the operator makes its administrator key
//      (Secret NAME-admin-key, read by nobody else), builds the genesis and CREATES the
//      immutable ConfigMap NAME-genesis (never applied over: a genesis made once is the
//      quorum's forever; the quorum VatID is its hash). The pods' await-genesis step picks it
//      up and each node starts as a member (--quorum-genesis).
//   2. Afterwards: the configuration in force is the longest chain that verifies from that
//      genesis among what the members serve (members.ts); new records are kept in NAME-chain.
//      The planner picks the ONE next step; a membership change is signed with the
//      administrator key and sent to a member (change.ts: recorded in status first, bound to
//      its epoch, re-sent identically or replaced, never applied twice); the StatefulSet's size
//      changes only as the planner says (pod first on the way up, vote first on the way down).
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/v1alpha1/spec.ts';
import type { QuorumVat, QuorumVatStatus } from '../../api/v1alpha1/types.ts';
import { apiMessage, type ResourceRef, statusCode } from '../../runtime/api.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { type ControllerContext, splitKey } from '../common/context.ts';
import { contractSource } from '../common/contract.ts';
import { names, selectorString } from '../common/names.ts';
import { applyDhtService } from '../common/shared.ts';
import { contractHash, ownerOf } from '../vat/desired.ts';
import { writeStatus } from '../vat/reconcile.ts';
import { gateChange, gates, MEMBER_GATE, nodeReady } from './caught-up.ts';
import {
  type ChangeAction,
  changeAction,
  changeOf,
  describePending,
  isChangeStep,
} from './change.ts';
import { desiredQuorumVat } from './desired.ts';
import {
  type AdminKeys,
  adminKeySecret,
  adminKeysOf,
  buildGenesis,
  chainConfigMap,
  genesisConfigMap,
  genesisOf,
  newAdminKeys,
  quorumSturdyref,
  recordsOf,
} from './genesis.ts';
import {
  caughtUp,
  type MemberClient,
  type MemberEndpoint,
  type MemberReadiness,
  readChain,
  submitChange,
} from './members.ts';
import {
  type PlannerInput,
  type PodView,
  plan,
  type QuorumConfig,
  type Step,
  thresholdFor,
} from './planner.ts';
import {
  type ChainConfig,
  type Genesis,
  makeSigner,
  requestChange,
  vatPinOf,
} from './quorum-lib.ts';
import { contractDrift, quorumVatStatus, reportedVatId } from './status.ts';

/** How long a sent change may stay unordered before the same request is sent again. */
const CHANGE_RETRY_MS = 30_000;

const ref = (qv: QuorumVat): ResourceRef => ({
  group: GROUP,
  version: VERSION,
  plural: 'quorumvats',
  kind: 'QuorumVat',
  namespace: qv.metadata.namespace!,
  name: qv.metadata.name!,
  ...(qv.metadata.uid ? { uid: qv.metadata.uid } : {}),
});

async function readOptional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** The administrator key: read, or made once (create, never overwrite: 409 = someone made it). */
async function adminKeys(
  ctx: ControllerContext,
  qv: QuorumVat,
): Promise<AdminKeys | { problem: string }> {
  const namespace = qv.metadata.namespace!;
  const name = names(qv.metadata.name!).adminKey;
  let secret = await readOptional(() => ctx.api.core.readNamespacedSecret({ namespace, name }));
  if (!secret) {
    try {
      secret = await ctx.api.core.createNamespacedSecret({
        namespace,
        body: adminKeySecret(ownerOf(qv), newAdminKeys()) as V1Secret,
      });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      secret = await ctx.api.core.readNamespacedSecret({ namespace, name });
    }
  }
  if (!secret.metadata?.ownerReferences?.some((r) => r.uid === qv.metadata.uid)) {
    return { problem: `Secret ${name} exists but does not belong to this QuorumVat` };
  }
  return adminKeysOf(secret);
}

const toPlanner = (c: ChainConfig): QuorumConfig => ({
  epoch: c.epoch,
  voters: [...c.members],
  learners: [...c.learners],
  threshold: c.threshold,
});

export async function reconcileQuorumVat(
  ctx: ControllerContext,
  client: MemberClient,
  key: string,
): Promise<ReconcileResult> {
  const { namespace, name } = splitKey(key);
  const qv = ctx.caches.quorumVats.get(name, namespace) as QuorumVat | undefined;
  if (!qv) {
    await applyDhtService(ctx, namespace);
    return undefined;
  }
  if (qv.metadata.deletionTimestamp) return undefined;
  const owner = ownerOf(qv);
  const n = names(name);
  const now = new Date();
  const sts = ctx.caches.statefulSets.get(n.statefulSet, namespace);
  const podObjs = ctx.caches.pods
    .list(namespace)
    .filter(
      (p) =>
        p.metadata?.labels?.['quorumvat.dev/vat'] === name &&
        p.metadata.labels['quorumvat.dev/kind'] === 'QuorumVat' &&
        !p.metadata.deletionTimestamp,
    );
  const pods: PodView[] = podObjs.map((p) => {
    const vatId = reportedVatId(p);
    return {
      ordinal: Number(p.metadata!.name!.slice(name.length + 1)),
      name: p.metadata!.name!,
      // The node's own readiness (its probe), not the pod's Ready, which waits for the gate
      // that this operator sets only once the member votes and has caught up.
      ready: nodeReady(p),
      ...(vatId ? { vatId } : {}),
    };
  });
  const endpoints = (only?: (p: V1Pod) => boolean): MemberEndpoint[] =>
    podObjs
      .filter((p) => p.status?.podIP && (!only || only(p)))
      .sort((a, b) => Number(nodeReady(b)) - Number(nodeReady(a)))
      .map((p) => ({ pod: p.metadata!.name!, ip: p.status!.podIP! }));

  const contract = await contractSource(ctx.api.core, namespace, qv.spec.contract);
  const contractProblem = contract.ok
    ? undefined
    : { reason: contract.reason, message: contract.message };
  let problem: { reason: string; message: string } | undefined = contractProblem;

  const keys = await adminKeys(ctx, qv);
  if ('problem' in keys) problem ??= { reason: 'AdminKeyInvalid', message: keys.problem };

  // The genesis: made once, then only ever read.
  let genesisCm = await readOptional(() =>
    ctx.api.core.readNamespacedConfigMap({ namespace, name: n.genesis }),
  );
  const current = sts?.spec?.replicas ?? 0;
  let input: PlannerInput = {
    replicas: qv.spec.replicas,
    ...(qv.spec.threshold !== undefined ? { threshold: qv.spec.threshold } : {}),
    config: undefined,
    statefulSetReplicas: current,
    pods,
  };
  let step: Step = plan(input);
  if (!genesisCm && step.kind === 'genesis' && !problem && !('problem' in keys)) {
    genesisCm = await createGenesis(ctx, qv, step, keys, contract.ok ? contract.source : '');
  }

  let quorum: { genesis: Genesis; vatId: string } | undefined;
  /** The contract the members run: the pinned one once the genesis exists. */
  let running = contract.ok ? contract.source : undefined;
  let contractChanged: { reason: string; message: string } | undefined;
  let chainConfig: ChainConfig | undefined;
  const readyMembers = new Set<string>();
  const stalled: string[] = [];
  if (genesisCm) {
    const g = genesisOf(genesisCm, qv.metadata.uid!);
    if ('problem' in g) {
      problem = { reason: 'GenesisInvalid', message: g.problem };
      step = { kind: 'wait', reason: 'GenesisInvalid', message: g.problem };
    } else {
      quorum = { genesis: g.genesis, vatId: g.quorum };
      if (g.contract !== undefined) {
        running = g.contract;
        contractChanged = contractDrift(contract, g.contract);
        // The members need nothing of the spec's contract any more.
        if (problem === contractProblem) problem = undefined;
      }
      const chainCm = await readOptional(() =>
        ctx.api.core.readNamespacedConfigMap({ namespace, name: n.chain }),
      );
      const known = recordsOf(chainCm);
      const chain = await readChain(client, g.quorum, g.genesis, known, endpoints());
      if (!chainCm || chain.records.length > known.length) {
        await ctx.api.apply(chainConfigMap(owner, g.genesis, chain.records));
      }
      chainConfig = chain.configs.at(-1)!;
      const config = toPlanner(chainConfig);
      // Learners' progress and members' readiness from /readyz (its quorum fields).
      const readiness = await Promise.all(
        endpoints().map(async (e) => [e.pod, await client.readiness(e.ip)] as const),
      );
      for (const [pod, r] of readiness) {
        if (r?.ready && r.quorum?.quorum === g.quorum && !r.quorum.halted) {
          readyMembers.add(pod);
          if (r.quorum.role === 'member' && r.quorum.ordering?.stalled) stalled.push(pod);
        }
      }
      await setGates(ctx, podObjs, readiness, g.quorum, chainConfig.threshold);
      const learners = caughtUp(new Map(readiness), g.quorum);
      for (const p of pods) if (learners.has(p.name)) p.caughtUp = learners.get(p.name)!;
      input = { ...input, config, pods };
      step = plan(input);
      // Membership is never changed blind: with no member serving its chain (starting after
      // the genesis, or all down) only the pods of the configuration run, nothing is proposed.
      if (chain.answered === 0 && (step.kind !== 'scale' || step.replicas < current)) {
        step = {
          kind: 'wait',
          reason: config.epoch === 0 ? 'GenesisCreated' : 'MembersUnreachable',
          message:
            config.epoch === 0
              ? `genesis of ${g.quorum} created; waiting for the members to start from it`
              : 'no member serves the configuration chain: membership stays as it is',
        };
      }
    }
  }

  // Objects (the StatefulSet last, sized by the planner).
  let hash: string | undefined;
  if (running !== undefined) {
    hash = contractHash(running);
    const replicas = step.kind === 'scale' ? step.replicas : current;
    const threshold = input.config?.threshold ?? thresholdFor(qv.spec.replicas, qv.spec.threshold);
    const sturdyref =
      quorum && !('problem' in keys)
        ? quorumSturdyref(owner, quorum.genesis, keys, (v) => pods.find((p) => p.vatId === v)?.name)
        : undefined;
    try {
      for (const obj of desiredQuorumVat(qv, running, ctx.settings, {
        statefulSetReplicas: replicas,
        threshold,
        ...(sturdyref ? { sturdyref } : {}),
      })) {
        await ctx.api.apply(obj);
      }
    } catch (err) {
      const code = statusCode(err);
      if (code === undefined || code >= 500 || code === 409 || code === 429) throw err;
      problem ??= { reason: 'ApplyRefused', message: apiMessage(err) };
    }
    await applyDhtService(ctx, namespace);
  }

  // A membership change: one at a time, recorded before it is sent (change.ts).
  let action: ChangeAction = { kind: 'none' };
  let change: { reason: string; message: string } | undefined;
  if (!problem && chainConfig && !('problem' in keys)) {
    action = changeAction({
      step,
      pending: qv.status?.pendingChange,
      epoch: chainConfig.epoch,
      now,
      retryMs: CHANGE_RETRY_MS,
    });
  }
  const observe = (extra: Partial<Parameters<typeof quorumVatStatus>[0]>) =>
    quorumVatStatus({
      generation: qv.metadata.generation ?? 0,
      previous: qv.status,
      selector: selectorString(owner),
      input,
      step,
      ...(problem ? { problem } : {}),
      pods: podObjs,
      ...(hash ? { contractHash: hash } : {}),
      ...(quorum
        ? {
            quorum: {
              vatId: quorum.vatId,
              genesisConfigMap: n.genesis,
              sturdyrefSecret: n.secret,
            },
          }
        : {}),
      readyMembers,
      stalled,
      ...(contractChanged ? { contractChanged } : {}),
      now,
      ...extra,
    });
  if (action.kind === 'submit' && isChangeStep(step) && chainConfig && !('problem' in keys)) {
    const pending = action.pending;
    // Write-ahead: status says what is being requested before any member hears of it.
    const ahead = observe({
      pendingChange: pending,
      change: { reason: 'ChangeRequested', message: describePending(pending) },
    });
    await writeStatus(ctx, ref(qv), qv.status, ahead);
    const signed = requestChange(
      makeSigner(keys.seed, Buffer.from(keys.publicKey, 'hex')),
      chainConfig,
      changeOf(step),
    );
    // Only voting members order a request: pods outside the configuration (a new pod waiting
    // to be admitted, a removed one) are not asked. Every voter is (members.ts submitChange).
    const voters = new Set(chainConfig.members);
    const order = endpoints().filter((e) =>
      voters.has(pods.find((p) => p.name === e.pod)?.vatId ?? ''),
    );
    const r = await submitChange(client, order, signed);
    let recorded: typeof pending = pending;
    if ('accepted' in r) {
      const { lastError: _taken, ...rest } = pending;
      recorded = rest;
      const because = step.kind === 'removeVoter' && step.because ? `: ${step.because}` : '';
      const message = `${describePending(pending)}${because} (epoch ${pending.epoch}; sent to ${r.accepted}${pending.attempts > 1 ? `, attempt ${pending.attempts}` : ''})${action.note ? `; ${action.note}` : ''}`;
      change = { reason: 'ChangeRequested', message };
      if (pending.attempts === 1) {
        await ctx.api.event(ref(qv), 'Normal', 'MembershipChange', message);
        ctx.log.info({ quorumvat: key, epoch: pending.epoch, op: pending.op }, message);
      }
    } else if ('refused' in r) {
      change = { reason: 'ChangeRefused', message: r.refused };
      recorded = { ...pending, lastError: r.refused };
      // One Event and one log line per request, not one per retry.
      if (pending.attempts === 1) {
        await ctx.api.event(ref(qv), 'Warning', change.reason, change.message);
        ctx.log.warn({ quorumvat: key, epoch: pending.epoch, op: pending.op }, r.refused);
      }
    } else {
      change = { reason: 'MembersUnreachable', message: r.unreachable };
      recorded = { ...pending, lastError: r.unreachable };
    }
    const status = observe({ pendingChange: recorded, change });
    await warnOnDegraded(ctx, qv, ahead, status);
    await writeStatus(ctx, ref(qv), ahead, status);
  } else {
    const status = observe(
      action.kind === 'wait'
        ? {
            pendingChange: action.pending,
            change: { reason: 'ChangePending', message: action.message },
          }
        : {},
    );
    await warnOnDegraded(ctx, qv, qv.status, status);
    await writeStatus(ctx, ref(qv), qv.status, status);
  }
  const settled = step.kind === 'done' && action.kind === 'none' && readyMembers.size > 0;
  return { requeueAfterMs: settled ? 60_000 : 3_000 };
}

/** Creates the genesis ConfigMap (and the chain's) once; returns what is stored either way. */
async function createGenesis(
  ctx: ControllerContext,
  qv: QuorumVat,
  step: Extract<Step, { kind: 'genesis' }>,
  keys: AdminKeys,
  contract: string,
): Promise<V1ConfigMap> {
  const owner = ownerOf(qv);
  const namespace = owner.namespace;
  const genesis = buildGenesis({
    name: owner.name,
    uid: owner.uid,
    members: step.voters,
    threshold: step.threshold,
    keys,
    // What the members run, pinned: the CRD default fills gasLimit in.
    vat: vatPinOf(contract, qv.spec.gasLimit),
  });
  let cm: V1ConfigMap;
  try {
    cm = await ctx.api.core.createNamespacedConfigMap({
      namespace,
      body: genesisConfigMap(owner, genesis, contract),
    });
  } catch (err) {
    if (statusCode(err) !== 409) throw err;
    // Made before (a reconcile that crashed after creating it): that one stands.
    return ctx.api.core.readNamespacedConfigMap({ namespace, name: names(owner.name).genesis });
  }
  await ctx.api.apply(chainConfigMap(owner, genesis, []));
  const message = `genesis created: ${step.voters.length} members, threshold ${step.threshold}, quorum VatID ${cm.data?.quorum}`;
  await ctx.api.event(ref(qv), 'Normal', 'GenesisCreated', message);
  ctx.log.info({ quorumvat: `${namespace}/${owner.name}`, quorum: cm.data?.quorum }, message);
  return cm;
}

/**
 * Writes each member pod's readiness gate where it changed (caught-up.ts): Ready means voting
 * and caught up, so a rolling update and the PodDisruptionBudget wait for exactly that.
 */
async function setGates(
  ctx: ControllerContext,
  podObjs: readonly V1Pod[],
  readiness: readonly (readonly [string, MemberReadiness | undefined])[],
  quorum: string,
  threshold: number,
): Promise<void> {
  const decided = gates(new Map(readiness), quorum, threshold);
  for (const pod of podObjs) {
    const d = decided.get(pod.metadata!.name!);
    const change = d && gateChange(pod, d);
    if (!change) continue;
    try {
      await ctx.api.applyPodCondition(pod.metadata!.namespace!, pod.metadata!.name!, {
        type: MEMBER_GATE,
        ...change,
      });
      ctx.log.info(
        { pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, gate: change.status },
        `member ${change.status === 'True' ? 'caught up and voting' : `not ready: ${change.message}`}`,
      );
    } catch (err) {
      // Gone meanwhile (deleted, replaced): the next reconcile judges the new pod.
      if (statusCode(err) !== 404) throw err;
    }
  }
}

async function warnOnDegraded(
  ctx: ControllerContext,
  qv: QuorumVat,
  before: QuorumVatStatus | undefined,
  after: QuorumVatStatus,
): Promise<void> {
  const b = before?.conditions?.find((c) => c.type === 'Degraded');
  const a = after.conditions?.find((c) => c.type === 'Degraded');
  if (a?.status === 'True' && (b?.status !== 'True' || b.reason !== a.reason)) {
    await ctx.api.event(ref(qv), 'Warning', a.reason, a.message);
  }
}
