// The contract source a vat runs: inline, or read from the ConfigMap it names.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ContractSpec } from '../../api/v1alpha1/types.ts';
import { statusCode } from '../../runtime/api.ts';

export type ContractResult =
  | { ok: true; source: string }
  | { ok: false; reason: string; message: string };

export async function contractSource(
  core: CoreV1Api,
  namespace: string,
  contract: ContractSpec,
): Promise<ContractResult> {
  if (contract.source !== undefined) return { ok: true, source: contract.source };
  const ref = contract.configMapRef!;
  try {
    const cm = await core.readNamespacedConfigMap({ namespace, name: ref.name });
    const source = cm.data?.[ref.key];
    if (source === undefined || source === '') {
      return {
        ok: false,
        reason: 'ContractNotFound',
        message: `ConfigMap ${ref.name} has no key ${ref.key} (keys: ${Object.keys(cm.data ?? {}).join(', ') || 'none'})`,
      };
    }
    return { ok: true, source };
  } catch (err) {
    if (statusCode(err) === 404) {
      return {
        ok: false,
        reason: 'ContractNotFound',
        message: `ConfigMap ${ref.name} (the contract) does not exist in namespace ${namespace}`,
      };
    }
    throw err;
  }
}
