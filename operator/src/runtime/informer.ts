// A watched, cached view of one resource kind that keeps running. client-node's informer relists
// on 410 but STOPS on any other error (a failed list, a refused watch, a reset connection) and
// says so only through its 'error' callback; a half-open connection can also leave it silent.
// This wrapper restarts it after every stop (capped exponential backoff), restarts it when it
// has shown no sign of life for `stallMs` (client-node reconnects a quiet watch every ~30 s, each
// reconnect emits 'connect'), and calls `resync` for every cached object every `resyncMs` so
// reconciles stay level-triggered even if an event was lost.
import {
  ADD,
  CONNECT,
  DELETE,
  ERROR,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
  UPDATE,
} from '@kubernetes/client-node';
import { type Clock, realClock, type Timer } from './clock.ts';

export type InformerLike<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface WatchOptions<T extends KubernetesObject> {
  /** What the watch sees: a path such as /apis/quorumvat.dev/v1alpha1/vats. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Called for every add, update and delete, and for every cached object at each resync. */
  onChange: (obj: T, why: 'add' | 'update' | 'delete' | 'resync') => void;
  /** Told once per failure streak, and when the informer recovers. */
  onProblem?: (what: string, err?: unknown) => void;
  clock?: Clock;
  restartBaseMs?: number;
  restartMaxMs?: number;
  stallMs?: number;
  resyncMs?: number;
  /** For tests: how to make the underlying informer. */
  make?: () => InformerLike<T>;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly clock: Clock;
  private informer: InformerLike<T>;
  private stopped = false;
  /** Failures in the current streak (reset by a successful start). */
  private failures = 0;
  private errors = 0;
  private lastSign = 0;
  private restartTimer: Timer | undefined;
  private restartPending = false;
  private watchdog: Timer | undefined;
  private resyncTimer: Timer | undefined;
  /** Times the underlying informer was started (for tests and metrics). */
  starts = 0;
  private syncedResolve!: () => void;
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));

  private readonly opts: WatchOptions<T>;

  constructor(kc: KubeConfig | undefined, opts: WatchOptions<T>) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    const make =
      opts.make ?? (() => makeInformer<T>(kc!, opts.path, opts.list, opts.labelSelector));
    this.informer = make();
    this.informer.on(ADD, (o) => this.sign(o, 'add'));
    this.informer.on(UPDATE, (o) => this.sign(o, 'update'));
    this.informer.on(DELETE, (o) => this.sign(o, 'delete'));
    this.informer.on(CONNECT, () => this.sign());
    this.informer.on(ERROR, (err) => this.stoppedWith(err));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.lastSign = this.clock.now();
    this.scheduleWatchdog();
    this.scheduleResync();
    await this.startInformer();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.cancel();
    this.watchdog?.cancel();
    this.resyncTimer?.cancel();
    await this.informer.stop();
  }

  private async startInformer(): Promise<void> {
    this.starts++;
    const errorsBefore = this.errors;
    try {
      // Resolves once the list is cached and the watch is open, or after a failure (then the
      // error callback has already scheduled a restart).
      await this.informer.start();
    } catch (err) {
      this.stoppedWith(err);
    }
    if (this.errors !== errorsBefore || this.stopped) return;
    if (this.failures > 0) {
      this.opts.onProblem?.(
        `watch of ${this.opts.path} recovered after ${this.failures} failure(s)`,
      );
      this.failures = 0;
    }
    this.syncedResolve();
  }

  private sign(obj?: T, why?: 'add' | 'update' | 'delete'): void {
    this.lastSign = this.clock.now();
    if (obj && why) this.opts.onChange(obj, why);
  }

  private stoppedWith(err: unknown): void {
    if (this.stopped) return; // stop() makes the informer report an abort: not a failure
    this.errors++;
    this.failures++;
    if (this.failures === 1) this.opts.onProblem?.(`watch of ${this.opts.path} stopped`, err);
    const base = this.opts.restartBaseMs ?? 1000;
    const delay = Math.min(
      this.opts.restartMaxMs ?? 30_000,
      base * 2 ** Math.min(this.failures - 1, 20),
    );
    this.restartTimer?.cancel();
    this.restartPending = true;
    this.restartTimer = this.clock.after(delay, () => {
      this.restartPending = false;
      if (this.stopped) return;
      void this.restart();
    });
  }

  private async restart(): Promise<void> {
    await this.informer.stop().catch(() => {});
    if (this.stopped) return;
    this.lastSign = this.clock.now();
    await this.startInformer();
  }

  private scheduleWatchdog(): void {
    const stallMs = this.opts.stallMs ?? 120_000;
    this.watchdog = this.clock.after(Math.max(1, stallMs / 4), () => {
      if (this.stopped) return;
      if (this.clock.now() - this.lastSign >= stallMs && !this.restartPending) {
        this.opts.onProblem?.(`watch of ${this.opts.path} silent for ${stallMs} ms: restarting`);
        this.lastSign = this.clock.now();
        void this.restart();
      }
      this.scheduleWatchdog();
    });
  }

  private scheduleResync(): void {
    const resyncMs = this.opts.resyncMs ?? 5 * 60_000;
    this.resyncTimer = this.clock.after(resyncMs, () => {
      if (this.stopped) return;
      for (const obj of this.informer.list()) this.opts.onChange(obj, 'resync');
      this.scheduleResync();
    });
  }
}
