// The operator: informers (Vat, QuorumVat, and the StatefulSets and pods it made) feed one
// per-key work queue per kind; workers reconcile from the caches. Runs only while this replica
// holds the Lease; stops cleanly (queues drained, informers stopped, Lease released).
import { readFileSync } from 'node:fs';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from './api/v1alpha1/spec.ts';
import type { QuorumVat, Vat } from './api/v1alpha1/types.ts';
import type { Caches, ControllerContext } from './controllers/common/context.ts';
import { keyOf } from './controllers/common/context.ts';
import { fetchIdentity } from './controllers/common/identity.ts';
import { LABEL, MANAGED_BY } from './controllers/common/names.ts';
import type { OperatorSettings } from './controllers/common/workload.ts';
import { httpMemberClient, type MemberClient } from './controllers/quorumvat/members.ts';
import { reconcileQuorumVat } from './controllers/quorumvat/reconcile.ts';
import { reconcileVat } from './controllers/vat/reconcile.ts';
import { apiMessage, isGone, OperatorApi, statusCode } from './runtime/api.ts';
import { ResilientInformer } from './runtime/informer.ts';
import { type ReconcileResult, runWorkers, WorkQueue } from './runtime/queue.ts';

export interface OperatorOptions {
  kc: KubeConfig;
  settings: OperatorSettings;
  log: Logger;
  workers?: number;
  resyncMs?: number;
  /** How the operator talks to quorum members (default: HTTP on their node endpoints). */
  members?: MemberClient;
}

type Named<T> = T & { metadata: { name: string } };

export class Operator {
  readonly vatQueue = new WorkQueue();
  readonly quorumVatQueue = new WorkQueue();
  private readonly caches: Caches;
  private readonly ctx: ControllerContext;
  private workers: Promise<unknown> | undefined;
  private readonly members: MemberClient;
  private readonly o: OperatorOptions;

  constructor(o: OperatorOptions) {
    this.o = o;
    this.members = o.members ?? httpMemberClient();
    const { kc, log } = o;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    const onProblem = (what: string, err?: unknown) =>
      log.warn({ err: err instanceof Error ? err.message : err }, what);
    const resyncMs = o.resyncMs ?? 5 * 60_000;
    const crList = (plural: string) => async () =>
      (await custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural,
      })) as KubernetesListObject<never>;
    const enqueueOwner = (obj: KubernetesObject) => {
      const l = obj.metadata?.labels ?? {};
      const name = l[LABEL.vat];
      if (!name) return;
      const key = keyOf(obj.metadata!.namespace!, name);
      if (l[LABEL.kind] === 'Vat') this.vatQueue.add(key);
      if (l[LABEL.kind] === 'QuorumVat') this.quorumVatQueue.add(key);
    };
    const selector = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
    this.caches = {
      vats: new ResilientInformer<Named<Vat>>(kc, {
        path: `/apis/${GROUP}/${VERSION}/vats`,
        list: crList('vats'),
        onChange: (v) => this.vatQueue.add(keyOf(v.metadata.namespace!, v.metadata.name)),
        onProblem,
        resyncMs,
      }),
      quorumVats: new ResilientInformer<Named<QuorumVat>>(kc, {
        path: `/apis/${GROUP}/${VERSION}/quorumvats`,
        list: crList('quorumvats'),
        onChange: (q) => this.quorumVatQueue.add(keyOf(q.metadata.namespace!, q.metadata.name)),
        onProblem,
        resyncMs,
      }),
      statefulSets: new ResilientInformer<V1StatefulSet>(kc, {
        path: '/apis/apps/v1/statefulsets',
        list: () => apps.listStatefulSetForAllNamespaces({ labelSelector: selector }),
        labelSelector: selector,
        onChange: enqueueOwner,
        onProblem,
        resyncMs,
      }),
      pods: new ResilientInformer<V1Pod>(kc, {
        path: '/api/v1/pods',
        list: () => core.listPodForAllNamespaces({ labelSelector: LABEL.vat }),
        labelSelector: LABEL.vat,
        onChange: enqueueOwner,
        onProblem,
        resyncMs,
      }),
    };
    this.ctx = {
      kc,
      api: new OperatorApi(kc),
      caches: this.caches,
      settings: o.settings,
      log,
      agentSource: readFileSync(new URL('./agent/publish-sturdyref.mjs', import.meta.url), 'utf8'),
      identity: (ip) => fetchIdentity(ip),
    };
  }

  /** Fills the caches, then starts the workers. */
  async start(): Promise<void> {
    const all = Object.values(this.caches) as ResilientInformer<KubernetesObject>[];
    await Promise.all(all.map((i) => i.start()));
    await Promise.all(all.map((i) => i.synced));
    const onError =
      (kind: string) => (key: string, err: unknown, retryInMs: number, failures: number) => {
        // One line per failure streak, not one per retry.
        if (failures === 1) {
          // The API server's own message and code: one short line, not the HTTP dump.
          this.o.log.warn(
            { [kind]: key, code: statusCode(err), err: apiMessage(err), retryInMs },
            'reconcile failed; retrying with backoff',
          );
        }
      };
    // A resource (or its namespace) deleted while it was reconciled: nothing left to do.
    const untilGone =
      (reconcile: (key: string) => Promise<ReconcileResult>) =>
      async (key: string): Promise<ReconcileResult> => {
        try {
          return await reconcile(key);
        } catch (err) {
          if (isGone(err)) return undefined;
          throw err;
        }
      };
    const n = this.o.workers ?? 4;
    this.workers = Promise.all([
      runWorkers(
        this.vatQueue,
        n,
        untilGone((key) => reconcileVat(this.ctx, key)),
        onError('vat'),
      ),
      runWorkers(
        this.quorumVatQueue,
        n,
        untilGone((key) => reconcileQuorumVat(this.ctx, this.members, key)),
        onError('quorumvat'),
      ),
    ]);
    this.o.log.info(
      { vats: this.caches.vats.list().length, quorumVats: this.caches.quorumVats.list().length },
      'operator started',
    );
  }

  /** Stops taking work, lets running reconciles finish (bounded), stops the informers. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.vatQueue.shutDown();
    this.quorumVatQueue.shutDown();
    await Promise.race([this.workers, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await Promise.all(Object.values(this.caches).map((i) => i.stop()));
  }
}
