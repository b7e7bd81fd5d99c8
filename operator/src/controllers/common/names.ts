// Names and labels of everything the operator makes for a vat (one place, so the desired
// objects, the status and the tests agree).

export type VatKind = 'Vat' | 'QuorumVat';

export const PORTS = { p2p: 4001, http: 9090 } as const;
/** The per-namespace headless Service every vat pod bootstraps the DHT through. */
export const DHT_SERVICE = 'quorumvat-dht';
export const STURDYREF_KEY = 'sturdyref';
export const MANAGED_BY = 'quorumvat-operator';

export const LABEL = {
  vat: 'quorumvat.dev/vat',
  kind: 'quorumvat.dev/kind',
  dht: 'quorumvat.dev/dht',
} as const;

export interface Owner {
  kind: VatKind;
  name: string;
  namespace: string;
  uid: string;
}

export const names = (name: string) => ({
  statefulSet: name,
  service: name,
  secret: `${name}-sturdyref`,
  configMap: `${name}-vat`,
  serviceAccount: `${name}-vat`,
  role: `${name}-sturdyref-publisher`,
  pdb: name,
  adminKey: `${name}-admin-key`,
  genesis: `${name}-genesis`,
  chain: `${name}-chain`,
  memberRole: `${name}-member`,
});

/** Labels on every object made for the vat; `selector` is the subset that picks its pods. */
export function labels(owner: Pick<Owner, 'kind' | 'name'>): Record<string, string> {
  return {
    'app.kubernetes.io/name': owner.kind === 'Vat' ? 'vat' : 'quorumvat',
    'app.kubernetes.io/instance': owner.name,
    'app.kubernetes.io/component': owner.kind === 'Vat' ? 'vat-node' : 'quorum-member',
    'app.kubernetes.io/part-of': 'quorumvat',
    'app.kubernetes.io/managed-by': MANAGED_BY,
    ...selector(owner),
  };
}

export function selector(owner: Pick<Owner, 'kind' | 'name'>): Record<string, string> {
  return { [LABEL.vat]: owner.name, [LABEL.kind]: owner.kind };
}

export const selectorString = (owner: Pick<Owner, 'kind' | 'name'>): string =>
  Object.entries(selector(owner))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export function ownerReference(owner: Owner) {
  return {
    apiVersion: 'quorumvat.dev/v1alpha1',
    kind: owner.kind,
    name: owner.name,
    uid: owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export const serviceDns = (service: string, namespace: string): string =>
  `${service}.${namespace}.svc.cluster.local`;
