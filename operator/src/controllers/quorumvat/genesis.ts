// Forming a quorum without any member key leaving its pod (genesis.test.ts). Each member pod
// makes its own key on its volume and reports only its VatID (the public key's id); the
// operator makes the administrator key and the bootstrap sturdyref key itself, keeps both in a
// Secret that only it reads, and writes the genesis (members, threshold, the administrator's
// PUBLIC key, the sturdyref's PUBLIC key) into an immutable ConfigMap. The quorum VatID is the
// genesis's hash, so the genesis is made once and never rewritten: the ConfigMap is created,
// never applied, and a genesis already there is always the one used.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { labels, names, type Owner, ownerReference, PORTS, serviceDns } from '../common/names.ts';
import {
  type ChainRecord,
  canonicalJson,
  formatSturdyRef,
  type Genesis,
  makeGenesis,
  quorumVatIdOf,
  sturdyKey,
  type VatPin,
} from './quorum-lib.ts';

export const GENESIS_KEY = 'genesis.json';
export const CHAIN_KEY = 'chain.json';
export const QUORUM_KEY = 'quorum';
/**
 * The contract the quorum vat was created with, pinned beside its genesis: members always run
 * this one (a member restarted with other code would diverge), whatever the spec says later.
 */
export const CONTRACT_KEY = 'contract.js';

/** The operator's secrets for one quorum: never in a pod, never in status. */
export interface AdminKeys {
  /** Ed25519 seed of the administrator key (requests membership changes). */
  seed: Uint8Array;
  /** Its raw public key, 64 hex digits: what the genesis names as admin. */
  publicKey: string;
  /** Seed of the bootstrap sturdyref's key; the genesis holds only its public key. */
  sturdySecret: Uint8Array;
}

export function newAdminKeys(): AdminKeys {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    seed: new Uint8Array(Buffer.from(jwk.d!, 'base64url')),
    publicKey: Buffer.from(jwk.x!, 'base64url').toString('hex'),
    sturdySecret: new Uint8Array(randomBytes(32)),
  };
}

const SECRET_KEYS = { seed: 'admin-seed', publicKey: 'admin-public-key', sturdy: 'sturdy-secret' };

/** The administrator key Secret (created once; owned by the QuorumVat, so it goes with it). */
export function adminKeySecret(owner: Owner, keys: AdminKeys): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: names(owner.name).adminKey,
      namespace: owner.namespace,
      labels: labels(owner),
      ownerReferences: [ownerReference(owner)],
    },
    type: 'Opaque',
    immutable: true,
    data: {
      [SECRET_KEYS.seed]: Buffer.from(keys.seed).toString('base64'),
      [SECRET_KEYS.publicKey]: Buffer.from(keys.publicKey).toString('base64'),
      [SECRET_KEYS.sturdy]: Buffer.from(keys.sturdySecret).toString('base64'),
    },
  };
}

/** Reads the keys back, or says what is wrong with the Secret (never guesses a new key). */
export function adminKeysOf(secret: V1Secret): AdminKeys | { problem: string } {
  const d = secret.data ?? {};
  const bytes = (k: string) => Buffer.from(d[k] ?? '', 'base64');
  const seed = bytes(SECRET_KEYS.seed);
  const publicKey = bytes(SECRET_KEYS.publicKey).toString('utf8');
  const sturdySecret = bytes(SECRET_KEYS.sturdy);
  if (seed.length !== 32 || sturdySecret.length !== 32 || !/^[0-9a-f]{64}$/.test(publicKey)) {
    return {
      problem: `Secret ${secret.metadata?.name} does not hold an administrator key (keys ${Object.values(SECRET_KEYS).join(', ')})`,
    };
  }
  // The seed must be the key the public key names: a mixed-up Secret is refused here rather
  // than producing requests the members refuse.
  if (sturdyKey(new Uint8Array(seed)) !== publicKey) {
    return {
      problem: `Secret ${secret.metadata?.name}: admin-public-key is not the public key of admin-seed`,
    };
  }
  return { seed: new Uint8Array(seed), publicKey, sturdySecret: new Uint8Array(sturdySecret) };
}

/** A genesis name from a Kubernetes name (DNS subdomain → 1–64 of [a-z0-9-]). */
export function genesisName(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 64)
    .replace(/^-+|-+$/g, '');
  return s || 'quorum';
}

/**
 * The genesis of a QuorumVat: its first members (VatIDs the pods reported), the threshold, the
 * administrator's and the bootstrap sturdyref's public keys, and the contract and gas limit
 * every member must run (a member node started with others refuses to start). The nonce is the
 * resource's uid, so a QuorumVat deleted and created again under the same name is a different
 * quorum vat.
 */
export function buildGenesis(input: {
  name: string;
  uid: string;
  members: readonly string[];
  threshold: number;
  keys: AdminKeys;
  vat?: VatPin;
}): Genesis {
  const nonce = input.uid.replace(/-/g, '').toLowerCase();
  return makeGenesis({
    name: genesisName(input.name),
    nonce: /^[0-9a-f]{32}$/.test(nonce)
      ? nonce
      : Buffer.from(input.uid).toString('hex').padEnd(32, '0').slice(0, 32),
    members: input.members,
    threshold: input.threshold,
    admin: input.keys.publicKey,
    sturdyKeys: [sturdyKey(input.keys.sturdySecret)],
    ...(input.vat !== undefined ? { vat: input.vat } : {}),
  });
}

/**
 * The genesis ConfigMap: immutable (the quorum VatID is its hash), readable by the members,
 * with the contract source the members run (pinned: see CONTRACT_KEY).
 */
export function genesisConfigMap(owner: Owner, genesis: Genesis, contract: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: names(owner.name).genesis,
      namespace: owner.namespace,
      labels: labels(owner),
      ownerReferences: [ownerReference(owner)],
    },
    immutable: true,
    data: {
      [GENESIS_KEY]: canonicalJson(genesis),
      [QUORUM_KEY]: quorumVatIdOf(genesis),
      [CONTRACT_KEY]: contract,
    },
  };
}

/**
 * The chain ConfigMap: genesis plus every change record the operator has seen verified, so a
 * member pod that restarts, or a new one, starts from the configuration in force (the records
 * are self-verifying: k member signatures each). It only ever grows.
 */
export function chainConfigMap(
  owner: Owner,
  genesis: Genesis,
  records: readonly ChainRecord[],
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: names(owner.name).chain,
      namespace: owner.namespace,
      labels: labels(owner),
      ownerReferences: [ownerReference(owner)],
    },
    data: {
      [CHAIN_KEY]: canonicalJson({ quorum: quorumVatIdOf(genesis), genesis, records }),
    },
  };
}

/**
 * The genesis from its ConfigMap, checked: it must hash to the quorum VatID stored beside it;
 * with the pinned contract (absent in a ConfigMap made before contracts were pinned).
 */
export function genesisOf(
  cm: V1ConfigMap,
  ownerUid: string,
): { genesis: Genesis; quorum: string; contract?: string } | { problem: string } {
  const name = cm.metadata?.name;
  if (!cm.metadata?.ownerReferences?.some((r) => r.uid === ownerUid)) {
    return { problem: `ConfigMap ${name} exists but does not belong to this QuorumVat` };
  }
  try {
    const genesis = JSON.parse(cm.data?.[GENESIS_KEY] ?? '') as Genesis;
    const quorum = quorumVatIdOf(genesis);
    if (cm.data?.[QUORUM_KEY] !== quorum) {
      return {
        problem: `ConfigMap ${name}: the genesis does not hash to ${cm.data?.[QUORUM_KEY]}`,
      };
    }
    const contract = cm.data?.[CONTRACT_KEY];
    return { genesis, quorum, ...(contract ? { contract } : {}) };
  } catch (err) {
    return { problem: `ConfigMap ${name}: not a valid genesis (${(err as Error).message})` };
  }
}

/** Records stored in the chain ConfigMap (unverified here: the caller verifies the chain). */
export function recordsOf(cm: V1ConfigMap | undefined): unknown[] {
  try {
    const doc = JSON.parse(cm?.data?.[CHAIN_KEY] ?? '') as { records?: unknown };
    return Array.isArray(doc.records) ? doc.records : [];
  } catch {
    return [];
  }
}

/**
 * The quorum vat's bootstrap sturdyref: the operator holds its secret (the members only the
 * public key, in the genesis). Address hints are the genesis members' pod addresses.
 */
export function quorumSturdyref(
  owner: Owner,
  genesis: Genesis,
  keys: AdminKeys,
  podOf: (vatId: string) => string | undefined,
): string {
  const service = serviceDns(names(owner.name).service, owner.namespace);
  const hints = genesis.members.flatMap((m) => {
    const pod = podOf(m);
    return pod ? [`/dns4/${pod}.${service}/tcp/${PORTS.p2p}/p2p/${m}`] : [];
  });
  return formatSturdyRef({ vatId: quorumVatIdOf(genesis), secret: keys.sturdySecret, hints });
}
