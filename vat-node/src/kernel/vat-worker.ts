/**
 * The kernel's handle on one vat worker, with the hard backstops that metering cannot give:
 * a heap limit (an allocation bomb kills the worker, not the host), a cap on the worker
 * process's resident memory, and a wall-clock limit per crank (a builtin that loops without
 * calling contract code cannot be metered). Any one ends the crank as failed; the kernel then
 * discards the worker and starts a new one from the vat's committed state.
 *
 * The worker is a child process, not a worker thread: V8 aborts the whole process when one
 * huge allocation (new Array(2 ** 27).fill(0)) hits a worker thread's heap limit, so only a
 * process boundary contains it.
 *
 * Why the heap limit alone does not bound a vat's memory (measured, Node 24, in a worker with
 * --max-old-space-size=96): ArrayBuffer and typed array contents live outside the V8 heap
 * (`new Uint8Array(2 ** 30).fill(1)` succeeds, 1 GiB resident); 'x'.repeat(2 ** 28),
 * padStart and the join of a holey array build ropes of a few nodes (256 MiB long, a few
 * bytes resident), and flattening one (indexOf) puts the flat copy in V8's young
 * large-object space, whose first object is granted whatever its size (265 MiB used against
 * a 144 MiB limit; the next GC that promotes it then dies). So the kernel also samples the
 * worker's resident set size (/proc/PID/status, Linux) every RSS_SAMPLE_MS while the worker
 * runs contract code, and kills it above `rssMb`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type {
  CrankOutcome,
  Delivery,
  KernelToWorker,
  VatOptions,
  WorkerToKernel,
} from '../liveslots/protocol.ts';

/** What one vat worker may use; a field left out takes its value from DEFAULT_LIMITS. */
export interface WorkerLimits {
  /** Heap of the worker (V8 old generation), MiB. */
  readonly heapMb?: number;
  /**
   * Resident memory of the worker process, MiB: the heap, flat strings, ArrayBuffers, code.
   * Must exceed `heapMb` (the heap is part of it). A pod running a vat node needs this plus
   * the node process itself (about 150 MiB).
   */
  readonly rssMb?: number;
  /** Wall-clock time one crank may take, ms. */
  readonly crankTimeoutMs?: number;
}

/** The one source of the limits' defaults (a fresh worker is about 70 MiB resident). */
export const DEFAULT_LIMITS: Required<WorkerLimits> = {
  heapMb: 256,
  rssMb: 512,
  crankTimeoutMs: 5_000,
};

/**
 * Is this the reason of a crank the worker handle failed itself (wall clock, memory cap, heap
 * limit, a dead or terminated worker)? Those depend on the machine and the moment, not on the
 * delivery: another run of the same crank, on another machine or later, may well finish it.
 * Gas is metered inside the worker, deterministically, and is not one of them.
 */
export function isBackstopAbort(error: string): boolean {
  return BACKSTOP_ABORT.test(error);
}

const BACKSTOP_ABORT =
  /^(vat exceeded its (time|memory) limit|vat worker (failed|exited)|terminated$|unexpected )/;

/** How often the kernel reads a busy worker's resident size. */
export const RSS_SAMPLE_MS = 10;

/**
 * Refuses options that would turn a backstop off: a gas limit of NaN never runs out
 * (`used > NaN` is false), 0 or -1 stops every crank, 1.5 or Infinity is no limit a quorum can
 * agree on. Throws a RangeError naming the option.
 */
export function checkVatLimits(options: { gasLimit: unknown; limits?: WorkerLimits }): void {
  positiveInteger('gasLimit', options.gasLimit);
  resolveLimits(options.limits);
}

/** The limits with defaults filled in, each checked. */
export function resolveLimits(limits: WorkerLimits = {}): Required<WorkerLimits> {
  const all: Record<string, unknown> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(limits)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) {
      throw RangeError(`limits.${name} is not a limit (${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    }
    if (value !== undefined) all[name] = value;
  }
  for (const [name, value] of Object.entries(all)) positiveInteger(`limits.${name}`, value);
  const checked = all as Required<WorkerLimits>;
  if (checked.rssMb <= checked.heapMb) {
    throw RangeError(
      `limits.rssMb (${checked.rssMb}) must exceed limits.heapMb (${checked.heapMb}): the heap is part of the resident memory`,
    );
  }
  return checked;
}

function positiveInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    const got = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw RangeError(`${name} must be a positive integer (got ${got})`);
  }
}

const procfs = existsSync('/proc/self/status');

/** Resident set size of a process, KiB; undefined when unknown (no procfs, or it exited). */
function residentKb(pid: number | undefined): number | undefined {
  if (!procfs || pid === undefined) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** What the kernel needs of a vat worker (VatWorker; tests may give an in-process fake). */
export interface VatWorkerHandle {
  /** The worker can run no more cranks (it died, ran away, or was terminated). */
  readonly dead: boolean;
  /** Load the contract with the vat's committed store (once per worker, or again to refresh). */
  init(options: VatOptions, store: readonly (readonly [string, string])[]): Promise<void>;
  /** Consecutive cranks; stops after the first failed one (see VatWorker.cranks). */
  cranks(
    deliveries: readonly Delivery[],
    onOutcome: (index: number, outcome: CrankOutcome) => void,
  ): Promise<void>;
  terminate(): Promise<void>;
}

/** One crank on any worker, through its `cranks` (which never throws). */
export async function crankOne(
  worker: Pick<VatWorkerHandle, 'cranks'>,
  delivery: Delivery,
): Promise<CrankOutcome> {
  let outcome: CrankOutcome | undefined;
  await worker.cranks([delivery], (_i, o) => {
    outcome = o;
  });
  return outcome!;
}

/** Makes a worker without a contract yet (KernelOptions.worker; default VatWorker.spawn). */
export type WorkerFactory = (limits: WorkerLimits) => VatWorkerHandle;

const workerPath = new URL('../liveslots/worker.ts', import.meta.url).pathname;

export class VatWorker implements VatWorkerHandle {
  readonly #worker: ChildProcess;
  readonly #limits: Required<WorkerLimits>;
  #pending: ((m: WorkerToKernel) => void) | null = null;
  /** The handler of the batch in progress (re-armed after each outcome). */
  #pendingHandler: ((m: WorkerToKernel) => void) | null = null;
  #dead: string | null = null;

  /** Largest resident size seen while the worker ran contract code, KiB (0 without procfs). */
  #peakRssKb = 0;
  #sampledAt = Number.NEGATIVE_INFINITY;

  private constructor(limits: WorkerLimits) {
    this.#limits = resolveLimits(limits);
    this.#worker = fork(workerPath, [], {
      execArgv: [
        `--max-old-space-size=${this.#limits.heapMb}`,
        `--max-semi-space-size=${Math.min(16, this.#limits.heapMb)}`,
        '--stack-size=984',
        '--disable-warning=ExperimentalWarning',
      ],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    this.#worker.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    this.#worker.on('message', (m: WorkerToKernel) => {
      const p = this.#pending;
      this.#pending = null;
      p?.(m);
    });
    this.#worker.on('error', (e: NodeJS.ErrnoException) => {
      // A send to a worker that is dying fails (EPIPE) before its exit is seen: the exit says
      // why it died, so wait for it (the kill makes sure it comes).
      if (this.#worker.pid !== undefined && IPC_CLOSED.has(e.code ?? '')) {
        this.#worker.kill('SIGKILL');
        return;
      }
      this.#fail(`vat worker failed: ${e.message}`);
    });
    this.#worker.on('exit', (code, signal) => {
      this.#fail(
        /heap limit|heap out of memory/i.test(stderr)
          ? `vat exceeded its memory limit (${this.#limits.heapMb} MiB heap)`
          : `vat worker exited (${signal ?? `code ${code}`})${stderr ? `: ${lastLine(stderr)}` : ''}`,
      );
    });
  }

  /** Start a worker and load the contract with the vat's committed store. */
  static async start(
    options: VatOptions,
    store: readonly (readonly [string, string])[],
    limits: WorkerLimits = DEFAULT_LIMITS,
  ): Promise<VatWorker> {
    checkVatLimits({ gasLimit: options.gasLimit, limits });
    const w = new VatWorker(limits);
    await w.init(options, store);
    return w;
  }

  /**
   * A worker process without a contract yet: its start-up (Node, SES lockdown) runs now, so a
   * later `init` only loads the contract (a spare for a planned worker replacement).
   */
  static spawn(limits: WorkerLimits = DEFAULT_LIMITS): VatWorker {
    return new VatWorker(limits);
  }

  /** Load the contract with the vat's committed store (once per worker). */
  async init(options: VatOptions, store: readonly (readonly [string, string])[]): Promise<void> {
    try {
      checkVatLimits(options);
    } catch (e) {
      await this.terminate();
      throw e;
    }
    const reply = await this.#request(
      { type: 'init', options, store },
      this.#limits.crankTimeoutMs * 4,
    );
    if (reply.type !== 'ready') {
      await this.terminate();
      throw Error(reply.type === 'initFailed' ? reply.error : `unexpected ${reply.type}`);
    }
  }

  /** Run one crank. Never throws: a dead or runaway worker yields a failed outcome. */
  crank(delivery: Delivery): Promise<CrankOutcome> {
    return crankOne(this, delivery);
  }

  /**
   * Run deliveries as consecutive cranks; `onOutcome` gets each outcome in order as soon as the
   * worker reports it (so the kernel commits crank i while the worker runs crank i + 1). Stops
   * at the first failed crank, whose outcome is the last one reported. Never throws: a dead or
   * runaway worker yields a failed outcome for the crank it was running.
   */
  async cranks(
    deliveries: readonly Delivery[],
    onOutcome: (index: number, outcome: CrankOutcome) => void,
  ): Promise<void> {
    let next = 0;
    const failed = (error: string) => onOutcome(next, { ok: false, error, gas: 0 });
    if (this.#dead !== null) return failed(this.#dead);
    const unwatch = this.#watchMemory();
    await new Promise<void>((resolve) => {
      let disarm = () => {};
      const arm = () => {
        disarm();
        disarm = deadline(this.#limits.crankTimeoutMs, () => {
          this.#dead ??= `vat exceeded its time limit (${this.#limits.crankTimeoutMs} ms for one delivery)`;
          this.#pending = null;
          finish(this.#dead);
        });
      };
      const finish = (error: string | null) => {
        disarm();
        this.#pending = null;
        if (error !== null) failed(error);
        resolve();
      };
      this.#pending = (reply) => {
        if (reply.type !== 'crankDone') {
          finish(this.#dead ?? `unexpected ${reply.type}`);
          return;
        }
        onOutcome(next++, reply.outcome);
        if (!reply.outcome.ok || next === deliveries.length) finish(null);
        else {
          this.#pending = this.#pendingHandler;
          arm();
        }
      };
      this.#pendingHandler = this.#pending;
      arm();
      this.#worker.send({ type: 'cranks', deliveries });
    }).finally(unwatch);
    if (this.#dead !== null) await this.terminate();
  }

  /** Largest resident size seen while the worker ran contract code, MiB (0: not measured). */
  get peakRssMb(): number {
    return Math.round(this.#peakRssKb / 1024);
  }

  /** The worker's process id (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.#worker.pid;
  }

  get dead(): boolean {
    return this.#dead !== null;
  }

  async terminate(): Promise<void> {
    this.#dead ??= 'terminated';
    if (this.#worker.exitCode !== null || this.#worker.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#worker.once('exit', resolve));
    this.#worker.kill('SIGKILL');
    await exited;
  }

  /**
   * Samples the worker's resident size until the returned function is called, and kills the
   * worker (SIGKILL: it may be stuck in a builtin) once it is over the cap. Its exit then
   * fails whatever it was running with this reason.
   */
  #watchMemory(): () => void {
    const capKb = this.#limits.rssMb * 1024;
    const sample = () => {
      this.#sampledAt = performance.now();
      const kb = residentKb(this.#worker.pid);
      if (kb === undefined) return;
      if (kb > this.#peakRssKb) this.#peakRssKb = kb;
      if (kb > capKb && this.#dead === null) {
        this.#dead = `vat exceeded its memory limit (${this.#limits.rssMb} MiB resident)`;
        this.#worker.kill('SIGKILL');
      }
    };
    // Also at the start of a batch, so that quick cranks that each keep a little more memory
    // are seen; at most once per period, so that one-crank batches do not pay a read each.
    if (performance.now() - this.#sampledAt >= RSS_SAMPLE_MS) sample();
    const timer = setInterval(sample, RSS_SAMPLE_MS);
    return () => clearInterval(timer);
  }

  #fail(reason: string): void {
    if (this.#dead === null) this.#dead = reason;
    const p = this.#pending;
    this.#pending = null;
    p?.({ type: 'initFailed', error: this.#dead });
  }

  #request(m: KernelToWorker, timeoutMs: number): Promise<WorkerToKernel> {
    if (this.#dead !== null) return Promise.reject(Error(this.#dead));
    const unwatch = this.#watchMemory();
    return new Promise<WorkerToKernel>((resolve, reject) => {
      const disarm = deadline(timeoutMs, () => {
        this.#pending = null;
        this.#dead ??= `vat exceeded its time limit (${timeoutMs} ms for one delivery)`;
        reject(Error(this.#dead));
      });
      this.#pending = (reply) => {
        disarm();
        if (reply.type === 'initFailed' && this.#dead !== null) reject(Error(this.#dead));
        else resolve(reply);
      };
      this.#worker.send(m);
    }).finally(unwatch);
  }
}

/**
 * Calls `expired` after `ms` unless the returned function is called first. The decision waits
 * for the check phase (setImmediate), after the poll phase has read what the worker sent: when
 * this process did not run for a while (SIGSTOP, a paused VM, a long stall), the timer and the
 * worker's answer are due together, and timers run before I/O is read. Without this, a kernel
 * paused past the limit failed a crank its worker had long finished (and a quorum member then
 * treated itself as faulty). A runaway worker sends nothing, so it still times out.
 */
function deadline(ms: number, expired: () => void): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(expired);
  }, ms);
  return () => {
    clearTimeout(timer);
    if (immediate !== undefined) clearImmediate(immediate);
  };
}

/** Errors of a send on the IPC channel of a worker that has exited or is exiting. */
const IPC_CLOSED = new Set(['EPIPE', 'ECONNRESET', 'ERR_IPC_CHANNEL_CLOSED']);

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
