/**
 * Entry point of a vat worker process: one vat per worker, so that a memory blow-up or a
 * runaway builtin kills at most this vat (the kernel kills and restarts the worker).
 * Order matters: the locked-down realm (lockdown.ts) first, then everything else.
 */
import './lockdown.ts';

const { loadContract } = await import('../confinement/compartment.ts');
const { Liveslots } = await import('./liveslots.ts');
const { GasMeter } = await import('./meter.ts');
const { VatStore } = await import('./vatstore.ts');
type KernelToWorker = import('./protocol.ts').KernelToWorker;
type WorkerToKernel = import('./protocol.ts').WorkerToKernel;

if (!process.send) throw Error('vat worker must run as a child process with an IPC channel');
const send = process.send.bind(process);
const post = (m: WorkerToKernel) => send(m);
// The kernel going away (pipe closed) ends the worker.
process.on('disconnect', () => process.exit(0));

let liveslots: InstanceType<typeof Liveslots> | undefined;
let buildRootObject: ((powers: unknown) => unknown) | undefined;
// Batches arrive one at a time (the kernel waits for the last outcome); keep them serial anyway.
let queue: Promise<void> = Promise.resolve();

process.on('message', (m: KernelToWorker) => {
  queue = queue.then(() => handle(m));
});

async function handle(m: KernelToWorker): Promise<void> {
  if (m.type === 'init') {
    try {
      const meter = new GasMeter();
      const store = new VatStore(m.store);
      liveslots = new Liveslots(store, meter, m.options.gasLimit);
      meter.reset(m.options.gasLimit); // module top-level code is metered too
      const ns = loadContract(m.options.contractSource, meter.facade);
      if (meter.exhausted) throw meter.exhausted;
      buildRootObject = (powers: unknown) => ns.buildRootObject(powers);
      post({ type: 'ready' });
    } catch (e) {
      post({ type: 'initFailed', error: (e as Error).message });
    }
    return;
  }
  if (!liveslots || !buildRootObject) throw Error('crank before init');
  const build = buildRootObject;
  for (const delivery of m.deliveries) {
    const outcome = await liveslots.crank(delivery, () => build);
    post({ type: 'crankDone', outcome });
    if (!outcome.ok) return;
  }
}
