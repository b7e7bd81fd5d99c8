/**
 * Liveslots: the layer inside a vat worker between contract objects and the kernel.
 * It names every object and promise that crosses the vat boundary with a vref, marshals
 * arguments (@endo/marshal smallcaps), turns imports into presences that `E()` can send to
 * (HandledPromise handlers), and buffers the crank's syscalls for the kernel.
 *
 * Ordering: sends leave in the order the contract made them. Resolutions are buffered and
 * emitted after the crank's sends, so a peer never learns that a promise resolved to its own
 * object before the messages this vat forwarded to that object (the kernel's embargoes: README,
 * "Promise pipelining and E-order").
 */
import { HandledPromise } from '@endo/eventual-send';
import { makeMarshal } from '@endo/marshal';
import { Remotable } from '@endo/pass-style';
import type { CapData } from '../protocol/messages.ts';
import {
  isDurableRef,
  isExportRef,
  isImportRef,
  isPromiseRef,
  ROOT_VREF,
} from '../protocol/refs.ts';
import { DurableObjects } from './durable.ts';
import { type GasMeter, isStackOverflow } from './meter.ts';
import {
  type CrankOutcome,
  type Delivery,
  ECHO_METHOD,
  type Syscall,
  type VatResolution,
  type VRef,
} from './protocol.ts';
import type { VatStore } from './vatstore.ts';

interface PromiseKit {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

export type BuildRootObject = (powers: unknown) => unknown;

export class Liveslots {
  readonly #store: VatStore;
  readonly #meter: GasMeter;
  readonly #gasLimit: number;
  /** vref → value for everything this worker has seen (strong: no GC across the boundary yet). */
  readonly #slotToVal = new Map<VRef, unknown>();
  /** value → vref; a WeakMap never exposes iteration order, so it cannot leak nondeterminism. */
  readonly #valToSlot = new WeakMap<object, VRef>();
  /** Promises decided elsewhere, waiting for a notify. */
  readonly #pendingImports = new Map<VRef, PromiseKit>();
  readonly #durable: DurableObjects;
  #syscalls: Syscall[] = [];
  #resolutions: VatResolution[] = [];
  /** Messages without a result that this crank could not deliver, with the reason. */
  #undeliverable: string[] = [];
  readonly #marshal: {
    toCapData(value: unknown): CapData;
    fromCapData(data: CapData): unknown;
  };

  constructor(store: VatStore, meter: GasMeter, gasLimit: number) {
    this.#store = store;
    this.#meter = meter;
    this.#gasLimit = gasLimit;
    this.#marshal = makeMarshal(
      (val: unknown) => this.#valToSlotOrExport(val),
      (slot: string, iface: string | undefined) => this.#valForSlot(slot, iface),
      { serializeBodyFormat: 'smallcaps', errorTagging: 'off' },
    ) as unknown as Liveslots['marshalType'];
    this.#durable = new DurableObjects(store, {
      serialize: (v) => this.serialize(v),
      unserialize: (d) => this.unserialize(d),
      register: (vref, rep) => this.#register(vref, rep),
      lookup: (vref) => this.#slotToVal.get(vref),
    });
  }

  /** Powers handed to the contract's buildRootObject (durable state API). */
  get vatPowers(): unknown {
    return this.#durable.powers;
  }

  declare readonly marshalType: {
    toCapData(value: unknown): CapData;
    fromCapData(data: CapData): unknown;
  };

  serialize(value: unknown): CapData {
    return this.#marshal.toCapData(harden(value));
  }

  unserialize(data: CapData): unknown {
    return this.#marshal.fromCapData(data);
  }

  /**
   * Run one delivery to completion: dispatch it, let every promise reaction it caused run
   * (the vat has no timers or I/O, so the crank ends when the microtask queue drains), then
   * hand back the syscalls and store writes — unless the meter ran out.
   */
  async crank(delivery: Delivery, buildRootObject: () => BuildRootObject): Promise<CrankOutcome> {
    this.#syscalls = [];
    this.#resolutions = [];
    this.#undeliverable = [];
    this.#meter.reset(this.#gasLimit);
    try {
      this.#dispatch(delivery, buildRootObject);
    } catch (e) {
      this.#meter.poison(`delivery failed in liveslots: ${(e as Error).message}`);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#durable.flush();
    const gas = this.#meter.used;
    const exhausted = this.#meter.exhausted;
    if (exhausted) {
      this.#store.takeWrites();
      return { ok: false, error: exhausted.message, gas };
    }
    if (this.#resolutions.length > 0) {
      this.#syscalls.push({ type: 'resolve', resolutions: this.#resolutions });
    }
    const done = {
      ok: true as const,
      syscalls: this.#syscalls,
      writes: this.#store.takeWrites(),
      gas,
    };
    return this.#undeliverable.length > 0 ? { ...done, undeliverable: this.#undeliverable } : done;
  }

  #dispatch(delivery: Delivery, buildRootObject: () => BuildRootObject): void {
    switch (delivery.type) {
      case 'startVat': {
        const root = buildRootObject()(this.vatPowers);
        this.#register(ROOT_VREF, root);
        return;
      }
      case 'message':
        this.#deliver(delivery.target, delivery.method, delivery.args, delivery.result);
        return;
      case 'notify':
        for (const [vref, rejected, data] of delivery.resolutions) {
          const kit = this.#pendingImports.get(vref);
          if (!kit) continue; // a promise this worker no longer holds (e.g. after a restart)
          this.#pendingImports.delete(vref);
          const value = this.unserialize(data);
          if (rejected) kit.reject(value);
          else kit.resolve(value);
        }
        return;
      case 'retire':
        for (const vref of delivery.vrefs) {
          const val = this.#slotToVal.get(vref);
          this.#slotToVal.delete(vref);
          this.#pendingImports.delete(vref);
          if (val instanceof Promise) this.#valToSlot.delete(val);
        }
        return;
      default:
        // Never skip what we do not understand: the crank fails, loudly, with the reason.
        throw TypeError(
          `unknown delivery type ${JSON.stringify((delivery as { type: unknown }).type)}`,
        );
    }
  }

  #deliver(target: VRef, method: string | null, args: CapData, result: VRef | null): void {
    let outcome: Promise<unknown>;
    try {
      const { t, argv } = this.#receiver(target, args);
      // A path echo ends at the first object it reaches; through a promise it travels on.
      const echoEnds = method === ECHO_METHOD && !(t instanceof Promise);
      try {
        outcome = echoEnds
          ? Promise.resolve(undefined)
          : method === null
            ? HandledPromise.applyFunction(t, argv)
            : HandledPromise.applyMethod(t, method, argv);
      } catch (e) {
        outcome = Promise.reject(e);
      }
    } catch (e) {
      // Not delivered. The result, if any, is rejected with the reason; without a result the
      // kernel reports it (CrankOutcome.undeliverable): no message disappears without a word.
      if (result === null) {
        this.#undeliverable.push(`${String(method)} to ${target}: ${(e as Error).message}`);
        return;
      }
      outcome = Promise.reject(e);
    }
    if (result !== null) {
      const sentHere = this.#pendingImports.get(result);
      if (sentHere) {
        // Our own send came home (a promise resolved to one of our objects, and the kernel
        // brought the message back): the promise we handed the contract is ours to settle.
        this.#pendingImports.delete(result);
        sentHere.resolve(outcome);
      } else {
        // Later messages pipelined to `result` are sent to `outcome`: HandledPromise queues
        // them in order and forwards them wherever `outcome` resolves, even to another vat.
        this.#register(result, outcome);
      }
      this.#follow(result, outcome);
    } else {
      outcome.catch((reason) => this.#checkStack(reason));
    }
  }

  /** What a message is delivered to, and its arguments; throws if it cannot be delivered. */
  #receiver(target: VRef, args: CapData): { t: unknown; argv: unknown[] } {
    // The kernel sends to a promise only while the vat maps it (never after a retire).
    if (isPromiseRef(target) && !this.#slotToVal.has(target)) {
      throw ReferenceError(`message to unknown promise ${target}`);
    }
    const t = this.#valForSlot(target, undefined);
    const argv = this.unserialize(args);
    if (!Array.isArray(argv)) throw TypeError('message arguments must be an array');
    return { t, argv };
  }

  /** Stack depth differs between hosts: a delivery that overflowed cannot commit. */
  #checkStack(reason: unknown): void {
    if (isStackOverflow(reason)) this.#meter.poison('stack overflow (call depth limit)');
  }

  /** Tell the kernel when a promise this vat decides settles. */
  #follow(vref: VRef, p: Promise<unknown>): void {
    p.then(
      (value) => this.#resolve(vref, false, value),
      (reason) => {
        this.#checkStack(reason);
        this.#resolve(vref, true, reason);
      },
    );
  }

  #resolve(vref: VRef, rejected: boolean, value: unknown): void {
    let data: CapData;
    try {
      data = this.serialize(value);
    } catch (e) {
      rejected = true;
      data = this.serialize(Error(`unpassable resolution: ${(e as Error).message}`));
    }
    this.#resolutions.push([vref, rejected, data]);
  }

  #register(vref: VRef, val: unknown): void {
    this.#slotToVal.set(vref, val);
    if ((typeof val === 'object' && val !== null) || typeof val === 'function') {
      this.#valToSlot.set(val as object, vref);
    }
  }

  #valToSlotOrExport(val: unknown): VRef {
    const known = this.#valToSlot.get(val as object);
    if (known !== undefined) return known;
    if (val instanceof Promise) {
      const vref = `p+${this.#store.allocate('ls.nextPromise')}`;
      this.#register(vref, val);
      this.#follow(vref, val);
      return vref;
    }
    const vref = `o+${this.#store.allocate('ls.nextExport')}`;
    this.#register(vref, val);
    return vref;
  }

  #valForSlot(slot: VRef, iface: string | undefined): unknown {
    const known = this.#slotToVal.get(slot);
    if (known !== undefined) return known;
    if (isDurableRef(slot)) return this.#durable.revive(slot);
    if (isImportRef(slot)) return this.#makePresence(slot, iface ?? `Alleged: presence ${slot}`);
    // A promise the vat retired and is handed again: the kernel notifies its settlement next.
    if (isPromiseRef(slot)) return this.#makeImportedPromise(slot);
    if (isExportRef(slot)) {
      throw ReferenceError(`object ${slot} is gone: it was not durable and the vat restarted`);
    }
    throw ReferenceError(`unknown vref ${slot}`);
  }

  #send(target: VRef, method: string | null, args: unknown[]): Promise<unknown> {
    const data = this.serialize(args); // throws at the sender for unpassable arguments
    const result = `p+${this.#store.allocate('ls.nextPromise')}`;
    const p = this.#makeImportedPromise(result);
    this.#syscalls.push({ type: 'send', target, method, args: data, result });
    return p;
  }

  /** E.sendOnly: no result promise is allocated or sent. */
  #sendOnly(target: VRef, method: string | null, args: unknown[]): undefined {
    this.#syscalls.push({ type: 'send', target, method, args: this.serialize(args), result: null });
    return undefined;
  }

  /** The HandledPromise handler that sends to `vref`. */
  #handler(vref: VRef) {
    const name = (m: string | symbol | undefined) => (typeof m === 'string' ? m : null);
    return {
      applyMethod: (_o: unknown, method: string | symbol | undefined, args: unknown[]) =>
        this.#send(vref, name(method), args),
      applyFunction: (_o: unknown, args: unknown[]) => this.#send(vref, null, args),
      applyMethodSendOnly: (_o: unknown, method: string | symbol | undefined, args: unknown[]) =>
        this.#sendOnly(vref, name(method), args),
      applyFunctionSendOnly: (_o: unknown, args: unknown[]) => this.#sendOnly(vref, null, args),
      get: (_o: unknown, prop: string | symbol) =>
        Promise.reject(TypeError(`eventual get of ${String(prop)} is not supported remotely`)),
    };
  }

  #makePresence(vref: VRef, iface: string): unknown {
    let presence: unknown;
    // The promise itself is never used: resolveWithPresence gives a presence whose eventual
    // sends go to our handler.
    void new HandledPromise((_resolve, _reject, resolveWithPresence) => {
      presence = resolveWithPresence(this.#handler(vref));
    });
    const remote = Remotable(iface, undefined, presence as object);
    this.#register(vref, remote);
    return remote;
  }

  #makeImportedPromise(vref: VRef): Promise<unknown> {
    let kit: PromiseKit | undefined;
    const p = new HandledPromise((resolve, reject) => {
      kit = { resolve, reject };
    }, this.#handler(vref));
    p.catch(() => {}); // rejections are the contract's to observe, not unhandled-rejection noise
    this.#pendingImports.set(vref, kit!);
    this.#register(vref, p);
    return p;
  }
}
