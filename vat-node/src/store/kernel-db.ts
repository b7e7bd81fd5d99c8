/**
 * The kernel's durable state: one SQLite file per vat node data directory (`node:sqlite`, no
 * native addon), holding every piece of kernel state as string keys and values, the transcript
 * since the last checkpoint (a hash chain) and the checkpoint itself.
 *
 * - `kv`: all live kernel state. The kernel namespaces keys (`vs.` vat store, `clist.`,
 *   `peer.`, `prom.`, `out.<peer>.<seq>`, `runq.`, `meta.`...: the list is in
 *   kernel/keeper.ts). The store knows only `vs.`, the prefix it checkpoints. Restart =
 *   `entries()`.
 * - `transcript`: one row per crank since the checkpoint: the crank's entry (the JSON string
 *   the chain hashes) and `hash = sha256(prevHash || sha256(entry))` (see `chain.ts`).
 * - `checkpoint` + `checkpoint_meta`: a copy of the `vs.` rows (the vat's whole durable state:
 *   worker heaps are never persisted) at transcript position P, with the chain hash at P, the
 *   row count, byte count and a digest of the rows. Transcript rows <= P are deleted, so the
 *   file holds live state x 2 + the transcript since the last checkpoint, whatever the history.
 *
 * A crank commits whole or not at all: `commit` runs one SQLite transaction (kv writes + the
 * transcript row); `commitMany` runs several cranks in one transaction (group commit: one
 * fsync for the batch; the batch is all-or-nothing, and cranks are never split).
 *
 * Corruption SQLite cannot see (a flipped byte inside a value) is caught by a 64-bit checksum
 * per kv/checkpoint row (checked on every read), the checkpoint digest and the hash chain.
 * Errors never include keys or values (they may be secrets of the vat).
 */
import { hash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { chainHash, GENESIS_HASH, isChainHash } from './chain.ts';
import { STORE_DEFAULTS } from './defaults.ts';

/** File name of the store inside the data directory. */
export const DB_FILE = 'vat.sqlite';
/** `PRAGMA application_id` of a quorumvat store ('QVAT'): anything else is a foreign file. */
export const APPLICATION_ID = 0x51564154;
/** `PRAGMA user_version`: the schema this code reads and writes. */
export const SCHEMA_VERSION = 1;

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

export type Synchronous = 'FULL' | 'NORMAL' | 'OFF';

export interface OpenOptions {
  /** Open for reading only (`verify`). Never creates. Default false. */
  readonly readOnly?: boolean;
  /** Create the store when the data directory has none. Default true (false when readOnly). */
  readonly create?: boolean;
  /**
   * fsync policy. FULL (default): every commit is on disk when `commit` returns (WAL fsync per
   * transaction). NORMAL: survives a process crash, may lose the last commits on power loss.
   * OFF: benches and tests of size only.
   */
  readonly synchronous?: Synchronous;
  /** How long to wait for another process's lock before StoreUnavailable. Default 2000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * Checks at open. 'quick' (default): `PRAGMA quick_check`, schema, checkpoint row count,
   * transcript contiguity and the hash chain since the checkpoint (all bounded by live state
   * and the checkpoint policy). 'full': `integrity_check` instead, plus every row checksum and
   * the checkpoint digest. 'none': header and schema only.
   */
  readonly check?: 'none' | 'quick' | 'full';
}

/** One transcript row. `entry` is the crank's JSON string, exactly as hashed. */
export interface TranscriptRow {
  readonly pos: number;
  readonly entry: string;
  readonly hash: string;
}

/** One crank's durable effects. `hash`, when given, must equal the chain hash (checked). */
export interface CrankWrite {
  readonly writes: Iterable<readonly [string, string | null]>;
  readonly transcript?: { readonly entry: string; readonly hash?: string };
}

/** Transcript head after a commit: position of the last row (0 = none yet) and its hash. */
export interface Head {
  readonly position: number;
  readonly hash: string;
}

export interface CheckpointInfo extends Head {
  /** The key prefix copied (the vat store's, `vs.`). */
  readonly prefix: string;
  readonly rows: number;
  /** Sum of key + value lengths (UTF-16 code units) of the checkpointed rows. */
  readonly bytes: number;
  /** `stateDigest` of the checkpointed rows. */
  readonly digest: string;
}

export interface CheckpointState extends CheckpointInfo {
  /** The checkpointed rows, keys as stored (with the prefix), sorted. */
  readonly entries: [string, string][];
}

export interface StoreStats {
  readonly position: number;
  readonly hash: string;
  readonly transcriptRows: number;
  /** Sum of entry lengths since the checkpoint. */
  readonly transcriptBytes: number;
  readonly checkpoint: CheckpointInfo;
}

export type ChainReport =
  | { readonly ok: true; readonly from: Head; readonly head: Head; readonly rows: number }
  | {
      readonly ok: false;
      readonly from: Head;
      /** Rows checked and found good before the mismatch. */
      readonly rows: number;
      readonly mismatch: {
        /** Position where the chain breaks. */
        readonly position: number;
        readonly kind: 'gap' | 'hash';
        /** What the chain requires there (position or hash). */
        readonly expected: string;
        /** What the store holds there. */
        readonly stored: string;
      };
      readonly message: string;
    };

/** When to checkpoint: after this many cranks, or this many transcript bytes (see below). */
export interface CheckpointPolicy {
  /** Default 1000 (STORE_DEFAULTS, defaults.ts). */
  readonly maxRows?: number;
  /** Floor of the byte threshold. Default 1 MiB (STORE_DEFAULTS). */
  readonly minBytes?: number;
}

/**
 * The checkpoint policy: checkpoint when the transcript since the last checkpoint holds
 * `maxRows` cranks, or when its bytes reach max(minBytes, size of the last checkpoint).
 * A checkpoint copies the live vat store (cost ~ its size L) and frees the transcript, so
 * the byte rule copies at most one byte of state per transcript byte written (amortised
 * O(1) per crank) and bounds the file at about 2L + max(L, minBytes) + maxRows entries,
 * independent of history. The row rule bounds replay (verify) time. The kernel asks it after
 * its commits; a checkpoint needs a fresh worker, so when it is due the kernel waits for the
 * vat to be quiescent, then checkpoints as it starts the next worker (KernelOptions.checkpoint
 * in kernel/kernel.ts).
 */
export function shouldCheckpoint(stats: StoreStats, policy: CheckpointPolicy = {}): boolean {
  const maxRows = policy.maxRows ?? STORE_DEFAULTS.checkpoint.maxRows;
  const minBytes = policy.minBytes ?? STORE_DEFAULTS.checkpoint.minBytes;
  if (stats.transcriptRows >= maxRows) return true;
  return stats.transcriptBytes >= Math.max(minBytes, stats.checkpoint.bytes);
}

/** 64-bit checksum of one row (key and value, length-framed), stored beside it. */
export function rowSum(key: string, value: string): string {
  return hash('sha256', `${key.length}:${key}${value}`, 'hex').slice(0, 16);
}

/** Order-dependent digest of sorted rows: sha256 over length-framed keys and values. */
export function stateDigest(entries: Iterable<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [k, v] of entries) parts.push(`${k.length}:${k}${v.length}:${v}`);
  return hash('sha256', parts.join(''), 'hex');
}

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

type Row = Record<string, unknown>;

/** SQLite primary result codes we map. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

export class KernelDB {
  readonly dataDir: string;
  readonly path: string;
  readonly readOnly: boolean;
  readonly #db: DatabaseSync;
  #closed = false;
  #headPos = 0;
  #headHash = GENESIS_HASH;
  #txRows = 0;
  #txBytes = 0;
  #cp: CheckpointInfo;
  // Prepared once, reused by every call (the commit fast path parses no SQL).
  readonly #begin: StatementSync;
  readonly #commitTx: StatementSync;
  readonly #rollback: StatementSync;
  readonly #upsert: StatementSync;
  readonly #delete: StatementSync;
  readonly #insertTx: StatementSync;
  readonly #get: StatementSync;

  private constructor(dataDir: string, path: string, db: DatabaseSync, readOnly: boolean) {
    this.dataDir = dataDir;
    this.path = path;
    this.#db = db;
    this.readOnly = readOnly;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commitTx = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#upsert = db.prepare(
      'INSERT INTO kv(key, value, sum) VALUES (?, ?, ?) ' +
        'ON CONFLICT(key) DO UPDATE SET value = excluded.value, sum = excluded.sum',
    );
    this.#delete = db.prepare('DELETE FROM kv WHERE key = ?');
    this.#insertTx = db.prepare('INSERT INTO transcript(pos, entry, hash) VALUES (?, ?, ?)');
    this.#get = db.prepare('SELECT value, sum FROM kv WHERE key = ?');
    this.#cp = this.#loadCheckpointMeta();
  }

  /**
   * Opens the store in `dataDir`, creating it if there is none (unless readOnly or
   * `create: false`). Throws StoreCorrupt for anything that is not a sound quorumvat store,
   * StoreUnavailable when the directory cannot be written (read-only, full) or another
   * process holds the store.
   */
  static open(dataDir: string, options: OpenOptions = {}): KernelDB {
    const readOnly = options.readOnly ?? false;
    const create = !readOnly && (options.create ?? true);
    const path = join(dataDir, DB_FILE);
    const what = `store ${path}`;
    if (!exists(path)) {
      if (nonEmpty(`${path}-wal`)) {
        throw new StoreCorrupt('missing', `${what} is missing but its write-ahead log is there`);
      }
      if (!create) throw new StoreUnavailable('missing', `no ${what}`);
      createStore(dataDir, path);
    } else if (fileSize(path) < 512) {
      // We only ever create complete stores (renamed into place): an empty or tiny file is a
      // truncated one, never a new store to initialise.
      throw new StoreCorrupt('integrity', `${what} is truncated (${fileSize(path)} bytes)`);
    }
    let db: DatabaseSync;
    try {
      db = openSqlite(path, readOnly, options.busyTimeoutMs ?? STORE_DEFAULTS.busyTimeoutMs);
    } catch (err) {
      throw classify(err, dataDir, `cannot open ${what}`);
    }
    try {
      configure(db, readOnly, options.synchronous ?? STORE_DEFAULTS.synchronous);
      checkHeaderAndSchema(db, what);
      const check = options.check ?? 'quick';
      if (check !== 'none') integrityCheck(db, what, check === 'full');
      const store = new KernelDB(dataDir, path, db, readOnly);
      store.#loadHead(what);
      if (check !== 'none') {
        const report = store.verifyChain();
        if (!report.ok) throw new StoreCorrupt('chain', `${what}: ${report.message}`);
      }
      if (check === 'full') {
        store.entries();
        store.checkpointState();
      }
      return store;
    } catch (err) {
      try {
        db.close();
      } catch {}
      throw classify(err, dataDir, `cannot open ${what}`);
    }
  }

  /** Position and hash of the last committed crank (the checkpoint's if none since). */
  get head(): Head {
    return { position: this.#headPos, hash: this.#headHash };
  }

  stats(): StoreStats {
    return {
      position: this.#headPos,
      hash: this.#headHash,
      transcriptRows: this.#txRows,
      transcriptBytes: this.#txBytes,
      checkpoint: this.#cp,
    };
  }

  /** One value, or undefined. Checks the row's checksum. */
  get(key: string): string | undefined {
    const row = this.#run(() => this.#get.get(key), 'read') as Row | undefined;
    if (row === undefined) return undefined;
    const value = row.value as string;
    if (row.sum !== rowSum(key, value)) {
      throw new StoreCorrupt('checksum', `${this.path}: a kv row fails its checksum`);
    }
    return value;
  }

  /** Every kv row whose key starts with `prefix` (all rows if omitted), sorted by key. */
  entries(prefix = ''): [string, string][] {
    return this.#readRows('kv', prefix);
  }

  /**
   * Commits one crank in one transaction: the kv writes (null = delete) and, if given, its
   * transcript row at position head + 1. All or nothing: if anything throws (an invalid
   * write, the iterable itself, disk full), the store is exactly as before.
   */
  commit(
    writes: Iterable<readonly [string, string | null]>,
    transcript?: CrankWrite['transcript'],
  ): Head {
    return this.commitMany([{ writes, transcript }]);
  }

  /**
   * Group commit: several cranks, in order, in ONE transaction (one fsync). The batch is the
   * unit of atomicity and durability: when this returns every crank is committed, when it
   * throws none is, so the kernel must hold the batch's outbound messages and acks until it
   * returns. A crank is never split. Returns the head after the last crank.
   */
  commitMany(cranks: Iterable<CrankWrite>): Head {
    this.#writable();
    let pos = this.#headPos;
    let head = this.#headHash;
    let rows = this.#txRows;
    let bytes = this.#txBytes;
    this.#run(() => this.#begin.run(), 'commit');
    try {
      let n = 0;
      for (const crank of cranks) {
        let i = 0;
        for (const w of crank.writes) {
          const key = w[0];
          const value = w[1];
          if (typeof key !== 'string')
            throw new TypeError(`crank ${n} write ${i}: key must be a string`);
          if (value === null) this.#delete.run(key);
          else if (typeof value === 'string') this.#upsert.run(key, value, rowSum(key, value));
          else throw new TypeError(`crank ${n} write ${i}: value must be a string or null`);
          i++;
        }
        const t = crank.transcript;
        if (t !== undefined) {
          if (typeof t.entry !== 'string')
            throw new TypeError(`crank ${n}: transcript entry must be a string`);
          const h = chainHash(head, t.entry);
          if (t.hash !== undefined && t.hash !== h) {
            throw new StoreError(
              'chain',
              `crank ${n}: transcript hash does not chain from the head`,
            );
          }
          pos++;
          this.#insertTx.run(pos, t.entry, h);
          head = h;
          rows++;
          bytes += t.entry.length;
        }
        n++;
      }
      this.#commitTx.run();
    } catch (err) {
      this.#abort();
      throw classify(err, this.dataDir, 'commit failed, nothing of it was written');
    }
    this.#headPos = pos;
    this.#headHash = head;
    this.#txRows = rows;
    this.#txBytes = bytes;
    return { position: pos, hash: head };
  }

  /**
   * In one transaction: replace the checkpoint with the kv rows under `prefix`, record the
   * head (position, hash), and delete the transcript rows up to it.
   */
  checkpoint(prefix = 'vs.'): CheckpointInfo {
    this.#writable();
    const [where, args] = prefixRange(prefix);
    this.#run(() => this.#begin.run(), 'checkpoint');
    let info: CheckpointInfo;
    try {
      this.#db.prepare('DELETE FROM checkpoint').run();
      this.#db
        .prepare(`INSERT INTO checkpoint(key, value, sum) SELECT key, value, sum FROM kv ${where}`)
        .run(...args);
      const rows = this.#readRows('checkpoint', '');
      let bytes = 0;
      for (const [k, v] of rows) bytes += k.length + v.length;
      info = {
        prefix,
        position: this.#headPos,
        hash: this.#headHash,
        rows: rows.length,
        bytes,
        digest: stateDigest(rows),
      };
      this.#db
        .prepare(
          'UPDATE checkpoint_meta SET prefix = ?, position = ?, hash = ?, rows = ?, bytes = ?, digest = ? WHERE id = 1',
        )
        .run(info.prefix, info.position, info.hash, info.rows, info.bytes, info.digest);
      this.#db.prepare('DELETE FROM transcript WHERE pos <= ?').run(info.position);
      this.#commitTx.run();
    } catch (err) {
      this.#abort();
      throw classify(err, this.dataDir, 'checkpoint failed, the previous one is intact');
    }
    try {
      this.#db.exec('PRAGMA incremental_vacuum');
    } catch {
      // Only space is at stake: the checkpoint itself is committed.
    }
    this.#cp = info;
    this.#txRows = 0;
    this.#txBytes = 0;
    return info;
  }

  /** The checkpoint: its rows (checksums, count and digest checked) and where it stands. */
  checkpointState(): CheckpointState {
    const entries = this.#readRows('checkpoint', '');
    const cp = this.#cp;
    if (entries.length !== cp.rows) {
      throw new StoreCorrupt(
        'checkpoint',
        `${this.path}: checkpoint has ${entries.length} rows, its record says ${cp.rows}`,
      );
    }
    if (stateDigest(entries) !== cp.digest) {
      throw new StoreCorrupt(
        'checkpoint',
        `${this.path}: checkpoint rows do not match their digest`,
      );
    }
    return { ...cp, entries };
  }

  /** The transcript rows after the checkpoint, in order. */
  transcriptSince(): TranscriptRow[] {
    const stmt = this.#db.prepare('SELECT pos, entry, hash FROM transcript ORDER BY pos');
    const rows = this.#run(() => stmt.all(), 'read');
    return rows.map((r) => ({ pos: Number(r.pos), entry: String(r.entry), hash: String(r.hash) }));
  }

  /**
   * Recomputes the chain from the checkpoint's (position, hash) over the transcript rows and
   * reports the first break: a missing position (gap) or a stored hash that does not chain.
   */
  verifyChain(hashFn: (prevHex: string, entry: string) => string = chainHash): ChainReport {
    const from: Head = { position: this.#cp.position, hash: this.#cp.hash };
    const stmt = this.#db.prepare('SELECT pos, entry, hash FROM transcript ORDER BY pos');
    let expectedPos = from.position + 1;
    let prev = from.hash;
    let rows = 0;
    const it = this.#run(() => stmt.iterate(), 'read');
    for (const r of it) {
      const pos = Number(r.pos);
      if (pos !== expectedPos) {
        return broken(from, rows, expectedPos, 'gap', String(expectedPos), String(pos));
      }
      const h = hashFn(prev, String(r.entry));
      if (h !== r.hash) return broken(from, rows, pos, 'hash', h, String(r.hash));
      prev = h;
      expectedPos++;
      rows++;
    }
    return { ok: true, from, head: { position: expectedPos - 1, hash: prev }, rows };
  }

  /**
   * Closes the database (idempotent). Pages freed since the last checkpoint (run-queue and
   * outbox rows come and go) go back to the file system first; SQLite then checkpoints and
   * removes the WAL.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.readOnly) this.#db.exec('PRAGMA incremental_vacuum');
    } catch {
      // Only space is at stake (a full or read-only disk): close anyway.
    }
    this.#db.close();
  }

  #readRows(table: 'kv' | 'checkpoint', prefix: string): [string, string][] {
    const [where, args] = prefixRange(prefix);
    const stmt = this.#db.prepare(`SELECT key, value, sum FROM ${table} ${where} ORDER BY key`);
    stmt.setReturnArrays(true);
    const out: [string, string][] = [];
    const rows = this.#run(() => stmt.all(...args), 'read') as unknown as [
      string,
      string,
      string,
    ][];
    for (const [k, v, sum] of rows) {
      if (typeof k !== 'string' || typeof v !== 'string' || sum !== rowSum(k, v)) {
        throw new StoreCorrupt(
          'checksum',
          `${this.path}: ${table} row ${out.length} fails its checksum`,
        );
      }
      out.push([k, v]);
    }
    return out;
  }

  #loadCheckpointMeta(): CheckpointInfo {
    const stmt = this.#db.prepare(
      'SELECT prefix, position, hash, rows, bytes, digest FROM checkpoint_meta WHERE id = 1',
    );
    const rows = this.#run(() => stmt.all(), 'read');
    const r = rows[0];
    if (rows.length !== 1 || r === undefined) {
      throw new StoreCorrupt('checkpoint', `${this.path}: checkpoint record missing`);
    }
    const info = {
      prefix: r.prefix,
      position: r.position,
      hash: r.hash,
      rows: r.rows,
      bytes: r.bytes,
      digest: r.digest,
    };
    if (
      typeof info.prefix !== 'string' ||
      !isCount(info.position) ||
      !isChainHash(info.hash) ||
      !isCount(info.rows) ||
      !isCount(info.bytes) ||
      !isChainHash(info.digest)
    ) {
      throw new StoreCorrupt('checkpoint', `${this.path}: checkpoint record malformed`);
    }
    return info as CheckpointInfo;
  }

  #loadHead(what: string): void {
    const stmt = this.#db.prepare(
      'SELECT min(pos) AS lo, max(pos) AS hi, count(*) AS n, sum(length(entry)) AS bytes FROM transcript',
    );
    const r = this.#run(() => stmt.get(), 'read') as Row;
    const n = Number(r.n);
    const countStmt = this.#db.prepare('SELECT count(*) AS n FROM checkpoint');
    const cpRows = Number((this.#run(() => countStmt.get(), 'read') as Row).n);
    if (cpRows !== this.#cp.rows) {
      throw new StoreCorrupt(
        'checkpoint',
        `${what}: checkpoint has ${cpRows} rows, its record says ${this.#cp.rows}`,
      );
    }
    if (n === 0) {
      this.#headPos = this.#cp.position;
      this.#headHash = this.#cp.hash;
      return;
    }
    const lo = Number(r.lo);
    const hi = Number(r.hi);
    if (lo !== this.#cp.position + 1 || hi - lo + 1 !== n) {
      throw new StoreCorrupt(
        'chain',
        `${what}: transcript rows ${lo}..${hi} (${n} rows) do not follow the checkpoint at ${this.#cp.position} contiguously`,
      );
    }
    const last = this.#db.prepare('SELECT hash FROM transcript WHERE pos = ?').get(hi) as Row;
    if (!isChainHash(last.hash))
      throw new StoreCorrupt('chain', `${what}: transcript row ${hi} malformed`);
    this.#headPos = hi;
    this.#headHash = last.hash;
    this.#txRows = n;
    this.#txBytes = Number(r.bytes);
  }

  #writable(): void {
    if (this.#closed) throw new StoreError('closed', `${this.path} is closed`);
    if (this.readOnly) throw new StoreUnavailable('read-only', `${this.path} was opened read-only`);
  }

  #abort(): void {
    if (!this.#db.isTransaction) return; // SQLite already rolled back (FULL, IOERR)
    try {
      this.#rollback.run();
    } catch {}
  }

  #run<T>(fn: () => T, op: string): T {
    if (this.#closed) throw new StoreError('closed', `${this.path} is closed`);
    try {
      return fn();
    } catch (err) {
      throw classify(err, this.dataDir, `${op} failed`);
    }
  }
}

function broken(
  from: Head,
  rows: number,
  position: number,
  kind: 'gap' | 'hash',
  expected: string,
  stored: string,
): ChainReport {
  const message =
    kind === 'gap'
      ? `transcript chain broken at position ${position}: row missing (next row is ${stored})`
      : `transcript chain broken at position ${position}: stored hash ${stored.slice(0, 16)}… but the chain gives ${expected.slice(0, 16)}…`;
  return { ok: false, from, rows, mismatch: { position, kind, expected, stored }, message };
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw classify(err, path, `cannot stat ${path}`);
  }
}

function fileSize(path: string): number {
  return statSync(path).size;
}

function nonEmpty(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

/** `WHERE` clause + arguments selecting keys that start with `prefix`. */
function prefixRange(prefix: string): [string, string[]] {
  if (prefix === '') return ['', []];
  const last = prefix.charCodeAt(prefix.length - 1);
  // SQLite's BINARY order is UTF-8 byte order = code point order: [prefix, prefix+1) is
  // exactly the keys with the prefix, while the incremented unit is still a BMP scalar.
  if (last < 0xd7ff) {
    return [
      'WHERE key >= ? AND key < ?',
      [prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1)],
    ];
  }
  return ['WHERE substr(key, 1, length(?1)) = ?1', [prefix]];
}

function openSqlite(path: string, readOnly: boolean, timeout: number): DatabaseSync {
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

function configure(db: DatabaseSync, readOnly: boolean, sync: Synchronous): void {
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

function checkHeaderAndSchema(db: DatabaseSync, what: string): void {
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

function integrityCheck(db: DatabaseSync, what: string, full: boolean): void {
  const rows = db.prepare(full ? 'PRAGMA integrity_check(10)' : 'PRAGMA quick_check(10)').all();
  const msgs = rows.map((r) => String(Object.values(r)[0]));
  if (msgs.length !== 1 || msgs[0] !== 'ok') {
    // SQLite's messages name pages and tables, never row contents.
    throw new StoreCorrupt('integrity', `${what} is damaged: ${msgs.slice(0, 3).join('; ')}`);
  }
}

/** Creates a new store under a temporary name and renames it into place once complete. */
function createStore(dataDir: string, path: string): void {
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

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Why the directory cannot be written, if it cannot (root ignores mode bits, not EROFS). */
function probeWritable(dataDir: string): string | undefined {
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

/** Maps SQLite and file-system errors to StoreCorrupt / StoreUnavailable; others pass through. */
function classify(err: unknown, dataDir: string, context: string): unknown {
  if (err instanceof StoreError || err instanceof TypeError) return err;
  const e = err as { errcode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.errcode === 'number') {
    const primary = e.errcode & 0xff;
    const sqlite = `SQLite ${e.errcode}: ${String(e.message)}`;
    switch (primary) {
      case SQLITE_FULL:
        return new StoreUnavailable(
          'disk-full',
          `${context}: disk full in ${dataDir} (${sqlite})`,
          { cause: err },
        );
      case SQLITE_READONLY:
        return new StoreUnavailable(
          'read-only',
          `${context}: ${dataDir} is read-only (${sqlite})`,
          { cause: err },
        );
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return new StoreUnavailable(
          'busy',
          `${context}: ${dataDir} is in use by another process (${sqlite})`,
          {
            cause: err,
          },
        );
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return new StoreCorrupt('integrity', `${context}: damaged or not a database (${sqlite})`, {
          cause: err,
        });
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN: {
        const why = probeWritable(dataDir);
        if (why === 'ENOSPC') {
          return new StoreUnavailable(
            'disk-full',
            `${context}: disk full in ${dataDir} (${sqlite})`,
            { cause: err },
          );
        }
        if (why !== undefined) {
          return new StoreUnavailable(
            'read-only',
            `${context}: ${dataDir} is not writable: ${why} (${sqlite})`,
            {
              cause: err,
            },
          );
        }
        return new StoreUnavailable('io', `${context}: I/O error in ${dataDir} (${sqlite})`, {
          cause: err,
        });
      }
    }
    return err;
  }
  const code = e.code;
  if (code === 'ENOSPC')
    return new StoreUnavailable('disk-full', `${context}: disk full (${code})`, { cause: err });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new StoreUnavailable('read-only', `${context}: not writable (${code})`, { cause: err });
  }
  if (code === 'EIO')
    return new StoreUnavailable('io', `${context}: I/O error (${code})`, { cause: err });
  return err;
}
