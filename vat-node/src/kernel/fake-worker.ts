/**
 * An in-process stand-in for a vat worker, for unit tests of kernel logic only (routing,
 * embargoes, handoff holds, retirement): no child process, no SES, no contract. A FakeVat
 * says what each delivery does (the syscalls it makes); every delivery run is recorded.
 * Production code never uses it (KernelOptions.worker defaults to VatWorker.spawn).
 */
import type { CrankOutcome, Delivery, Syscall } from '../liveslots/protocol.ts';
import type { VatWorkerHandle, WorkerFactory } from './vat-worker.ts';

/** What the vat does for one delivery: its syscalls, or a failed crank. */
export type FakeVat = (delivery: Delivery) => Syscall[] | { readonly fail: string };

export class FakeWorker implements VatWorkerHandle {
  dead = false;
  /** Every delivery this worker ran, in order (startVat included). */
  readonly deliveries: Delivery[] = [];
  readonly #vat: FakeVat;

  constructor(vat: FakeVat) {
    this.#vat = vat;
  }

  async init(): Promise<void> {
    if (this.dead) throw Error('fake worker is dead');
  }

  async cranks(
    deliveries: readonly Delivery[],
    onOutcome: (index: number, outcome: CrankOutcome) => void,
  ): Promise<void> {
    for (const [i, d] of deliveries.entries()) {
      await Promise.resolve(); // a worker answers asynchronously
      this.deliveries.push(d);
      const r = d.type === 'startVat' ? [] : this.#vat(d);
      const outcome: CrankOutcome =
        'fail' in r
          ? { ok: false, error: r.fail, gas: 0 }
          : { ok: true, syscalls: r, writes: [], gas: 0 };
      onOutcome(i, outcome);
      if (!outcome.ok) return;
    }
  }

  async terminate(): Promise<void> {
    this.dead = true;
  }
}

/** A factory of fake workers running `vat`; `workers` lists every worker it made. */
export function fakeWorkers(vat: FakeVat): {
  readonly factory: WorkerFactory;
  readonly workers: FakeWorker[];
  /** Every delivery of every worker, in order. */
  deliveries(): Delivery[];
} {
  const workers: FakeWorker[] = [];
  return {
    factory: () => {
      const w = new FakeWorker(vat);
      workers.push(w);
      return w;
    },
    workers,
    deliveries: () => workers.flatMap((w) => w.deliveries),
  };
}
