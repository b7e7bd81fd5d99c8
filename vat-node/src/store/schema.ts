/**
 * The store's file format: its header (`application_id`, `user_version`), its tables, how a
 * new store is created (complete, then renamed into place) and how an existing one is
 * recognised. A store of any other schema version is refused (StoreCorrupt 'schema'): there is
 * one version so far, so no migration yet.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GENESIS_HASH } from './chain.ts';
import { classify, exists, StoreCorrupt, StoreUnavailable } from './errors.ts';
import { fsyncPath, probeWritable } from './files.ts';
import { type Row, stateDigest } from './rows.ts';

/** `PRAGMA application_id` of a quorumvat store ('QVAT'): anything else is a foreign file. */
export const APPLICATION_ID = 0x51564154;
/** `PRAGMA user_version`: the schema this code reads and writes. */
export const SCHEMA_VERSION = 1;

/**
 * - `kv`: all live kernel state, string keys and values with a row checksum (rows.ts).
 * - `transcript`: one row per crank since the checkpoint (transcript-rows.ts).
 * - `checkpoint` + `checkpoint_meta`: a copy of the vat store's rows at a transcript position,
 *   and where it stands (checkpoints.ts).
 */
const SCHEMA: readonly (readonly [string, string])[] = [
  [
    'kv',
    'CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL, sum TEXT NOT NULL) WITHOUT ROWID',
  ],
  [
    'transcript',
    'CREATE TABLE transcript(pos INTEGER PRIMARY KEY, entry TEXT NOT NULL, hash TEXT NOT NULL)',
  ],
  [
    'checkpoint',
    'CREATE TABLE checkpoint(key TEXT PRIMARY KEY, value TEXT NOT NULL, sum TEXT NOT NULL) WITHOUT ROWID',
  ],
  [
    'checkpoint_meta',
    'CREATE TABLE checkpoint_meta(id INTEGER PRIMARY KEY CHECK (id = 1), prefix TEXT NOT NULL, ' +
      'position INTEGER NOT NULL, hash TEXT NOT NULL, rows INTEGER NOT NULL, ' +
      'bytes INTEGER NOT NULL, digest TEXT NOT NULL)',
  ],
];

/** StoreCorrupt unless `db` is a quorumvat store of this schema version with exactly our tables. */
export function checkHeaderAndSchema(db: DatabaseSync, what: string): void {
  const app = Number((db.prepare('PRAGMA application_id').get() as Row).application_id);
  const version = Number((db.prepare('PRAGMA user_version').get() as Row).user_version);
  if (app !== APPLICATION_ID) {
    throw new StoreCorrupt('foreign', `${what} is not a quorumvat store (application_id ${app})`);
  }
  if (version !== SCHEMA_VERSION) {
    throw new StoreCorrupt(
      'schema',
      `${what} has schema version ${version}, this node reads ${SCHEMA_VERSION}`,
    );
  }
  const rows = db
    .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all();
  const want = [...SCHEMA].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const ok =
    rows.length === want.length &&
    rows.every((r, i) => r.name === want[i]![0] && r.sql === want[i]![1]);
  if (!ok) throw new StoreCorrupt('schema', `${what} does not have the expected tables`);
}

/** Creates a new store under a temporary name and renames it into place once complete. */
export function createStore(dataDir: string, path: string): void {
  const tmp = `${path}.init`;
  try {
    mkdirSync(dataDir, { recursive: true });
    rmSync(tmp, { force: true });
    rmSync(`${tmp}-wal`, { force: true });
    rmSync(`${tmp}-journal`, { force: true });
    const db = new DatabaseSync(tmp);
    try {
      db.exec('PRAGMA journal_mode = DELETE');
      // Pages freed by a checkpoint (old transcript rows) go back to the file system
      // (incremental_vacuum after each checkpoint): the file follows live state, not history.
      db.exec('PRAGMA auto_vacuum = INCREMENTAL');
      db.exec('BEGIN');
      for (const [, sql] of SCHEMA) db.exec(sql);
      db.prepare(
        "INSERT INTO checkpoint_meta(id, prefix, position, hash, rows, bytes, digest) VALUES (1, 'vs.', 0, ?, 0, 0, ?)",
      ).run(GENESIS_HASH, stateDigest([]));
      db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      db.exec('COMMIT');
      db.exec('PRAGMA journal_mode = WAL');
    } finally {
      db.close();
    }
    fsyncPath(tmp);
    renameSync(tmp, path);
    fsyncPath(dataDir);
  } catch (err) {
    const mapped = classify(err, dataDir, `cannot create store ${path}`);
    if (mapped !== err) throw mapped;
    // mkdir -p reports ENOENT, not EROFS, under a read-only parent: ask the nearest existing one.
    let dir = dataDir;
    while (!exists(dir) && dirname(dir) !== dir) dir = dirname(dir);
    const why = probeWritable(dir);
    if (why === undefined) throw err;
    throw new StoreUnavailable(
      'read-only',
      `cannot create store ${path}: ${dir} is not writable: ${why}`,
      {
        cause: err,
      },
    );
  }
}
