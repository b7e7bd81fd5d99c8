/**
 * What the kernel's parts share (in the style of SwingSet's kernel handlers, which take the
 * collaborators they need): the tables (keeper), the c-list translation, promise retirement,
 * the heap tracker, the store, and the parts themselves, wired once by the facade (kernel.ts).
 */
import type { VatId } from '../protocol/identity.ts';
import type { KernelDB } from '../store/kernel-db.ts';
import type { Transport } from '../transport/types.ts';
import type { Cranks } from './cranks.ts';
import type { Departures } from './departures.ts';
import type { Embargoes } from './embargoes.ts';
import { isHint, MAX_HINTS } from './handoff.ts';
import type { Handoffs } from './handoffs.ts';
import { HeapTracker } from './heap.ts';
import type { HostApi } from './host.ts';
import type { Inbound } from './inbound.ts';
import type { KernelKeeper } from './keeper.ts';
import type { WorkerLifecycle } from './lifecycle.ts';
import type { KernelOptions, KernelUnavailable } from './options.ts';
import type { CommitPort } from './port.ts';
import type { PromiseRetirement } from './retirement.ts';
import type { Router } from './routing.ts';
import type { Transcript } from './transcript.ts';
import type { CListTranslator } from './translation.ts';

export class KernelContext {
  readonly vatId: VatId;
  readonly options: KernelOptions;
  readonly transport: Transport;
  readonly db: KernelDB | null;
  /** Every kernel table, and the commit of its changes. */
  readonly keeper: KernelKeeper;
  readonly transcript: Transcript;
  /** What keeps the worker's heap from being discarded. */
  readonly heap = new HeapTracker();
  /** Counters for tests and metrics (deliveries: messages delivered to the vat). */
  readonly stats = {
    cranks: 0,
    failedCranks: 0,
    workerRestarts: 0,
    checkpoints: 0,
    deliveries: 0,
    gasUsed: 0,
    /** Cranks run again to rebuild a heap at start (restoreHeapByReplay), and how long it took. */
    replayedCranks: 0,
    replayMs: 0,
  };
  /** The store failed: no new work. */
  broken: KernelUnavailable | null = null;
  closed = false;

  // Wired by the facade right after construction.
  retirement!: PromiseRetirement;
  /** C-list translation between our vrefs and each peer's wire refs. */
  clists!: CListTranslator;
  port!: CommitPort;
  host!: HostApi;
  lifecycle!: WorkerLifecycle;
  inbound!: Inbound;
  handoffs!: Handoffs;
  embargoes!: Embargoes;
  router!: Router;
  cranks!: Cranks;
  departures!: Departures;

  constructor(
    options: KernelOptions,
    transport: Transport,
    db: KernelDB | null,
    keeper: KernelKeeper,
    transcript: Transcript,
  ) {
    this.vatId = options.vatId;
    this.options = options;
    this.transport = transport;
    this.db = db;
    this.keeper = keeper;
    this.transcript = transcript;
  }

  /**
   * Address hints for `peer` (a sturdyref's, a handoff certificate's): the transport dials
   * them, and handoff certificates for `peer`'s objects carry them on (handoff.ts).
   */
  learnAddresses(peer: VatId, addrs: readonly string[]): void {
    if (addrs.length === 0) return;
    this.transport.addHints?.(peer, addrs);
    const valid = addrs.filter(isHint);
    if (valid.length > 0 && this.keeper.learnAddresses(peer, valid, MAX_HINTS)) {
      this.port.scheduleCommit();
    }
  }
}
