/**
 * Test fixtures for quorum logic (unit tests of this folder and of ordering/): real Ed25519
 * member identities and an administrator key, all in memory. Not used by production code.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { VatId } from '../protocol/identity.ts';
import { ephemeralIdentity } from '../vattp/identity.ts';
import { makeSigner, type Sign } from '../vattp/signing.ts';
import {
  type Genesis,
  type GenesisInput,
  genesisConfig,
  makeGenesis,
  type QuorumConfig,
} from './config.ts';

export interface TestKey {
  /** Raw public key, 64 hex digits. */
  readonly publicKey: string;
  readonly sign: Sign;
}

export interface TestMember {
  readonly vatId: VatId;
  readonly sign: Sign;
}

/** A fresh raw Ed25519 key pair (an administrator key, a sturdyref key). */
export function makeTestKey(): TestKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  return { publicKey: pub.toString('hex'), sign: makeSigner(seed, pub) };
}

export async function makeTestMembers(n: number): Promise<TestMember[]> {
  const out: TestMember[] = [];
  for (let i = 0; i < n; i++) {
    const id = await ephemeralIdentity();
    out.push({ vatId: id.vatId, sign: id.sign });
  }
  return out.sort((a, b) => (a.vatId < b.vatId ? -1 : a.vatId > b.vatId ? 1 : 0));
}

export interface TestQuorum {
  readonly genesis: Genesis;
  readonly config: QuorumConfig;
  /** Members sorted like config.members (index i = bit i of a signer bitmap). */
  readonly members: readonly TestMember[];
  readonly admin: TestKey;
  /** Signer of any member VatID (also of members added later with addMember). */
  readonly signerOf: Map<VatId, Sign>;
}

/** A genesis of n fresh members with threshold k and a fresh administrator key. */
export async function makeTestQuorum(
  n: number,
  k: number,
  overrides: Partial<GenesisInput> = {},
): Promise<TestQuorum> {
  const members = await makeTestMembers(n);
  const admin = makeTestKey();
  const genesis = makeGenesis({
    name: 'test',
    nonce: randomBytes(16).toString('hex'),
    members: members.map((m) => m.vatId),
    threshold: k,
    admin: admin.publicKey,
    ...overrides,
  });
  const signerOf = new Map(members.map((m) => [m.vatId, m.sign]));
  return { genesis, config: genesisConfig(genesis), members, admin, signerOf };
}
