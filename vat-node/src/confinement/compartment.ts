/**
 * Loads contract code into its own SES Compartment. The host has run lockdown() first, so
 * every primordial is frozen. The compartment's only globals are the frozen shared
 * intrinsics SES gives every compartment (no Date.now, Math.random, WeakRef,
 * FinalizationRegistry, SharedArrayBuffer, Atomics, timers, process, require, fetch, console),
 * plus the eventual-send function and gas meter that the source transform refers to.
 * `eval` and `Function` are replaced with throwers: code they build would run unmetered.
 * Importable modules: '@endo/far' (E, Far, passStyleOf) and nothing else.
 */
import { E, Far, passStyleOf } from '@endo/far';
import { ModuleSource } from '@endo/module-source';
import type { Meter } from '../liveslots/meter.ts';
import { transformContractSource } from './transform.ts';

export class ContractLoadError extends Error {
  override name = 'ContractLoadError';
}

const farModule = harden({
  imports: [],
  exports: ['E', 'Far', 'passStyleOf'],
  execute(env: Record<string, unknown>) {
    env['E'] = E;
    env['Far'] = Far;
    env['passStyleOf'] = passStyleOf;
  },
});

const unavailable = (name: string) =>
  harden(() => {
    throw TypeError(`${name} is not available inside a vat`);
  });

export interface ContractNamespace {
  buildRootObject(powers: unknown): unknown;
}

export async function loadContract(source: string, meter: Meter): Promise<ContractNamespace> {
  let transformed: string;
  try {
    transformed = transformContractSource(source, { meter: true });
  } catch (e) {
    throw new ContractLoadError(`contract rejected: ${(e as Error).message}`);
  }
  const compartment = new Compartment({
    __options__: true,
    globals: { $qv_E: E, $qv_meter: meter },
    modules: {
      contract: { source: new ModuleSource(transformed, 'vat:contract') },
      '@endo/far': { source: farModule },
    },
    resolveHook: (specifier: string) => specifier,
    importHook: (specifier: string) => {
      throw new ContractLoadError(`module ${specifier} is not available inside a vat`);
    },
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
    ({ namespace } = (await compartment.import('contract')) as {
      namespace: Record<string, unknown>;
    });
  } catch (e) {
    throw new ContractLoadError(`contract failed to load: ${(e as Error).message}`);
  }
  if (typeof namespace['buildRootObject'] !== 'function') {
    throw new ContractLoadError('contract must export a function buildRootObject(powers)');
  }
  return namespace as unknown as ContractNamespace;
}
