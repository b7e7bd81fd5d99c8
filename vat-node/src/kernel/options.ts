/** The kernel's options, its error for unavailable work, and constants its parts share. */
import type { EventSink } from '../events/events.ts';
import type { CrankOutcome, Delivery, VatOptions } from '../liveslots/protocol.ts';
import type { VatId, VatIdentity } from '../protocol/identity.ts';
import type { CheckpointPolicy, Synchronous } from '../store/kernel-db.ts';
import type { HandoffCerts } from './handoff.ts';
import type { WorkerFactory, WorkerLimits } from './vat-worker.ts';

export interface KernelOptions extends VatOptions {
  readonly vatId: VatId;
  /**
   * Signs three-party handoff certificates and checks other vats' (kernel/handoff.ts).
   * Without it, references to a third vat's objects are proxied through this vat.
   */
  readonly identity?: VatIdentity;
  /** How certificates are written and read, if not with `identity` alone (handoff.ts). */
  readonly handoffCerts?: HandoffCerts;
  readonly limits?: WorkerLimits;
  /**
   * Makes the vat's workers. Default: a child process each (VatWorker.spawn, with `limits`);
   * unit tests of kernel logic give an in-process fake (fake-worker.ts).
   */
  readonly worker?: WorkerFactory;
  /**
   * Where the kernel reports what an operator may need to know (events/events.ts): aborted
   * cranks, refused peer messages, undeliverable messages, store failures, waiting
   * checkpoints. The vat node turns them into log lines. Default: dropped.
   */
  readonly events?: EventSink;
  /**
   * The vat's data directory (created if new). The kernel commits every crank there and a
   * new Kernel.create on the same directory resumes the vat where the last commit left it.
   * Without it, the state lives in memory only.
   */
  readonly dataDir?: string;
  /** fsync policy of the store (store/kernel-db.ts). Default 'FULL'. */
  readonly synchronous?: Synchronous;
  /**
   * When to checkpoint (store/kernel-db.ts `shouldCheckpoint`). Checkpoints are taken when a
   * fresh worker starts; when the policy asks for one while the worker runs, `refreshWorker`
   * says when to replace it (a checkpoint needs a fresh worker):
   *   'quiescent' (default)  at the first moment nothing outside the vat store can be lost: no
   *                          pending promise held by the vat, no heap object exported, no
   *                          embargo. Heap-only variables of the contract start over, as at a
   *                          restart (they are not durable: README, durable state).
   *   'always'               at once, rejecting what was pending in the heap (as a crash would).
   *   'never'                only at restarts and failed cranks (the transcript grows meanwhile).
   */
  readonly checkpoint?: CheckpointPolicy & {
    readonly refreshWorker?: 'quiescent' | 'always' | 'never';
  };
  /** Called after each commit that wrote something, with how long it took (metrics). */
  readonly onCommit?: (ms: number) => void;
  /**
   * Called with each crank as it enters the transcript (before the commit that holds it): a
   * quorum member keeps its own hash of the ordered cranks (quorum/member/), written with
   * `setHostRecord` in the same commit. `entry`: the crank's transcript entry string
   * (store/chain.ts entryJson), when the kernel has it, so it is not built twice.
   */
  readonly onCrank?: (delivery: Delivery, outcome: CrankOutcome, entry?: string) => void;
  /**
   * Refuse every host-initiated call (call, grant, sturdyref minting and redeeming) with this
   * reason: a member of a quorum vat never acts alone; everything it does comes in through
   * the agreed order.
   */
  readonly refuseHost?: string;
  /**
   * Public keys (hex) of sturdyrefs that redeem to the root object, registered at the vat's
   * first start: how a quorum vat gets its first references without any member holding a
   * secret (quorum/sturdyref.ts, the genesis's sturdyKeys).
   */
  readonly bootstrapKeys?: readonly string[];
  /**
   * Commit only when the host says so (settle(), or a host call that hands something out), not
   * after each worker batch or inbound frame: a quorum member commits once per agreed batch, so
   * a crash never leaves half a batch behind (it runs again, whole, at the restart), and what
   * the kernel does at a commit (promise retirement, drop messages) happens at the same points
   * on every member, whatever the timing of its I/O.
   */
  readonly holdCommits?: boolean;
  /**
   * A restart rebuilds the worker's heap by replaying the transcript since the last checkpoint
   * (every crank checked against its stored entry: replay.ts rebuildHeap) instead of starting
   * a fresh worker and rejecting what the old heap was to settle: the vat goes on exactly as if
   * the process had not stopped. A quorum member needs it (the other members' vats did not
   * restart). Planned refreshes (`checkpoint`) are then decided from the vat's history alone, so
   * a replica that restarted refreshes at the same crank as one that did not. Needs `dataDir`
   * (and, to be the same as its replicas', `holdCommits`). A crank that does not come out as it
   * did makes `Kernel.create` reject (ReplayMismatch): the vat cannot go on as its replicas do.
   */
  readonly restoreHeapByReplay?: boolean;
  /**
   * A crank stopped by a backstop that depends on the machine rather than the vat (wall-clock
   * time, resident memory or heap limit, a dead worker: vat-worker.ts isBackstopAbort) is not
   * applied: the kernel refuses work from then on (KernelUnavailable with the reason; settle()
   * rejects with it) and commits nothing more, so a replica whose machine was slow never
   * commits an outcome the others did not. Also when a worker cannot start. A restart resumes
   * from the last commit. Gas stays an ordinary failed crank (it is deterministic).
   */
  readonly haltOnBackstop?: boolean;
  /**
   * How long what a departed client is owed waits for it to come back before the kernel
   * forgets it (departures.ts). Default DEPARTED_RETENTION_MS.
   */
  readonly departedRetentionMs?: number;
}

/** Host-initiated work on a kernel that refuses it (KernelOptions.refuseHost). */
export class HostRefused extends Error {
  override name = 'HostRefused';
}

/** The kernel cannot take work: its store failed, or it is closed. Not the peer's fault. */
export class KernelUnavailable extends Error {
  override name = 'KernelUnavailable';
}

/**
 * A graceful stop came in the middle of held work (holdCommits): nothing of it was committed,
 * and it runs again, whole, at the next start.
 */
export class KernelStopping extends Error {
  override name = 'KernelStopping';
}

export interface HostResult {
  readonly rejected: boolean;
  readonly value: unknown;
}

export interface HostWaiter {
  resolve(r: HostResult): void;
  reject(e: Error): void;
}

/**
 * A client that left while owed messages gets a day to come back (a `quorumvat send` that
 * lost its connection retries within seconds; one that is gone has a fresh identity next time).
 */
export const DEPARTED_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Deliveries sent to the worker in one trip (each still its own crank). */
export const MAX_BATCH = 64;
/** A checkpoint that waits this many times the policy's rows is reported (once). */
export const CHECKPOINT_WAIT_REPORT = 10;

/** Pseudo-senders for routing: never valid VatIds (those are libp2p PeerIds). */
export const FROM_VAT = '<vat>';
export const FROM_HOST = '<host>';
export const isPeer = (from: VatId | undefined): from is VatId =>
  from !== undefined && from !== FROM_VAT && from !== FROM_HOST;
