/**
 * Loads contract code into its own SES Compartment. The host has run lockdown() first, so
 * every primordial is frozen. The compartment's only globals are the frozen shared
 * intrinsics SES gives every compartment (no Date.now, Math.random, WeakRef,
 * FinalizationRegistry, SharedArrayBuffer, Atomics, timers, process, require, fetch, console),
 * plus the eventual-send function and gas meter that the source transform refers to.
 * `eval` and `Function` are replaced with throwers: code they build would run unmetered.
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
  const ns = modules[specifier];
  if (ns === undefined)
    throw new ContractLoadError(`module ${specifier} is not available inside a vat`);
  return ns;
});

const unavailable = (name: string) =>
  harden(() => {
    throw TypeError(`${name} is not available inside a vat`);
  });

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
  for (const name of ['eval', 'Function']) {
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
