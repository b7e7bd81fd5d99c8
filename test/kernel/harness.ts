/**
 * Helpers for in-process kernel tests: start vats on a LocalNetwork and grant roots.
 */
import { readFileSync } from 'node:fs';
import { Kernel, type KernelOptions } from '../../vat-node/src/kernel/kernel.ts';
import type { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';

export const contract = (name: string) =>
  readFileSync(new URL(`./contracts/${name}`, import.meta.url), 'utf8');

export async function startVats(
  net: LocalNetwork,
  names: string[],
  source: string,
  extra: Partial<KernelOptions> = {},
): Promise<Kernel[]> {
  return Promise.all(
    names.map((name) =>
      Kernel.create(
        { vatId: name, vatName: name, contractSource: source, gasLimit: 1_000_000, ...extra },
        net.transport(),
      ),
    ),
  );
}

/** Give `holder` a reference to `owner`'s root; returns the vref in `holder`. */
export function introduce(holder: Kernel, owner: Kernel): string {
  return holder.importGranted(owner.vatId, owner.grantRoot(holder.vatId));
}
