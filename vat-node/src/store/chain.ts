/**
 * The transcript hash chain as pure functions, shared by the kernel's in-memory `Transcript`
 * and the durable store: `hash_n = sha256(hash_{n-1} || sha256(entry_n))`, where `entry_n` is
 * the crank's entry as a JSON string (`JSON.stringify([delivery, outcome])`) and `hash_0` is
 * 32 zero bytes. Hashes travel as lowercase hex.
 */
import { createHash, hash } from 'node:crypto';

/** The hash before the first crank: 32 zero bytes, in hex. */
export const GENESIS_HASH = '0'.repeat(64);

const HEX_HASH = /^[0-9a-f]{64}$/;

/** True when `h` is a 64-digit lowercase hex string (the form every chain hash takes). */
export function isChainHash(h: unknown): h is string {
  return typeof h === 'string' && HEX_HASH.test(h);
}

/** sha256(prev || sha256(entryJson)), prev given and returned as hex. */
export function chainHash(prevHex: string, entryJson: string): string {
  const entryDigest = hash('sha256', entryJson, 'buffer');
  return createHash('sha256').update(Buffer.from(prevHex, 'hex')).update(entryDigest).digest('hex');
}

/** The entry string the chain hashes for one crank (what the kernel must store verbatim). */
export function entryJson(delivery: unknown, outcome: unknown): string {
  return JSON.stringify([delivery, outcome]);
}
