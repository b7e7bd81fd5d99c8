/**
 * Validators of the quorum options (the table is config.ts): each turns one raw value into a
 * checked one or throws ConfigError saying what was expected (parse.ts adds the flag).
 * Files are read here, at parse time, so a bad genesis or key stops the command before it
 * writes or starts anything.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseSignedChange, type SignedChange } from '../../node/http/quorum.ts';
import type { VatId } from '../../protocol/identity.ts';
import { ChainError } from '../../quorum/chain.ts';
import {
  checkGenesis,
  checkMemberVatId,
  type Genesis,
  MAX_MEMBERS,
  QuorumConfigError,
} from '../../quorum/config.ts';
import { ConfigError, integer, readableFile, tcpAddress } from '../values.ts';
import { KeyFileError, type KeyKind, type KeyPair, readKeyFile } from './key-file.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** A member's VatID: the solo Ed25519 VatID `quorumvat identity` prints. */
export function memberVatId(raw: string): VatId {
  const v = raw.trim();
  try {
    return checkMemberVatId(v);
  } catch (e) {
    if (!(e instanceof QuorumConfigError)) throw e;
    throw new ConfigError(
      `expected a member's VatID (12D3KooW…, as quorumvat identity prints it), got "${raw}"`,
    );
  }
}

export const threshold = integer(1, MAX_MEMBERS);

/** A raw Ed25519 public key, 64 hex digits (upper case accepted, stored lower case). */
export function publicKeyHex(raw: string): string {
  const v = raw.trim().toLowerCase();
  if (!HEX64.test(v)) {
    throw new ConfigError(`expected a public key of 64 hex digits, got "${raw}"`);
  }
  return v;
}

function keyFile(kind: KeyKind) {
  return (raw: string): KeyPair => {
    try {
      return readKeyFile(raw, kind);
    } catch (e) {
      if (e instanceof KeyFileError) throw new ConfigError(e.message);
      throw e;
    }
  };
}

export const adminKeyFile = keyFile('admin');
export const sturdyKeyFile = keyFile('sturdy');

/**
 * The administrator's public key: 64 hex digits, or the administrator key file (only its
 * public key is used: a genesis never holds a secret).
 */
export function adminPublicKey(raw: string): string {
  if (HEX64.test(raw.trim().toLowerCase())) return publicKeyHex(raw);
  try {
    statSync(raw);
  } catch {
    throw new ConfigError(
      `expected the administrator's public key (64 hex digits) or its key file, got "${raw}"`,
    );
  }
  return adminKeyFile(raw).publicKey;
}

export function genesisName(raw: string): string {
  if (!/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(raw)) {
    throw new ConfigError(
      `expected 1-64 of a-z 0-9 -, not starting or ending with - (got "${raw}")`,
    );
  }
  return raw;
}

export function nonce(raw: string): string {
  const v = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(v)) throw new ConfigError(`expected 32 hex digits, got "${raw}"`);
  return v;
}

/** A file that does not exist yet, in a directory that does (it is never overwritten). */
export function newFile(raw: string): string {
  if (raw.trim() === '') throw new ConfigError('expected a file name, got an empty string');
  let exists = true;
  try {
    statSync(raw);
  } catch {
    exists = false;
  }
  if (exists) throw new ConfigError(`${raw} exists (it is never overwritten)`);
  try {
    if (!statSync(dirname(raw)).isDirectory()) throw new Error();
  } catch {
    throw new ConfigError(`no directory ${dirname(raw)} for ${raw}`);
  }
  return raw;
}

function jsonFile(raw: string): unknown {
  readableFile(raw);
  try {
    return JSON.parse(readFileSync(raw, 'utf8'));
  } catch {
    throw new ConfigError(`${raw} is not JSON`);
  }
}

/** A genesis configuration file, fully checked (shape, arithmetic, keys). */
export function genesisFile(raw: string): Genesis {
  const doc = jsonFile(raw);
  try {
    return checkGenesis(doc);
  } catch (e) {
    if (!(e instanceof QuorumConfigError)) throw e;
    throw new ConfigError(`${raw} is not a valid genesis: ${e.message}`);
  }
}

/**
 * A configuration chain document (status.ts chainDocument: {quorum, genesis, records}), read
 * as JSON only: it is verified against the genesis by the command (a chain that does not
 * verify is "tampered", not a usage error).
 */
export function chainFile(raw: string): { readonly path: string; readonly text: string } {
  jsonFile(raw);
  return { path: raw, text: readFileSync(raw, 'utf8') };
}

/** A member's HTTP endpoint (its --http): http://host:port, or host:port. */
export function memberEndpoint(raw: string): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ConfigError(
      `expected a member's HTTP endpoint like http://10.0.0.5:9090 or 10.0.0.5:9090, got "${raw}"`,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '') {
    throw new ConfigError(`expected http://HOST:PORT (the member's --http), got "${raw}"`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new ConfigError(`expected only http://HOST:PORT, without a path, got "${raw}"`);
  }
  return `${url.protocol}//${url.host}`;
}

/** An address hint of a member: /ip4|ip6|dns4/…/tcp/PORT/p2p/MEMBER-VATID. */
export function memberHint(raw: string): string {
  const ma = tcpAddress('bootstrap')(raw);
  if (!/\/p2p\/[^/]+$/.test(ma)) {
    throw new ConfigError(`expected a member's address ending in /p2p/VATID, got "${raw}"`);
  }
  return ma;
}

/** A signed change request file (quorum change --out): its shape checked, not its signature. */
export function signedChangeFile(raw: string): SignedChange {
  jsonFile(raw);
  const text = readFileSync(raw, 'utf8');
  try {
    return parseSignedChange(text);
  } catch (e) {
    if (!(e instanceof ChainError)) throw e;
    throw new ConfigError(
      `${raw} is not a signed change request (quorum change --out): ${e.message}`,
    );
  }
}
