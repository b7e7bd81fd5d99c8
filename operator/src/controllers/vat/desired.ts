// What a Vat should become: every object, as pure functions of the resource (desired.test.ts).
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { QuorumVat, Vat, VatSpec } from '../../api/v1alpha1/types.ts';
import type { Owner } from '../common/names.ts';
import {
  configMap,
  headlessService,
  type OperatorSettings,
  publisherRole,
  publisherRoleBinding,
  serviceAccount,
  statefulSet,
  sturdyrefSecret,
} from '../common/workload.ts';

export const contractHash = (source: string): string =>
  createHash('sha256').update(source).digest('hex');

export function ownerOf(vat: Pick<Vat | QuorumVat, 'kind' | 'metadata'>): Owner {
  const { name, namespace, uid } = vat.metadata;
  if (!name || !namespace || !uid) throw new Error('resource without name, namespace or uid');
  return { kind: vat.kind, name, namespace, uid };
}

/**
 * What every vat workload has before its StatefulSet, in the order they are applied: the pod's
 * ServiceAccount, the sturdyref Secret and its publisher's Role and binding, the ConfigMap and
 * the headless Service.
 */
export function workloadBase(owner: Owner, spec: VatSpec, agentSource: string): KubernetesObject[] {
  return [
    serviceAccount(owner),
    sturdyrefSecret(owner),
    publisherRole(owner),
    publisherRoleBinding(owner),
    configMap(owner, spec, agentSource),
    headlessService(owner),
  ];
}

/**
 * The objects of a Vat, in the order they are applied (the StatefulSet last, so its pod finds
 * its ServiceAccount, ConfigMap and Service). `contractSource` is the source in use (inline, or
 * read from the referenced ConfigMap).
 */
export function desiredVat(
  vat: Vat,
  contractSource: string,
  settings: OperatorSettings,
  agentSource: string,
): KubernetesObject[] {
  const owner = ownerOf(vat);
  return [
    ...workloadBase(owner, vat.spec, agentSource),
    statefulSet({
      owner,
      spec: vat.spec,
      replicas: 1,
      settings,
      contractHash: contractHash(contractSource),
      whenScaled: 'Retain',
    }),
  ];
}
