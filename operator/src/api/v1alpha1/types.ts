// TypeScript shapes of Vat and QuorumVat (after the API server applied the schema defaults).
import type { V1ObjectMeta } from '@kubernetes/client-node';

export interface ContractSpec {
  source?: string;
  configMapRef?: { name: string; key: string };
}

export interface StorageSpec {
  size: string;
  storageClassName?: string;
  retention: 'Keep' | 'Delete';
}

export interface VatSpec {
  contract: ContractSpec;
  image?: string;
  storage: StorageSpec;
  resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  gasLimit: number;
  memoryLimitMiB: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  bootstrapPeers?: string[];
}

export interface QuorumVatSpec extends VatSpec {
  replicas: number;
  threshold?: number;
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface VatStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  vatId?: string;
  addresses?: string[];
  sturdyrefSecret?: { name: string; key: string };
  contractHash?: string;
}

export type MemberState = 'learner' | 'voting' | 'leaving';

export interface MemberStatus {
  vatId?: string;
  pod: string;
  state: MemberState;
  ready?: boolean;
}

export interface QuorumVatStatus extends VatStatus {
  replicas?: number;
  selector?: string;
  epoch?: number;
  threshold?: number;
  tolerates?: { crashed: number; byzantine: number };
  members?: MemberStatus[];
  /** The ConfigMap holding the genesis (set once the quorum is formed). */
  genesisConfigMap?: string;
  /** The one membership change requested and not yet seen in the chain. */
  pendingChange?: PendingChange;
}

/** A change request the operator sent (or is about to send) for epoch `epoch`. */
export interface PendingChange {
  epoch: number;
  op: 'add' | 'remove' | 'threshold' | 'add-learner' | 'remove-learner';
  member?: string;
  threshold?: number;
  pod?: string;
  requestedAt: string;
  attempts: number;
  /** Why the last attempt was not taken (refused, unreachable), until one is. */
  lastError?: string;
}

export interface Vat {
  apiVersion: 'quorumvat.dev/v1alpha1';
  kind: 'Vat';
  metadata: V1ObjectMeta;
  spec: VatSpec;
  status?: VatStatus;
}

export interface QuorumVat {
  apiVersion: 'quorumvat.dev/v1alpha1';
  kind: 'QuorumVat';
  metadata: V1ObjectMeta;
  spec: QuorumVatSpec;
  status?: QuorumVatStatus;
}
