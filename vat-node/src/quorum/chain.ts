/**
 * The configuration chain: genesis, then one signed record per membership or threshold change.
 * Anyone holding the quorum VatID, the genesis and the records can check every configuration
 * from genesis to now (verifyChain); nothing else is trusted.
 *
 * A record moves epoch e to e + 1 and carries:
 *   - the change REQUEST {quorum, epoch: e, change}, signed by the administrator key of the
 *     genesis (who may ask: the trust model in the README). The request names the epoch it
 *     applies to, so it cannot be replayed in a later epoch;
 *   - the order POSITION at which the quorum decided it (the change is an ordered input like any
 *     other), so every member switches at the same point: epoch e + 1 applies to positions after
 *     it (config.since = position + 1), and positions strictly increase along the chain;
 *   - a CERTIFICATE: k members of epoch e signed {quorum, epoch: e, position, request digest}.
 *     The administrator alone cannot change the configuration; k members alone cannot either
 *     (without a request), and members removed earlier no longer count.
 *
 * Changes: add one member, remove one member (each naming the resulting threshold, so a quorum
 * grows (3,2) → (4,3) in one step instead of passing through (3,3), which tolerates no crash),
 * change the threshold, or admit / dismiss one learner (a host that catches up without voting;
 * adding it as a member later votes it in). One member at a time: a record that adds or removes two members, or
 * two records for one epoch, are refused. Every resulting configuration must pass the arithmetic
 * of config.ts (2k > n, k ≤ n).
 */

import type { VatId } from '../protocol/identity.ts';
import { canonicalJson } from '../vattp/codec.ts';
import { type Sign, verifySignature } from '../vattp/signing.ts';
import {
  type Certificate,
  type CertificateCheck,
  CertificateError,
  certificateSigners,
  checkCertificateShape,
  verifyCertificate,
} from './certificate.ts';
import {
  checkArithmetic,
  checkGenesisMatches,
  checkMemberVatId,
  type Genesis,
  genesisConfig,
  MAX_MEMBERS,
  type QuorumConfig,
  QuorumConfigError,
} from './config.ts';
import { digestHex, signatureFromText, statementBytes } from './signatures.ts';

export type ConfigChange =
  /** A voting member (a learner being voted in, or a new host directly), with the new k. */
  | { readonly op: 'add'; readonly member: VatId; readonly threshold: number }
  | { readonly op: 'remove'; readonly member: VatId; readonly threshold: number }
  | { readonly op: 'threshold'; readonly threshold: number }
  /** Admit a host to catch up without voting; k and the members stay as they are. */
  | { readonly op: 'add-learner'; readonly member: VatId }
  | { readonly op: 'remove-learner'; readonly member: VatId };

export interface ChangeRequest {
  readonly quorum: VatId;
  /** The epoch the change applies to (the new configuration is epoch + 1). */
  readonly epoch: number;
  readonly change: ConfigChange;
}

export interface ChainRecord {
  readonly request: ChangeRequest;
  /** The administrator's signature on the request statement, base64url. */
  readonly admin: string;
  /** The order position at which the quorum decided the change. */
  readonly position: number;
  /** k members of epoch `request.epoch` certifying the decision (changeStatement). */
  readonly certificate: Certificate;
}

export type ChainReason =
  | 'malformed'
  | 'one-member-at-a-time'
  | 'genesis-mismatch'
  | 'wrong-quorum'
  | 'stale-epoch'
  | 'skipped-epoch'
  | 'bad-admin-signature'
  | 'position-not-increasing'
  | 'already-a-member'
  | 'not-a-member'
  | 'already-a-learner'
  | 'not-a-learner'
  | 'threshold-unchanged'
  | 'bad-configuration'
  | 'too-few-live-members'
  | 'certificate-wrong-epoch'
  | 'too-few-member-signatures'
  | 'bad-member-signature';

export class ChainError extends Error {
  override name = 'ChainError';
  readonly reason: ChainReason;
  /** Index of the offending record (-1: the genesis). */
  readonly index: number;
  constructor(reason: ChainReason, message: string, index = -1) {
    super(index >= 0 ? `record ${index}: ${message}` : message);
    this.reason = reason;
    this.index = index;
  }
}

function refuse(reason: ChainReason, message: string): never {
  throw new ChainError(reason, message);
}

// ---------------------------------------------------------------- shapes of untrusted data

function exactKeys(v: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    refuse('malformed', `${where}: not an object`);
  const own = Object.keys(v).sort();
  if (own.join(',') !== [...keys].sort().join(',')) {
    refuse('malformed', `${where}: keys must be exactly ${keys.join(',')}`);
  }
  return v as Record<string, unknown>;
}

function uint(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || Object.is(v, -0))
    refuse('malformed', `${where}: not an integer >= 0`);
  return v;
}

/** Validates a change; anything touching more than one member is refused as such. */
export function checkChange(v: unknown): ConfigChange {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    refuse(Array.isArray(v) ? 'one-member-at-a-time' : 'malformed', 'change: one change object');
  }
  const o = v as Record<string, unknown>;
  if ('members' in o || Array.isArray(o.member)) {
    refuse('one-member-at-a-time', 'change: add or remove one member at a time');
  }
  switch (o.op) {
    case 'add':
    case 'remove': {
      exactKeys(o, 'change', ['member', 'op', 'threshold']);
      if (typeof o.member !== 'string') refuse('malformed', 'change.member: not a VatID');
      return { op: o.op, member: o.member, threshold: uint(o.threshold, 'change.threshold') };
    }
    case 'threshold':
      exactKeys(o, 'change', ['op', 'threshold']);
      return { op: 'threshold', threshold: uint(o.threshold, 'change.threshold') };
    case 'add-learner':
    case 'remove-learner':
      exactKeys(o, 'change', ['member', 'op']);
      if (typeof o.member !== 'string') refuse('malformed', 'change.member: not a VatID');
      return { op: o.op, member: o.member };
    default:
      refuse('malformed', 'change.op: add, remove, threshold, add-learner or remove-learner');
  }
}

export function checkRequest(v: unknown): ChangeRequest {
  const o = exactKeys(v, 'request', ['change', 'epoch', 'quorum']);
  if (typeof o.quorum !== 'string') refuse('malformed', 'request.quorum: not a VatID');
  return { quorum: o.quorum, epoch: uint(o.epoch, 'request.epoch'), change: checkChange(o.change) };
}

export function checkRecord(v: unknown): ChainRecord {
  if (Array.isArray(v)) refuse('one-member-at-a-time', 'one record per change');
  const o = exactKeys(v, 'record', ['admin', 'certificate', 'position', 'request']);
  if (typeof o.admin !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(o.admin)) {
    refuse('malformed', 'record.admin: not a base64url signature');
  }
  let certificate: Certificate;
  try {
    certificate = checkCertificateShape(o.certificate);
  } catch (err) {
    refuse('malformed', `record.${(err as Error).message}`);
  }
  return {
    request: checkRequest(o.request),
    admin: o.admin,
    position: uint(o.position, 'record.position'),
    certificate,
  };
}

// ---------------------------------------------------------------- one step

/** The configuration a change makes of `config`, effective from order position `since`. */
export function applyChange(
  config: QuorumConfig,
  change: ConfigChange,
  since: number,
): QuorumConfig {
  const checked = checkChange(change);
  let members = [...config.members];
  let learners = [...config.learners];
  let threshold = config.threshold;
  const solo = (member: VatId) => {
    try {
      checkMemberVatId(member, 'change.member');
    } catch (err) {
      refuse('malformed', (err as Error).message);
    }
  };
  switch (checked.op) {
    case 'add':
      solo(checked.member);
      if (members.includes(checked.member)) {
        refuse('already-a-member', `${checked.member} is already a member`);
      }
      members = [...members, checked.member].sort();
      learners = learners.filter((l) => l !== checked.member); // a learner voted in
      threshold = checked.threshold;
      break;
    case 'remove':
      if (!members.includes(checked.member)) {
        refuse('not-a-member', `${checked.member} is not a member`);
      }
      members = members.filter((m) => m !== checked.member);
      threshold = checked.threshold;
      break;
    case 'threshold':
      if (checked.threshold === config.threshold) {
        refuse('threshold-unchanged', `threshold is already ${checked.threshold}`);
      }
      threshold = checked.threshold;
      break;
    case 'add-learner':
      solo(checked.member);
      if (members.includes(checked.member)) {
        refuse('already-a-member', `${checked.member} is already a member`);
      }
      if (learners.includes(checked.member)) {
        refuse('already-a-learner', `${checked.member} is already a learner`);
      }
      if (learners.length >= MAX_MEMBERS)
        refuse('bad-configuration', `at most ${MAX_MEMBERS} learners`);
      learners = [...learners, checked.member].sort();
      break;
    case 'remove-learner':
      if (!learners.includes(checked.member)) {
        refuse('not-a-learner', `${checked.member} is not a learner`);
      }
      learners = learners.filter((l) => l !== checked.member);
      break;
  }
  try {
    checkArithmetic(members.length, threshold);
  } catch (err) {
    if (!(err instanceof QuorumConfigError)) throw err;
    refuse('bad-configuration', `refused: ${err.message}`);
  }
  return Object.freeze({
    ...config,
    epoch: config.epoch + 1,
    members: Object.freeze(members),
    learners: Object.freeze(learners),
    threshold,
    since,
  });
}

// ---------------------------------------------------------------- statements

/** The statement the administrator signs to request a change. */
export function requestStatement(request: ChangeRequest): Uint8Array {
  return statementBytes('change-request', {
    quorum: request.quorum,
    epoch: request.epoch,
    change: request.change,
  });
}

/** The statement k members of epoch `request.epoch` sign once the change is decided at `position`. */
export function changeStatement(request: ChangeRequest, position: number): Uint8Array {
  return statementBytes('config-change', {
    quorum: request.quorum,
    epoch: request.epoch,
    position,
    request: digestHex(requestStatement(request)),
  });
}

/** The administrator's side: a signed request to change `config`. */
export function requestChange(
  adminSign: Sign,
  config: QuorumConfig,
  change: ConfigChange,
): { request: ChangeRequest; admin: string } {
  const request: ChangeRequest = { quorum: config.quorum, epoch: config.epoch, change };
  applyChange(config, change, config.since); // refuse a bad change before anyone signs it
  return {
    request,
    admin: Buffer.from(adminSign(requestStatement(request))).toString('base64url'),
  };
}

/**
 * A member's (and the ordering core's) check of a request before it is ordered or certified:
 * right quorum, the current epoch, the genesis administrator's signature, a valid change.
 * Returns the configuration the change makes (effective after `position`).
 */
export function checkSignedRequest(
  config: QuorumConfig,
  request: ChangeRequest,
  admin: string,
  position: number,
): QuorumConfig {
  const r = checkRequest(request);
  if (r.quorum !== config.quorum)
    refuse('wrong-quorum', `request for ${r.quorum}, not ${config.quorum}`);
  if (r.epoch < config.epoch) {
    refuse(
      'stale-epoch',
      `request for epoch ${r.epoch}, already at epoch ${config.epoch} (replayed or superseded)`,
    );
  }
  if (r.epoch > config.epoch)
    refuse('skipped-epoch', `request for epoch ${r.epoch}, at epoch ${config.epoch}`);
  const signature = signatureFromText(admin);
  if (
    signature === undefined ||
    !verifySignature(Buffer.from(config.admin, 'hex'), requestStatement(r), signature)
  ) {
    refuse('bad-admin-signature', 'request not signed by the administrator key of the genesis');
  }
  if (position < config.since) {
    refuse(
      'position-not-increasing',
      `decided at position ${position}, epoch ${config.epoch} starts at ${config.since}`,
    );
  }
  return applyChange(config, r.change, position + 1);
}

// ---------------------------------------------------------------- the chain

/** Checks one record against the configuration before it; returns the next configuration. */
export function verifyRecord(config: QuorumConfig, record: unknown): QuorumConfig {
  const r = checkRecord(record);
  const next = checkSignedRequest(config, r.request, r.admin, r.position);
  const check = verifyCertificate(config, changeStatement(r.request, r.position), r.certificate);
  if (!check.ok) {
    const reason: Record<string, ChainReason> = {
      'wrong-epoch': 'certificate-wrong-epoch',
      'too-few-signers': 'too-few-member-signatures',
      'bad-signature': 'bad-member-signature',
      malformed: 'malformed',
      'not-a-member': 'bad-member-signature',
    };
    refuse(reason[check.reason] ?? 'malformed', `certificate: ${check.message}`);
  }
  return next;
}

/**
 * Verifies a whole chain from genesis, given only the quorum VatID: the genesis must hash to it,
 * and every record must follow from the configuration before it. Returns the configuration of
 * every epoch (index = epoch). Throws ChainError naming the first bad record and why.
 */
export function verifyChain(
  quorum: VatId,
  genesis: unknown,
  records: readonly unknown[],
): readonly QuorumConfig[] {
  let g: Genesis;
  try {
    g = checkGenesisMatches(quorum, genesis);
  } catch (err) {
    if (!(err instanceof QuorumConfigError)) throw err;
    throw new ChainError(
      err.reason === 'genesis-mismatch' ? 'genesis-mismatch' : 'malformed',
      err.message,
    );
  }
  const configs = [genesisConfig(g)];
  for (const [i, record] of records.entries()) {
    try {
      configs.push(verifyRecord(configs.at(-1)!, record));
    } catch (err) {
      if (err instanceof ChainError) throw new ChainError(err.reason, err.message, i);
      if (err instanceof CertificateError) throw new ChainError('malformed', err.message, i);
      throw err;
    }
  }
  return configs;
}

/**
 * A verified chain that grows one record at a time (a receiver learning a quorum's changes, a
 * member applying a decided change). Keeps every epoch's configuration: a certificate or a
 * position is checked against the epoch it belongs to.
 */
export class ConfigChain {
  readonly quorum: VatId;
  readonly genesis: Genesis;
  readonly #configs: QuorumConfig[];
  readonly #records: ChainRecord[] = [];

  constructor(quorum: VatId, genesis: unknown, records: readonly unknown[] = []) {
    const configs = verifyChain(quorum, genesis, records);
    this.quorum = quorum;
    this.genesis = genesis as Genesis;
    this.#configs = [...configs];
    this.#records = records.map(checkRecord);
  }

  get current(): QuorumConfig {
    return this.#configs.at(-1)!;
  }

  get records(): readonly ChainRecord[] {
    return this.#records;
  }

  /** The configuration of an epoch (undefined if not reached). */
  configAt(epoch: number): QuorumConfig | undefined {
    return this.#configs[epoch];
  }

  /** The configuration that governs order position `position`. */
  configAtPosition(position: number): QuorumConfig {
    for (let e = this.#configs.length - 1; e > 0; e--) {
      if (position >= this.#configs[e]!.since) return this.#configs[e]!;
    }
    return this.#configs[0]!;
  }

  /**
   * True when k members of the CURRENT configuration signed `statement`: the certificate may be
   * of any epoch of this chain (given before a change, presented after it), but only its signers
   * who are still members count, against the current threshold. Removed members never count.
   */
  verifyCurrent(statement: Uint8Array, cert: Certificate): CertificateCheck {
    const epoch = (cert as { epoch?: unknown })?.epoch;
    const config = typeof epoch === 'number' ? this.configAt(epoch) : undefined;
    if (config === undefined) {
      return {
        ok: false,
        reason: 'wrong-epoch',
        message: `no epoch ${String(epoch)} in this chain`,
      };
    }
    const check = certificateSigners(config, statement, cert);
    if (!check.ok) return check;
    const current = this.current;
    const counted = check.signers.filter((m) => current.members.includes(m));
    if (counted.length < current.threshold) {
      return {
        ok: false,
        reason: 'too-few-signers',
        message: `${counted.length} of the signers are members of epoch ${current.epoch}, threshold ${current.threshold}`,
      };
    }
    return { ok: true, signers: counted };
  }

  /**
   * Appends the next record. A record already in the chain is 'duplicate' (retransmissions are
   * normal; another member's certificate of the same change too); anything else that does not follow throws ChainError and changes nothing.
   */
  append(record: unknown): 'appended' | 'duplicate' {
    const r = checkRecord(record);
    const known = this.#records[r.request.epoch];
    if (known !== undefined && sameChange(known, r)) return 'duplicate';
    try {
      this.#configs.push(verifyRecord(this.current, r));
    } catch (err) {
      if (err instanceof ChainError)
        throw new ChainError(err.reason, err.message, this.#records.length);
      throw err;
    }
    this.#records.push(r);
    return 'appended';
  }
}

/**
 * Two records of one epoch that decide the same change at the same position: one record, even
 * if their certificates differ (each member assembles k signatures of its own; any k of them
 * certify the same thing). Two records that differ here are a real conflict.
 */
export function sameChange(a: ChainRecord, b: ChainRecord): boolean {
  return (
    canonicalJson(a.request) === canonicalJson(b.request) &&
    a.admin === b.admin &&
    a.position === b.position
  );
}
