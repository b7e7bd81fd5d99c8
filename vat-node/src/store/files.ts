/**
 * The store's files on disk: the name of the database in a data directory, and the
 * file-system probes the store needs (existence, size, fsync, can this directory be written).
 */
import { accessSync, closeSync, constants, fsyncSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the store inside the data directory. */
export const DB_FILE = 'vat.sqlite';

/** True if `path` exists; false on ENOENT; any other error is thrown as it is. */
export function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

export function nonEmpty(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

export function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Why the directory cannot be written, if it cannot (root ignores mode bits, not EROFS). */
export function probeWritable(dataDir: string): string | undefined {
  for (const p of [join(dataDir, DB_FILE), join(dataDir, `${DB_FILE}-wal`), dataDir]) {
    try {
      accessSync(p, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      return code;
    }
  }
  return undefined;
}
