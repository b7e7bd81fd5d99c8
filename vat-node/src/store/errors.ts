/**
 * The store's errors, and the one mapping from SQLite result codes and file-system errors to
 * them. `reason` is a stable machine-readable tag. Messages never include keys or values
 * (they may be secrets of the vat).
 */
import { pathExists, probeWritable } from './files.ts';

/** Base class of the store's own errors. `reason` is a stable machine-readable tag. */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * The data directory holds something that is not a sound quorumvat store: not SQLite, a
 * foreign or newer schema, a damaged file, a checksum, checkpoint or hash-chain mismatch.
 * Never retry: restore from a replica or a backup.
 */
export class StoreCorrupt extends StoreError {
  override name = 'StoreCorrupt';
}

/**
 * The store cannot be written (disk full, read-only file system or file, I/O error) or is
 * locked by another process. Nothing already committed is lost; the failed operation left
 * no trace. The node must refuse new work until the cause is fixed.
 */
export class StoreUnavailable extends StoreError {
  override name = 'StoreUnavailable';
}

/** SQLite primary result codes we map. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** Maps SQLite and file-system errors to StoreCorrupt / StoreUnavailable; others pass through. */
export function classify(err: unknown, dataDir: string, context: string): unknown {
  if (err instanceof StoreError || err instanceof TypeError) return err;
  const e = err as { errcode?: unknown; code?: unknown; message?: unknown };
  const cause = { cause: err };
  if (typeof e.errcode === 'number') {
    const sqlite = `SQLite ${e.errcode}: ${String(e.message)}`;
    const diskFull = () =>
      new StoreUnavailable('disk-full', `${context}: disk full in ${dataDir} (${sqlite})`, cause);
    switch (e.errcode & 0xff) {
      case SQLITE_FULL:
        return diskFull();
      case SQLITE_READONLY:
        return new StoreUnavailable(
          'read-only',
          `${context}: ${dataDir} is read-only (${sqlite})`,
          cause,
        );
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return new StoreUnavailable(
          'busy',
          `${context}: ${dataDir} is in use by another process (${sqlite})`,
          cause,
        );
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return new StoreCorrupt(
          'integrity',
          `${context}: damaged or not a database (${sqlite})`,
          cause,
        );
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN: {
        // SQLite says only "I/O error": ask the file system what it is.
        const why = probeWritable(dataDir);
        if (why === 'ENOSPC') return diskFull();
        if (why !== undefined) {
          return new StoreUnavailable(
            'read-only',
            `${context}: ${dataDir} is not writable: ${why} (${sqlite})`,
            cause,
          );
        }
        return new StoreUnavailable('io', `${context}: I/O error in ${dataDir} (${sqlite})`, cause);
      }
    }
    return err;
  }
  const code = e.code;
  if (code === 'ENOSPC')
    return new StoreUnavailable('disk-full', `${context}: disk full (${code})`, cause);
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new StoreUnavailable('read-only', `${context}: not writable (${code})`, cause);
  }
  if (code === 'EIO') return new StoreUnavailable('io', `${context}: I/O error (${code})`, cause);
  return err;
}

/** `pathExists`, with a file-system error other than ENOENT mapped (classify). */
export function exists(path: string): boolean {
  try {
    return pathExists(path);
  } catch (err) {
    throw classify(err, path, `cannot stat ${path}`);
  }
}
