/**
 * Drives one real vat worker process (VatWorker) without a kernel: for tests that need what a
 * kernel does not report, such as the gas a crank used.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { VatWorker, type WorkerLimits } from '../../vat-node/src/kernel/vat-worker.ts';
import type { CrankOutcome } from '../../vat-node/src/liveslots/protocol.ts';
import type { CapData } from '../../vat-node/src/protocol/messages.ts';

export interface Called {
  readonly outcome: CrankOutcome;
  /** The result, decoded when it is plain data (strings, numbers, arrays of them). */
  readonly value?: unknown;
  readonly rejected?: boolean;
}

export class TestWorker {
  #next = 1;
  readonly worker: VatWorker;
  private constructor(worker: VatWorker) {
    this.worker = worker;
  }

  static async start(
    contractSource: string,
    gasLimit: number,
    limits?: WorkerLimits,
  ): Promise<TestWorker> {
    const worker = await VatWorker.start({ vatName: 'T', contractSource, gasLimit }, [], limits);
    const started = await worker.crank({ type: 'startVat' });
    if (!started.ok) {
      await worker.terminate();
      throw Error(`startVat failed: ${started.error}`);
    }
    return new TestWorker(worker);
  }

  /** Sends `method(...args)` to the root object; one crank. */
  async call(method: string, ...args: unknown[]): Promise<Called> {
    const result = `p-${this.#next++}`;
    const outcome = await this.worker.crank({
      type: 'message',
      target: 'o+0',
      method,
      args: { body: `#${JSON.stringify(args)}`, slots: [] },
      result,
    });
    if (!outcome.ok) return { outcome };
    for (const sc of outcome.syscalls) {
      if (sc.type !== 'resolve') continue;
      for (const [vref, rejected, data] of sc.resolutions) {
        if (vref === result) return { outcome, rejected, value: decode(data) };
      }
    }
    return { outcome };
  }

  close(): Promise<void> {
    return this.worker.terminate();
  }
}

function decode(data: CapData): unknown {
  return data.body.startsWith('#') ? JSON.parse(data.body.slice(1)) : data.body;
}

/**
 * Watches the resident size of this process's child processes (the vat workers), from the
 * test's side, independently of the kernel's own sampling. Linux only (procfs).
 */
export function watchChildRss(everyMs = 5): { stop(): number } {
  let maxKb = 0;
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'latin1');
        if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
        maxKb = Math.max(maxKb, Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0));
      } catch {
        // exited meanwhile
      }
    }
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return Math.round(maxKb / 1024);
    },
  };
}
