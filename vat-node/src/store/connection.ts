/**
 * The SQLite connection: how the store's file is opened (one exclusive writer; readers, even
 * on a read-only file system), configured (WAL, fsync policy) and checked by SQLite itself.
 */
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { StoreCorrupt, StoreUnavailable } from './errors.ts';
import { nonEmpty, probeWritable } from './files.ts';
import type { Row } from './rows.ts';

export type Synchronous = 'FULL' | 'NORMAL' | 'OFF';

export function openSqlite(path: string, readOnly: boolean, timeout: number): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly, timeout });
  try {
    // EXCLUSIVE: one kernel owns the store (a second opener gets StoreUnavailable 'busy'),
    // and SQLite keeps the WAL index in memory (no -shm file).
    // A reader uses normal locking: SQLite cannot read a WAL database read-only in
    // exclusive mode (IOERR_LOCK); it still waits for, and is refused by, a running writer.
    if (!readOnly) db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.prepare('PRAGMA application_id').get();
    return db;
  } catch (err) {
    db.close();
    // A WAL database on a read-only file system cannot be opened normally. With no pending
    // WAL, the main file is the whole state: a reader may open it immutable.
    if (!readOnly || nonEmpty(`${path}-wal`) || probeWritable(dirname(path)) === undefined) {
      throw err;
    }
    const url = pathToFileURL(path);
    url.search = 'immutable=1';
    return new DatabaseSync(url, { readOnly, timeout });
  }
}

export function configure(db: DatabaseSync, readOnly: boolean, sync: Synchronous): void {
  db.exec('PRAGMA trusted_schema = OFF');
  db.exec('PRAGMA cell_size_check = ON');
  if (readOnly) return;
  const mode = db.prepare('PRAGMA journal_mode = WAL').get() as Row | undefined;
  if (mode?.journal_mode !== 'wal') {
    throw new StoreUnavailable('io', `cannot switch to WAL mode (${String(mode?.journal_mode)})`);
  }
  db.exec(`PRAGMA synchronous = ${sync}`);
  db.exec('PRAGMA journal_size_limit = 4194304');
  // Take the write lock now: fails at open (not at the first crank) on a read-only file, and
  // holds it (EXCLUSIVE mode) until close.
  db.exec('BEGIN IMMEDIATE');
  db.exec('COMMIT');
}

/** SQLite's own check of the file (`quick_check`, or `integrity_check` when `full`). */
export function integrityCheck(db: DatabaseSync, what: string, full: boolean): void {
  const rows = db.prepare(full ? 'PRAGMA integrity_check(10)' : 'PRAGMA quick_check(10)').all();
  const msgs = rows.map((r) => String(Object.values(r)[0]));
  if (msgs.length !== 1 || msgs[0] !== 'ok') {
    // SQLite's messages name pages and tables, never row contents.
    throw new StoreCorrupt('integrity', `${what} is damaged: ${msgs.slice(0, 3).join('; ')}`);
  }
}
