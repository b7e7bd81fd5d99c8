/**
 * Why a vat node could not start, in one line for the operator: the flag to change and what
 * the system said (no stack trace, no libp2p configuration advice).
 */
import { StoreError } from '../store/kernel-db.ts';

const LISTEN_CODES: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'no such address on this machine',
  EACCES: 'permission denied (ports below 1024 need privileges)',
};

const FS_CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory',
  ENOSPC: 'disk full',
  EEXIST: 'exists and is not a directory',
};

export function describeStartFailure(err: unknown, dataDir: string): string {
  const e = err as Error & { code?: string; path?: string };
  if (e?.name === 'UnsupportedListenAddressesError' || e?.name === 'NoValidAddressesError') {
    const failures = [
      ...String(e.message).matchAll(/(\/ip[46]\/\S+): \w*Error: listen (E[A-Z]+)/g),
    ];
    if (failures.length > 0) {
      return failures
        .map(
          ([, addr, code]) => `cannot listen on ${addr} (--listen): ${LISTEN_CODES[code!] ?? code}`,
        )
        .join('; ');
    }
    return `cannot listen on the --listen addresses (${String(e.message).split('\n')[0]})`;
  }
  if (err instanceof StoreError) {
    if (err.reason === 'busy') {
      return `data directory ${dataDir} is in use by another vat node process (--data-dir)`;
    }
    return `data directory ${dataDir} (--data-dir): ${err.message}`;
  }
  if (typeof e?.code === 'string' && e.code in FS_CODES) {
    return `data directory ${dataDir} (--data-dir): ${FS_CODES[e.code]}${e.path ? ` (${e.path})` : ''}`;
  }
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err).split('\n')[0]}`;
}
