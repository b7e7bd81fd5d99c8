// The operator's writes: server-side apply with one field manager for everything it owns,
// status only through the /status subresource, and Events a user sees in `kubectl describe`.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

export const FIELD_MANAGER = 'quorumvat-operator';

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The API server's own message for a failed request (e.g. a CEL rule's message). */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const msg = (body as { message?: string } | undefined)?.message;
    if (msg) return msg;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The object, or its namespace, is going away: a reconcile that hit this has nothing left to do
 * (404 on an object deleted meanwhile; 403 NamespaceTerminating when creating in a namespace
 * being deleted). Not a failure to retry and log.
 */
export function isGone(err: unknown): boolean {
  const code = statusCode(err);
  if (code === 404) return true;
  if (code !== 403) return false;
  const body = err instanceof ApiException && typeof err.body === 'string' ? err.body : '';
  return body.includes('NamespaceTerminating') || /is being terminated/.test(apiMessage(err));
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s };
  }
}

/** Retries fn on 409 Conflict (and 429/5xx) a few times with a short growing pause. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = statusCode(err);
      const retriable = code === 409 || code === 429 || (code !== undefined && code >= 500);
      if (!retriable || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** i));
    }
  }
}

export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export class OperatorApi {
  readonly objects: KubernetesObjectApi;
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  private readonly component: string;

  constructor(kc: KubeConfig, component = 'quorumvat-operator') {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.component = component;
  }

  /** Server-side apply: the object says every field the operator owns; others are left alone. */
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.objects.patch(
      obj,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  /** Applies `status` through the /status subresource (the spec is never written). */
  applyStatus(ref: ResourceRef, status: Record<string, unknown>): Promise<unknown> {
    return retryOnConflict(() =>
      this.custom.patchNamespacedCustomObjectStatus(
        {
          group: ref.group,
          version: ref.version,
          namespace: ref.namespace,
          plural: ref.plural,
          name: ref.name,
          body: {
            apiVersion: `${ref.group}/${ref.version}`,
            kind: ref.kind,
            metadata: { name: ref.name, namespace: ref.namespace },
            status,
          },
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
  }

  /**
   * Sets one condition of a pod's status (a readiness gate's) by server-side apply on
   * /status: the kubelet keeps owning its own conditions, the operator owns only this one.
   */
  applyPodCondition(
    namespace: string,
    name: string,
    condition: { type: string; status: 'True' | 'False'; reason: string; message: string },
  ): Promise<unknown> {
    return retryOnConflict(() =>
      this.core.patchNamespacedPodStatus(
        {
          name,
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name, namespace },
            status: {
              conditions: [{ ...condition, lastTransitionTime: new Date().toISOString() }],
            },
          },
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
  }

  /** Records an Event on the resource (best effort: a failed Event never fails a reconcile). */
  async event(
    ref: ResourceRef,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace: ref.namespace,
        body: {
          metadata: { generateName: `${ref.name}.`, namespace: ref.namespace },
          involvedObject: {
            apiVersion: `${ref.group}/${ref.version}`,
            kind: ref.kind,
            name: ref.name,
            namespace: ref.namespace,
            ...(ref.uid ? { uid: ref.uid } : {}),
          },
          type,
          reason,
          message,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: this.component },
          reportingComponent: this.component,
        },
      });
    } catch {
      // Events are advice; the condition in status carries the same news.
    }
  }
}
