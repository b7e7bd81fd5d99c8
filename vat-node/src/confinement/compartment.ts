/**
 * Loads contract code into its own SES Compartment. The host has run lockdown() first, so
 * every primordial is frozen. The compartment's only globals are the frozen shared
 * intrinsics SES gives every compartment (no Date.now, Math.random, WeakRef,
 * FinalizationRegistry, SharedArrayBuffer, Atomics, timers, process, require, fetch, console),
 * plus the eventual-send function and gas meter that the source transform refers to.
 *
 * Gas is only as good as the guarantee that every line of contract code went through the
 * source transform. So nothing that turns a string into running code is offered: `eval`,
 * `Function` and `Compartment` (a nested compartment would `evaluate`, `import`,
 * `importNow` or `load` code, module sources included, with its own unmetered evaluators)
 * are replaced with throwers, and every global not in VAT_GLOBALS (`lockdown`, or whatever
 * a later SES adds) too: the list fails closed. The constructors reachable through
 * prototypes (`(async () => {}).constructor`, `function* () {}`'s, `.constructor.constructor`)
 * are SES's inert throwers after lockdown; test/kernel/contracts/escapes.js tries them all.
 * Importable modules: '@endo/far' (E, Far, passStyleOf) and nothing else. The module is
 * turned into a script by module-to-script.ts (see there why not @endo/module-source).
 */
import { E, Far, passStyleOf } from '@endo/far';
import type { Meter } from '../liveslots/meter.ts';
import { moduleToScript } from './module-to-script.ts';
import { transformContractSource } from './transform.ts';

export class ContractLoadError extends Error {
  override name = 'ContractLoadError';
}

const modules: Record<string, unknown> = harden({ '@endo/far': { E, Far, passStyleOf } });
const importModule = harden((specifier: string) => {
  if (!Object.hasOwn(modules, specifier))
    throw new ContractLoadError(`module ${String(specifier)} is not available inside a vat`);
  return modules[specifier];
});

/**
 * The globals a vat keeps: the frozen intrinsics SES shares (none of them evaluates code),
 * `harden`, `HandledPromise` (its handlers are contract functions, metered) and the runtime's
 * own three. Anything else on a new compartment's globalThis is replaced by a thrower.
 */
const VAT_GLOBALS: ReadonlySet<string> = new Set([
  ...['globalThis', 'Infinity', 'NaN', 'undefined', 'isFinite', 'isNaN', 'parseFloat'],
  ...['parseInt', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent'],
  ...['escape', 'unescape', 'Object', 'Array', 'Number', 'Boolean', 'String'],
  ...['Symbol', 'BigInt', 'Math', 'JSON', 'Reflect', 'Proxy', 'Date', 'RegExp', 'Promise'],
  ...['Map', 'Set', 'WeakMap', 'WeakSet', 'Iterator', 'ArrayBuffer', 'DataView'],
  ...['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array'],
  ...['Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'],
  ...['Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError'],
  ...['TypeError', 'URIError', 'AggregateError', 'TextEncoder', 'TextDecoder', 'harden'],
  ...['HandledPromise', '$qv_E', '$qv_meter', '$qv_import'],
]);

/** Globals that run code from a string: what they would run was never metered. */
const EVALUATORS: ReadonlySet<string> = new Set(['eval', 'Function', 'Compartment']);

/** A `function`, not an arrow, so that `new Compartment()` gets this error too. */
const unavailable = (name: string) => {
  const why = EVALUATORS.has(name) ? ' (code it runs would escape gas metering)' : '';
  return harden(function unavailable() {
    throw TypeError(`${name} is not available inside a vat${why}`);
  });
};

export interface ContractNamespace {
  buildRootObject(powers: unknown): unknown;
}

export function loadContract(source: string, meter: Meter): ContractNamespace {
  let script: string;
  try {
    script = moduleToScript(transformContractSource(source, { meter: true }));
  } catch (e) {
    throw new ContractLoadError(`contract rejected: ${(e as Error).message}`);
  }
  const compartment = new Compartment({
    __options__: true,
    globals: { $qv_E: E, $qv_meter: meter, $qv_import: importModule },
  });
  for (const name of Reflect.ownKeys(compartment.globalThis)) {
    if (typeof name !== 'string') continue; // Symbol.unscopables
    if (VAT_GLOBALS.has(name)) continue;
    // Fails closed: a non-configurable global we do not know makes the load throw.
    Object.defineProperty(compartment.globalThis, name, {
      value: unavailable(name),
      writable: false,
      configurable: false,
      enumerable: false,
    });
  }
  harden(compartment.globalThis);
  let namespace: Record<string, unknown>;
  try {
    namespace = compartment.evaluate(script) as Record<string, unknown>;
  } catch (e) {
    throw new ContractLoadError(`contract failed to load: ${(e as Error).message}`);
  }
  if (typeof namespace['buildRootObject'] !== 'function') {
    throw new ContractLoadError('contract must export a function buildRootObject(powers)');
  }
  return namespace as unknown as ContractNamespace;
}
