// What every controller is given: the API writer, the caches, settings, a logger.
import type { KubeConfig, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { QuorumVat, Vat } from '../../api/v1alpha1/types.ts';
import type { OperatorApi } from '../../runtime/api.ts';
import type { ResilientInformer } from '../../runtime/informer.ts';
import type { OperatorSettings } from './workload.ts';

export interface Caches {
  vats: ResilientInformer<Vat & { metadata: { name: string } }>;
  quorumVats: ResilientInformer<QuorumVat & { metadata: { name: string } }>;
  statefulSets: ResilientInformer<V1StatefulSet>;
  pods: ResilientInformer<V1Pod>;
}

export interface ControllerContext {
  kc: KubeConfig;
  api: OperatorApi;
  caches: Caches;
  settings: OperatorSettings;
  log: Logger;
  /** The publisher script mounted into vat pods. */
  agentSource: string;
  /** Reads a vat node's public identity (VatID, addresses) from its HTTP endpoint. */
  identity: (podIP: string) => Promise<{ vatId: string; addresses: string[] } | undefined>;
}

/** namespace/name keys of the work queue. */
export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
