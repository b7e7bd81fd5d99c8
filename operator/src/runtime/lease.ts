// Lease-based leader election (coordination.k8s.io/v1), as client-go's: one holder at a time;
// a lease counts as expired only when this process has seen it unchanged for its whole duration
// (its own clock, never the other holder's timestamps, so clock skew cannot split the brain).
// Every write carries the resourceVersion it read: of two candidates racing for an expired
// lease, the API server lets exactly one through (the other gets 409).
import {
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';
import { statusCode } from './api.ts';
import { type Clock, realClock } from './clock.ts';

export interface LeaseRecord {
  holder: string;
  durationS: number;
  transitions: number;
}

export interface Observation {
  record: LeaseRecord;
  resourceVersion: string;
  /** When this process last saw the record change. */
  seenAt: number;
}

/** What to do about a lease as read now: pure, unit tested. */
export function decide(
  me: string,
  current: LeaseRecord | undefined,
  observed: Observation | undefined,
  now: number,
): 'create' | 'renew' | 'take' | 'wait' {
  if (!current) return 'create';
  if (current.holder === me) return 'renew';
  if (!current.holder) return 'take'; // released
  if (!observed) return 'wait';
  return now - observed.seenAt >= current.durationS * 1000 ? 'take' : 'wait';
}

/**
 * The holder's Pod as the Lease's owner: when that pod is deleted, the garbage collector deletes
 * the Lease. A holder releases its Lease on SIGTERM, but `helm uninstall` deletes the operator's
 * Role in the same breath as its Deployment, so by the time the pod gets SIGTERM it may no
 * longer read or write Leases (403): the Lease then stayed held, by a pod that no longer exists,
 * until someone deleted it (and a new install waited out a full term first). Owned by the pod,
 * it goes with the pod however the pod ends. Not a blocking owner (no rights on pods needed).
 */
export interface LeaseOwner {
  podName: string;
  podUid: string;
}

export function leaseOwnerReferences(owner: LeaseOwner | undefined) {
  return owner
    ? [{ apiVersion: 'v1', kind: 'Pod', name: owner.podName, uid: owner.podUid, controller: false }]
    : undefined;
}

export interface ElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  /** This process's Pod (in the Lease's namespace): the Lease is owned by its holder's pod. */
  owner?: LeaseOwner;
  leaseDurationS?: number;
  /** How often to try to acquire or renew. */
  retryMs?: number;
  /** A leader that could not renew for this long steps down (must be < the lease duration). */
  renewDeadlineMs?: number;
  clock?: Clock;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onProblem?: (what: string, err?: unknown) => void;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Omit<ElectorOptions, 'onProblem' | 'owner'>> &
    Pick<ElectorOptions, 'onProblem' | 'owner'>;
  private observed: Observation | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(kc: KubeConfig, opts: ElectorOptions) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.o = {
      leaseDurationS: 15,
      retryMs: 2000,
      renewDeadlineMs: 10_000,
      clock: realClock,
      ...opts,
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops trying; a leader releases the lease so another replica takes over at once
   * (`release: false` leaves it to expire, as a crashed process would).
   */
  async stop({ release = true } = {}): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      if (release) {
        await this.release().catch((err) => this.o.onProblem?.('could not release the lease', err));
      }
      this.o.onStoppedLeading();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.onProblem?.(`lease ${this.o.namespace}/${this.o.name}: ${String(err)}`, err);
      }
      const now = this.o.clock.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.o.onStartedLeading();
        }
      } else if (this.leading && now - this.lastRenew >= this.o.renewDeadlineMs) {
        this.leading = false;
        this.o.onStoppedLeading();
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = this.o.clock.after(this.o.retryMs, resolve);
        this.wake = () => {
          t.cancel();
          resolve();
        };
      });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const now = this.o.clock.now();
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const current = lease ? toRecord(lease) : undefined;
    const rv = lease?.metadata?.resourceVersion ?? '';
    if (current && (!this.observed || this.observed.resourceVersion !== rv)) {
      this.observed = { record: current, resourceVersion: rv, seenAt: now };
    }
    const action = decide(identity, current, this.observed, now);
    if (action === 'wait') return false;
    const time = new V1MicroTime(now);
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.o.leaseDurationS,
      renewTime: time,
      acquireTime: action === 'renew' ? lease?.spec?.acquireTime : time,
      leaseTransitions:
        (current?.transitions ?? 0) + (action === 'take' && current?.holder !== identity ? 1 : 0),
    };
    const ownerReferences = leaseOwnerReferences(this.o.owner);
    const metadata = { name, namespace, ...(ownerReferences ? { ownerReferences } : {}) };
    try {
      if (action === 'create') {
        await this.api.createNamespacedLease({ namespace, body: { metadata, spec } });
      } else {
        await this.api.replaceNamespacedLease({
          namespace,
          name,
          body: { metadata: { ...metadata, resourceVersion: rv }, spec },
        });
      }
    } catch (err) {
      const code = statusCode(err);
      if (code === 409) return false; // another replica wrote first
      throw err;
    }
    return true;
  }

  private async release(): Promise<void> {
    const { namespace, name } = this.o;
    const lease = await this.api.readNamespacedLease({ namespace, name });
    if (lease.spec?.holderIdentity !== this.o.identity) return;
    await this.api.replaceNamespacedLease({
      namespace,
      name,
      body: {
        metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion ?? '' },
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 },
      },
    });
  }
}

function toRecord(lease: V1Lease): LeaseRecord {
  return {
    holder: lease.spec?.holderIdentity ?? '',
    durationS: lease.spec?.leaseDurationSeconds ?? 15,
    transitions: lease.spec?.leaseTransitions ?? 0,
  };
}
