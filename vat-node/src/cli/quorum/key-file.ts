/**
 * Key files the quorum commands write and read: the administrator key (whoever holds it may
 * REQUEST membership changes) and sturdyref keys of a quorum vat (whoever holds one may redeem
 * it). Both are raw Ed25519 key pairs generated here, OUTSIDE every member: a member only ever
 * sees the public key (in the genesis or a signed request).
 *
 * Format: one JSON object {"type", "publicKey": 64 hex, "secret": 64 hex (the seed)}, written
 * 0600 from the first byte and never over an existing file (a lost administrator key cannot be
 * replaced: its public key is hashed into the quorum VatID). A file that group or others can
 * read is refused, as the node refuses its own key.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { sturdyKey } from '../../kernel/sturdyref.ts';
import { makeSigner, type Sign } from '../../vattp/signing.ts';

export type KeyKind = 'admin' | 'sturdy';

const TYPE: Record<KeyKind, string> = {
  admin: 'quorumvat-admin-key',
  sturdy: 'quorumvat-sturdy-key',
};

export interface KeyPair {
  readonly kind: KeyKind;
  /** Raw Ed25519 public key, 64 lower-case hex digits. */
  readonly publicKey: string;
  /** The 32-byte seed. */
  readonly secret: Uint8Array;
}

/** Why a key file cannot be used (KeyFileError.message is one line naming the file). */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

export function newKeyPair(kind: KeyKind): KeyPair {
  const secret = randomBytes(32);
  return { kind, publicKey: sturdyKey(secret), secret };
}

/**
 * Writes `content` to a new file, 0600 from the first byte, synced. Throws KeyFileError if the
 * file exists (never overwritten) or cannot be created.
 */
export function writeNewFile(path: string, content: string, mode = 0o600): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyFileError(
      code === 'EEXIST'
        ? `${path} exists (not overwritten)`
        : `cannot create ${path} (${code ?? (e as Error).message})`,
    );
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeKeyFile(path: string, key: KeyPair): void {
  const body = {
    type: TYPE[key.kind],
    publicKey: key.publicKey,
    secret: Buffer.from(key.secret).toString('hex'),
  };
  writeNewFile(path, `${JSON.stringify(body, null, 2)}\n`);
}

/** Reads and checks a key file of `kind`: private to its owner, well formed, consistent. */
export function readKeyFile(path: string, kind: KeyKind): KeyPair {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile()) throw new KeyFileError(`${path} is not a file`);
    if ((info.mode & 0o077) !== 0) {
      throw new KeyFileError(
        `${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyFileError(`${path} is not a ${TYPE[kind]} file (not JSON)`);
  }
  const d = doc as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null || d.type !== TYPE[kind]) {
    const other = (Object.keys(TYPE) as KeyKind[]).find((k) => TYPE[k] === d?.type);
    throw new KeyFileError(
      `${path} is ${other ? `a ${TYPE[other]}` : 'not a key'} file, not a ${TYPE[kind]} file`,
    );
  }
  if (typeof d.secret !== 'string' || !/^[0-9a-f]{64}$/.test(d.secret)) {
    throw new KeyFileError(`${path}: secret is not 64 hex digits`);
  }
  const secret = Buffer.from(d.secret, 'hex');
  const publicKey = sturdyKey(secret);
  if (d.publicKey !== publicKey) {
    throw new KeyFileError(`${path}: publicKey does not belong to its secret (damaged file)`);
  }
  return { kind, publicKey, secret };
}

/** Signs with a key pair (the administrator's change requests). */
export function signerOf(key: KeyPair): Sign {
  return makeSigner(key.secret, Buffer.from(key.publicKey, 'hex'));
}
