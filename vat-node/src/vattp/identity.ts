/**
 * A vat's identity: one Ed25519 key, created on first start in the data directory and loaded
 * afterwards. The same key is the libp2p node key, so the VatID is the host's PeerId string
 * and knowing a VatID is enough to look its host up in the Kad-DHT. The key is never logged:
 * HostIdentity keeps it out of JSON and util.inspect output.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { ProtocolError } from '../protocol/errors.ts';
import type { VatId, VatIdentity } from '../protocol/identity.ts';
import { makeSigner, type Sign, verifySignature } from './signing.ts';

/** File name of the key in the data directory: libp2p's protobuf private-key encoding. */
export const KEY_FILE = 'vat-key.pb';

/**
 * The vat's identity (protocol/identity.ts: sign, and verify others by VatID) with the key
 * material a libp2p host needs.
 */
export interface HostIdentity extends VatIdentity {
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly sign: Sign;
  /** For the libp2p host only (its node key). */
  readonly privateKey: Ed25519PrivateKey;
}

/** True only for a valid signature by `signer`; false for anything that is not a VatID. */
export function verifyByVatId(signer: VatId, data: Uint8Array, signature: Uint8Array): boolean {
  let key: Uint8Array;
  try {
    key = publicKeyOfVatId(signer);
  } catch {
    return false;
  }
  return verifySignature(key, data, signature);
}

function identityOf(privateKey: Ed25519PrivateKey): HostIdentity {
  const publicKey = privateKey.publicKey.raw;
  // libp2p's raw Ed25519 private key is seed (32) || public key (32).
  const sign = makeSigner(privateKey.raw.subarray(0, 32), publicKey);
  const vatId = peerIdFromPrivateKey(privateKey).toString();
  const identity = { vatId, publicKey, sign, verify: verifyByVatId, privateKey };
  // A stray log line or JSON dump of the identity must not carry the key.
  Object.defineProperty(identity, 'privateKey', { enumerable: false });
  Object.defineProperty(identity, 'toJSON', { enumerable: false, value: () => ({ vatId }) });
  Object.defineProperty(identity, Symbol.for('nodejs.util.inspect.custom'), {
    enumerable: false,
    value: () => `HostIdentity(${vatId})`,
  });
  return Object.freeze(identity);
}

/** A fresh identity that lives only in memory (tests, throw-away clients). */
export async function ephemeralIdentity(): Promise<HostIdentity> {
  return identityOf(await generateKeyPair('Ed25519'));
}

/**
 * Creates `path` with `data` atomically (0600 from the first byte): write and fsync a temporary
 * file, then link it into place. link() fails if `path` exists, so two processes starting on
 * the same data directory cannot each end up with a different key: the loser returns false.
 */
function createFileAtomic(path: string, data: Uint8Array): boolean {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads the vat key from `dataDir`, creating directory and key on first start. Refuses a key
 * file that group or others can read, as ssh does: such a key may already be compromised.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<HostIdentity> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, KEY_FILE);
  let bytes: Uint8Array;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error(`vat key ${path} is not a regular file`);
    if ((info.mode & 0o077) !== 0) {
      throw new Error(
        `vat key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const key = await generateKeyPair('Ed25519');
    const created = createFileAtomic(path, privateKeyToProtobuf(key));
    fsyncDir(dataDir);
    if (created) return identityOf(key);
    return loadOrCreateIdentity(dataDir); // another process created it first: use theirs
  }
  const key = privateKeyFromProtobuf(bytes);
  if (key.type !== 'Ed25519') throw new Error(`vat key ${path} is ${key.type}, not Ed25519`);
  return identityOf(key);
}

const publicKeys = new Map<VatId, Uint8Array>();

/**
 * The raw 32-byte Ed25519 public key a VatID names. Throws ProtocolError for anything that is
 * not the canonical string of an Ed25519 PeerId (other key types, CID forms, garbage).
 */
export function publicKeyOfVatId(vatId: VatId): Uint8Array {
  const known = publicKeys.get(vatId);
  if (known !== undefined) return known;
  let peerId: ReturnType<typeof peerIdFromString>;
  try {
    peerId = peerIdFromString(vatId);
  } catch {
    throw new ProtocolError('bad-vat-id', 'not a VatID');
  }
  if (peerId.type !== 'Ed25519' || peerId.toString() !== vatId) {
    throw new ProtocolError('bad-vat-id', 'not the canonical VatID of an Ed25519 key');
  }
  const raw = peerId.publicKey.raw;
  if (publicKeys.size >= 4096) publicKeys.clear();
  publicKeys.set(vatId, raw);
  return raw;
}
