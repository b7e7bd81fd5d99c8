/**
 * A quorum vat's configuration: who its members are, how many must agree (the threshold k),
 * who may request membership changes, and the protocol parameters. Pure and deterministic.
 *
 * The arithmetic (stated here, enforced by checkArithmetic):
 *   two decision quorums of k among n members intersect in 2k − n members;
 *   safety against f Byzantine members needs 2k − n > f (every two quorums share an honest
 *   member), liveness needs n − k ≥ f (the honest members alone still make a quorum), so
 *     f (Byzantine tolerated) = min(2k − n − 1, n − k),   crashes tolerated = n − k.
 *   2k ≤ n is refused (two disjoint quorums could decide different things), and so is k > n
 *   (nothing could ever be decided).
 *
 * Members are solo vats: each is named by its VatID (the libp2p PeerId of its host's Ed25519
 * key, vattp/identity.ts), and its public key is read off that VatID, so a configuration holds
 * no separate key material that could disagree with the names. Member lists are kept sorted
 * (UTF-16 order): a configuration is a set, and a signer bitmap indexes that sorted list.
 *
 * The quorum VatID is `quorum` + base58btc(sha256(domain || canonical genesis)). It is fixed by
 * the genesis configuration and stays the same across every membership change (chain.ts
 * verifies the changes from genesis given only this VatID and the genesis). It cannot collide
 * with a solo VatID: canonical Ed25519 PeerIds are base58btc multihashes and start with
 * `12D3KooW` (any canonical PeerId string starts with `1` or `Q`), never with a lower-case `q`.
 * It uses only base58 characters, so it passes wherever a VatID is carried today (the VatTP
 * codec's VatID pattern, the host part of a sturdyref URI) and can be routed on: a transport
 * that sees `isQuorumVatId(to)` sends to every member of the configuration instead of looking
 * the VatID up in the DHT.
 */
import { createHash } from 'node:crypto';
import type { VatId } from '../protocol/identity.ts';
import { canonicalJson } from '../vattp/codec.ts';
import { publicKeyOfVatId } from '../vattp/identity.ts';

/** The most members a quorum may have (the signer bitmap and the per-message cost grow with n). */
export const MAX_MEMBERS = 64;
export const QUORUM_VATID_PREFIX = 'quorum';
const GENESIS_DOMAIN = 'quorumvat-quorum-genesis-v1\n';

/** Machine-readable causes of a refused configuration (QuorumConfigError.reason). */
export type ConfigReason =
  | 'malformed'
  | 'no-members'
  | 'too-many-members'
  | 'duplicate-member'
  | 'members-not-sorted'
  | 'not-a-member-vatid'
  | 'threshold-below-one'
  | 'threshold-above-members'
  | 'no-intersection'
  | 'bad-admin-key'
  | 'bad-params'
  | 'bad-sturdy-key'
  | 'bad-vat'
  | 'genesis-mismatch';

export class QuorumConfigError extends Error {
  override name = 'QuorumConfigError';
  readonly reason: ConfigReason;
  constructor(reason: ConfigReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Protocol parameters fixed at genesis (all positive safe integers). */
export interface QuorumParams {
  /** How long a member waits for the leader's next decision before it starts a view change. */
  readonly viewTimeoutMs: number;
  /** The most inputs one ordering decision (one batch) may carry. */
  readonly maxBatch: number;
  /** Order positions between two checkpoints whose transcript hashes members compare. */
  readonly checkpointInterval: number;
  /** Receivers keep at most this many undelivered sequence numbers per quorum sender. */
  readonly maxPendingPerSender: number;
}

export const DEFAULT_PARAMS: QuorumParams = Object.freeze({
  viewTimeoutMs: 2000,
  maxBatch: 256,
  checkpointInterval: 1000,
  maxPendingPerSender: 1024,
});

const PARAM_LIMITS: Readonly<Record<keyof QuorumParams, readonly [number, number]>> = {
  viewTimeoutMs: [50, 600_000],
  maxBatch: [1, 10_000],
  checkpointInterval: [1, 1_000_000],
  maxPendingPerSender: [1, 1_000_000],
};

/** The genesis configuration: hashed into the quorum VatID, so never changed after creation. */
export interface Genesis {
  readonly version: 1;
  /** A human label (logs, status): 1–64 of [a-z0-9-]. */
  readonly name: string;
  /** 32 hex digits: two quorums with the same members and name still get different VatIDs. */
  readonly nonce: string;
  /** Member VatIDs (solo Ed25519 VatIDs), sorted, no duplicates. */
  readonly members: readonly VatId[];
  readonly threshold: number;
  /**
   * The administrator's raw Ed25519 public key (64 hex digits). Its holder (the operator) may
   * REQUEST membership and threshold changes; each takes effect only once k members of the
   * current epoch certify it (chain.ts). It cannot make the quorum send, sign or redeem anything.
   */
  readonly admin: string;
  readonly params: QuorumParams;
  /**
   * Public keys (64 hex digits, sorted) of sturdyrefs that redeem to the quorum vat's bootstrap
   * object: how the first reference to a new quorum vat is made without any member ever
   * holding a secret (sturdyref.ts). Later sturdyrefs are registered through ordered messages.
   */
  readonly sturdyKeys: readonly string[];
  /**
   * What every member must run, when the genesis pins it (optional): a member started with
   * another contract or gas limit would end some delivery differently and diverge, so the node
   * refuses to start instead (cli/quorum/member-option.ts).
   */
  readonly vat?: VatPin;
}

/** The contract (sha256 of its source, hex) and gas limit every member of a quorum runs. */
export interface VatPin {
  readonly contractSha256: string;
  readonly gasLimit: number;
}

/** The configuration in force during one epoch. Epoch 0 is the genesis configuration. */
export interface QuorumConfig {
  /** The quorum VatID (same in every epoch). */
  readonly quorum: VatId;
  readonly name: string;
  readonly epoch: number;
  /** Sorted member VatIDs of this epoch. */
  readonly members: readonly VatId[];
  readonly threshold: number;
  readonly admin: string;
  readonly params: QuorumParams;
  /**
   * Sorted VatIDs of learners: hosts the administrator has admitted to receive the decided
   * inputs and catch up (from a checkpoint plus the inputs after it) before they are voted in.
   * They do not vote, sign or count; members serve state only to members and learners.
   */
  readonly learners: readonly VatId[];
  /** The first order position decided under this configuration (0 for genesis). */
  readonly since: number;
}

export interface FaultTolerance {
  readonly members: number;
  readonly threshold: number;
  /** 2k − n: how many members any two decision quorums share. */
  readonly intersection: number;
  /** Byzantine members tolerated: min(2k − n − 1, n − k). */
  readonly byzantine: number;
  /** Crashed (silent) members tolerated: n − k. */
  readonly crashes: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const NONCE = /^[0-9a-f]{32}$/;
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

function refuse(reason: ConfigReason, message: string): never {
  throw new QuorumConfigError(reason, message);
}

// ---------------------------------------------------------------- arithmetic

/** The fault-tolerance numbers of n members with threshold k (no validity check). */
export function faultTolerance(n: number, k: number): FaultTolerance {
  return {
    members: n,
    threshold: k,
    intersection: 2 * k - n,
    byzantine: Math.max(0, Math.min(2 * k - n - 1, n - k)),
    crashes: Math.max(0, n - k),
  };
}

/** Refuses any (n, k) that could not be both safe and live; the message says why. */
export function checkArithmetic(n: number, k: number): FaultTolerance {
  if (!Number.isSafeInteger(n) || n < 1) refuse('no-members', `a quorum needs members (n = ${n})`);
  if (n > MAX_MEMBERS) refuse('too-many-members', `n = ${n} members: at most ${MAX_MEMBERS}`);
  if (!Number.isSafeInteger(k) || k < 1) {
    refuse('threshold-below-one', `threshold k = ${k}: must be an integer of at least 1`);
  }
  if (k > n) {
    refuse(
      'threshold-above-members',
      `threshold k = ${k} > n = ${n} members: nothing could ever be decided`,
    );
  }
  if (2 * k <= n) {
    refuse(
      'no-intersection',
      `threshold k = ${k} of n = ${n}: 2k ≤ n, so two quorums of ${k} need not share a member and could decide different things (need k > n/2, i.e. k ≥ ${Math.floor(n / 2) + 1})`,
    );
  }
  return faultTolerance(n, k);
}

/**
 * One line for status output and logs, e.g.
 * "4 members, threshold 3: tolerates 1 Byzantine and 1 crashed (quorums intersect in 2)".
 */
export function describeFaultTolerance(t: FaultTolerance): string {
  return (
    `${t.members} ${t.members === 1 ? 'member' : 'members'}, threshold ${t.threshold}: ` +
    `tolerates ${t.byzantine} Byzantine and ${t.crashes} crashed ` +
    `(quorums intersect in ${t.intersection})`
  );
}

// ---------------------------------------------------------------- validation

/** Refuses a member name that is not the canonical VatID of an Ed25519 key (a solo vat). */
export function checkMemberVatId(vatId: unknown, where = 'member'): VatId {
  if (typeof vatId !== 'string' || isQuorumVatId(vatId)) {
    refuse('not-a-member-vatid', `${where}: not a solo Ed25519 VatID`);
  }
  try {
    publicKeyOfVatId(vatId);
  } catch {
    refuse(
      'not-a-member-vatid',
      `${where}: ${JSON.stringify(vatId.slice(0, 80))} is not a solo Ed25519 VatID`,
    );
  }
  return vatId;
}

/** Refuses member lists that are not sorted, unique solo VatIDs. */
export function checkMembers(members: unknown): readonly VatId[] {
  if (!Array.isArray(members)) refuse('malformed', 'members: not an array');
  for (const [i, m] of members.entries()) checkMemberVatId(m, `members[${i}]`);
  for (let i = 1; i < members.length; i++) {
    if (members[i] === members[i - 1])
      refuse('duplicate-member', `member ${members[i]} listed twice`);
    if (members[i] < members[i - 1]) refuse('members-not-sorted', 'members must be sorted');
  }
  return members as VatId[];
}

export function checkParams(params: unknown): QuorumParams {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    refuse('bad-params', 'params: not an object');
  }
  const p = params as Record<string, unknown>;
  const keys = Object.keys(PARAM_LIMITS) as (keyof QuorumParams)[];
  const extra = Object.keys(p).filter((x) => !(keys as string[]).includes(x));
  if (extra.length > 0) refuse('bad-params', `params: unknown ${extra.join(', ')}`);
  for (const key of keys) {
    const [min, max] = PARAM_LIMITS[key];
    const v = p[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      refuse('bad-params', `params.${key}: must be an integer in [${min}, ${max}]`);
    }
  }
  return p as unknown as QuorumParams;
}

/** Validates every field of a genesis configuration (shape, arithmetic, keys); returns it. */
export function checkGenesis(genesis: unknown): Genesis {
  if (typeof genesis !== 'object' || genesis === null || Array.isArray(genesis)) {
    refuse('malformed', 'genesis: not an object');
  }
  const g = genesis as Record<string, unknown>;
  const keys = [
    'admin',
    'members',
    'name',
    'nonce',
    'params',
    'sturdyKeys',
    'threshold',
    'version',
  ];
  const own = Object.keys(g)
    .filter((k) => k !== 'vat')
    .sort();
  if (own.length !== keys.length || own.some((k, i) => k !== keys[i])) {
    refuse('malformed', `genesis: keys must be exactly ${keys.join(',')} (and vat, optional)`);
  }
  if (Object.hasOwn(g, 'vat')) checkVatPin(g.vat);
  if (g.version !== 1) refuse('malformed', 'genesis.version: must be 1');
  if (typeof g.name !== 'string' || !NAME.test(g.name)) {
    refuse('malformed', 'genesis.name: 1–64 of [a-z0-9-], not starting or ending with -');
  }
  if (typeof g.nonce !== 'string' || !NONCE.test(g.nonce)) {
    refuse('malformed', 'genesis.nonce: 32 lower-case hex digits');
  }
  const members = checkMembers(g.members);
  checkArithmetic(members.length, g.threshold as number);
  if (typeof g.admin !== 'string' || !HEX64.test(g.admin)) {
    refuse('bad-admin-key', 'genesis.admin: a raw Ed25519 public key, 64 lower-case hex digits');
  }
  checkParams(g.params);
  if (!Array.isArray(g.sturdyKeys)) refuse('bad-sturdy-key', 'genesis.sturdyKeys: not an array');
  for (const [i, key] of g.sturdyKeys.entries()) {
    if (typeof key !== 'string' || !HEX64.test(key)) {
      refuse('bad-sturdy-key', `genesis.sturdyKeys[${i}]: 64 lower-case hex digits`);
    }
    if (i > 0 && key <= (g.sturdyKeys as string[])[i - 1]!) {
      refuse('bad-sturdy-key', 'genesis.sturdyKeys: must be sorted, without duplicates');
    }
  }
  return genesis as Genesis;
}

function checkVatPin(vat: unknown): void {
  if (typeof vat !== 'object' || vat === null || Array.isArray(vat)) {
    refuse('bad-vat', 'genesis.vat: not an object');
  }
  const v = vat as Record<string, unknown>;
  const own = Object.keys(v).sort().join(',');
  if (own !== 'contractSha256,gasLimit') {
    refuse('bad-vat', 'genesis.vat: keys must be exactly contractSha256,gasLimit');
  }
  if (typeof v.contractSha256 !== 'string' || !HEX64.test(v.contractSha256)) {
    refuse('bad-vat', 'genesis.vat.contractSha256: 64 lower-case hex digits');
  }
  if (typeof v.gasLimit !== 'number' || !Number.isSafeInteger(v.gasLimit) || v.gasLimit < 1) {
    refuse('bad-vat', 'genesis.vat.gasLimit: a positive integer');
  }
}

/** The pin of a contract source and gas limit (Genesis.vat). */
export function vatPinOf(contractSource: string, gasLimit: number): VatPin {
  return { contractSha256: contractSha256(contractSource), gasLimit };
}

/**
 * Why a member must not run `contractSource` with `gasLimit` under this genesis (it pins
 * others), or undefined. Running them anyway would diverge from the other members.
 */
export function vatPinProblem(
  genesis: Genesis,
  contractSource: string,
  gasLimit: number,
): string | undefined {
  const pin = genesis.vat;
  if (pin === undefined) return undefined;
  const sha = contractSha256(contractSource);
  if (sha !== pin.contractSha256) {
    return `the contract (sha256 ${sha}) is not the one the quorum's genesis pins (sha256 ${pin.contractSha256}): every member runs the same code`;
  }
  if (gasLimit !== pin.gasLimit) {
    return `the gas limit ${gasLimit} is not the one the quorum's genesis pins (${pin.gasLimit}): every member meters with it`;
  }
  return undefined;
}

/** sha256 (hex) of a contract source, as a genesis pins it. */
export function contractSha256(source: string): string {
  return createHash('sha256').update(source, 'utf8').digest('hex');
}

export interface GenesisInput {
  readonly name: string;
  readonly nonce: string;
  readonly members: readonly VatId[];
  readonly threshold: number;
  readonly admin: string;
  readonly params?: Partial<QuorumParams>;
  readonly sturdyKeys?: readonly string[];
  readonly vat?: VatPin;
}

/** Builds (sorting members and keys) and validates a genesis configuration. */
export function makeGenesis(input: GenesisInput): Genesis {
  const genesis: Genesis = {
    version: 1,
    name: input.name,
    nonce: input.nonce,
    members: [...input.members].sort(),
    threshold: input.threshold,
    admin: input.admin,
    params: { ...DEFAULT_PARAMS, ...input.params },
    sturdyKeys: [...(input.sturdyKeys ?? [])].sort(),
    ...(input.vat !== undefined ? { vat: { ...input.vat } } : {}),
  };
  return deepFreeze(checkGenesis(genesis));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

// ---------------------------------------------------------------- the quorum VatID

/** The canonical bytes of a genesis configuration (what its VatID hashes). */
export function encodeGenesis(genesis: Genesis): Uint8Array {
  return Buffer.from(GENESIS_DOMAIN + canonicalJson(genesis), 'utf8');
}

/** The quorum VatID a (valid) genesis configuration defines. */
export function quorumVatIdOf(genesis: Genesis): VatId {
  checkGenesis(genesis);
  const digest = createHash('sha256').update(encodeGenesis(genesis)).digest();
  return QUORUM_VATID_PREFIX + base58(digest);
}

// 32 bytes take 32 (all zero) to 44 base58 digits; the decoded length is checked as well.
const QUORUM_VATID = /^quorum[1-9A-HJ-NP-Za-km-z]{32,44}$/;

/**
 * Quorum VatIDs already found well-formed. Every signed statement names its quorum, so the same
 * few ids are checked on every vote; the BigInt base58 decode was ~10% of an ordering round.
 * Only well-formed ids are remembered (a malformed one is refused by the regex or the decode
 * each time, as before), and the set is bounded: when full it is emptied, never grown.
 */
const wellFormedQuorumIds = new Set<string>();
const WELL_FORMED_CACHE_MAX = 1024;

/** True for a well-formed quorum VatID (prefix + base58 of a 32-byte hash). */
export function isQuorumVatId(vatId: string): boolean {
  if (wellFormedQuorumIds.has(vatId)) return true;
  if (typeof vatId !== 'string' || !QUORUM_VATID.test(vatId)) return false;
  const bytes = unbase58(vatId.slice(QUORUM_VATID_PREFIX.length));
  if (bytes === undefined || bytes.length !== 32) return false;
  if (wellFormedQuorumIds.size >= WELL_FORMED_CACHE_MAX) wellFormedQuorumIds.clear();
  wellFormedQuorumIds.add(vatId);
  return true;
}

/** Refuses a genesis that does not hash to `quorum` (someone handed us another quorum's). */
export function checkGenesisMatches(quorum: VatId, genesis: unknown): Genesis {
  const g = checkGenesis(genesis);
  if (quorumVatIdOf(g) !== quorum) {
    refuse('genesis-mismatch', `this genesis configuration does not define ${quorum}`);
  }
  return g;
}

/** The epoch-0 configuration of a genesis. */
export function genesisConfig(genesis: Genesis): QuorumConfig {
  return deepFreeze({
    quorum: quorumVatIdOf(genesis),
    name: genesis.name,
    epoch: 0,
    members: [...genesis.members],
    threshold: genesis.threshold,
    admin: genesis.admin,
    params: { ...genesis.params },
    learners: [],
    since: 0,
  });
}

// ---------------------------------------------------------------- lookups on a configuration

/** The member's index in the sorted member list (its bit in a signer bitmap), or -1. */
export function memberIndex(config: QuorumConfig, vatId: VatId): number {
  // n ≤ 64: a linear scan beats building a map per configuration.
  return config.members.indexOf(vatId);
}

export function isMember(config: QuorumConfig, vatId: VatId): boolean {
  return memberIndex(config, vatId) >= 0;
}

export function isLearner(config: QuorumConfig, vatId: VatId): boolean {
  return config.learners.includes(vatId);
}

export function toleranceOf(config: QuorumConfig): FaultTolerance {
  return faultTolerance(config.members.length, config.threshold);
}

/** The raw Ed25519 public key of a member (read off its VatID). */
export function memberPublicKey(vatId: VatId): Uint8Array {
  return publicKeyOfVatId(vatId);
}

// ---------------------------------------------------------------- base58btc

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

function unbase58(text: string): Uint8Array | undefined {
  let n = 0n;
  for (const c of text) {
    const d = ALPHABET.indexOf(c);
    if (d < 0) return undefined;
    n = n * 58n + BigInt(d);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of text) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  const out = Uint8Array.from(bytes);
  return base58(out) === text ? out : undefined;
}
