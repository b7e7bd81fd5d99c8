/**
 * The kernel's durable state: one SQLite file per vat node data directory (`node:sqlite`, no
 * native addon), holding every piece of kernel state as string keys and values, the transcript
 * since the last checkpoint (a hash chain) and the checkpoint itself. KernelDB is the facade;
 * its parts:
 *
 * - schema.ts: the file format (header, tables), creating and recognising a store;
 * - connection.ts: opening and configuring SQLite, its own integrity check;
 * - rows.ts: the checksummed key/value rows of `kv` (all live kernel state: the kernel
 *   namespaces keys, `vs.` vat store, `clist.`, `peer.`, `prom.`, `out.<peer>.<seq>`, `runq.`,
 *   `meta.`..., listed in kernel/keeper.ts; the store knows only `vs.`, the prefix it
 *   checkpoints. Restart = `entries()`);
 * - transcript-rows.ts: one row per crank since the checkpoint, and the hash chain's check;
 * - checkpoints.ts: the copy of the vat store at a transcript position, and when to take one;
 * - errors.ts: StoreCorrupt / StoreUnavailable and the mapping of SQLite and file errors.
 *
 * A crank commits whole or not at all: `commit` runs one SQLite transaction (kv writes + the
 * transcript row); `commitMany` runs several cranks in one transaction (group commit: one
 * fsync for the batch; the batch is all-or-nothing, and cranks are never split).
 *
 * Corruption SQLite cannot see (a flipped byte inside a value) is caught by a 64-bit checksum
 * per kv/checkpoint row (checked on every read), the checkpoint digest and the hash chain.
 * Errors never include keys or values (they may be secrets of the vat).
 */
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { chainHash, GENESIS_HASH } from './chain.ts';
import {
  type CheckpointInfo,
  type CheckpointState,
  checkCheckpointCount,
  checkpointRows,
  readCheckpointMeta,
  replaceCheckpoint,
  type StoreStats,
} from './checkpoints.ts';
import { configure, integrityCheck, openSqlite, type Synchronous } from './connection.ts';
import { STORE_DEFAULTS } from './defaults.ts';
import { classify, exists, StoreCorrupt, StoreError, StoreUnavailable } from './errors.ts';
import { DB_FILE, fileSize, nonEmpty } from './files.ts';
import { imageProblem, installImage, type StoreImage } from './image.ts';
import { checkedRows, type Row, rowSum, rowsQuery } from './rows.ts';
import { checkHeaderAndSchema, createStore } from './schema.ts';
import {
  type ChainReport,
  checkChain,
  type Head,
  readTranscriptSpan,
  TRANSCRIPT_ROWS,
  type TranscriptRow,
} from './transcript-rows.ts';

export {
  type CheckpointInfo,
  type CheckpointPolicy,
  type CheckpointState,
  type StoreStats,
  shouldCheckpoint,
} from './checkpoints.ts';
export type { Synchronous } from './connection.ts';
export { StoreCorrupt, StoreError, StoreUnavailable } from './errors.ts';
export { DB_FILE } from './files.ts';
export type { StoreImage } from './image.ts';
export { rowSum, stateDigest } from './rows.ts';
export { APPLICATION_ID, SCHEMA_VERSION } from './schema.ts';
export type { ChainReport, Head, TranscriptRow } from './transcript-rows.ts';

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

/** One crank's durable effects. `hash`, when given, must equal the chain hash (checked). */
export interface CrankWrite {
  readonly writes: Iterable<readonly [string, string | null]>;
  readonly transcript?: { readonly entry: string; readonly hash?: string };
}

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
  /** `#run` for the parts (checkpoints.ts, transcript-rows.ts). */
  readonly #guard = <T>(fn: () => T, op: string): T => this.#run(fn, op);

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
    this.#cp = readCheckpointMeta(db, path, this.#guard);
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
    this.#run(() => this.#begin.run(), 'checkpoint');
    let info: CheckpointInfo;
    try {
      info = replaceCheckpoint(this.#db, prefix, this.head, this.path, this.#guard);
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
    return { ...this.#cp, entries: checkpointRows(this.#db, this.#cp, this.path, this.#guard) };
  }

  /** The transcript rows after the checkpoint, in order. */
  transcriptSince(): TranscriptRow[] {
    const stmt = this.#db.prepare(TRANSCRIPT_ROWS);
    const rows = this.#run(() => stmt.all(), 'read');
    return rows.map((r) => ({ pos: Number(r.pos), entry: String(r.entry), hash: String(r.hash) }));
  }

  /** The store's whole content: kv rows, checkpoint, transcript since (image.ts). */
  image(): StoreImage {
    const cp = this.checkpointState();
    return {
      rows: this.entries(),
      checkpoint: { prefix: cp.prefix, position: cp.position, hash: cp.hash, entries: cp.entries },
      transcript: this.transcriptSince().map((r) => r.entry),
    };
  }

  /**
   * Replaces the store's whole content with `image` in one transaction (a quorum member
   * catching up from another member's checkpoint). StoreError 'image' if it is malformed.
   */
  install(image: StoreImage): void {
    this.#writable();
    const problem = imageProblem(image);
    if (problem !== undefined) throw new StoreError('image', `cannot install: ${problem}`);
    this.#run(() => this.#begin.run(), 'install');
    let done: ReturnType<typeof installImage>;
    try {
      done = installImage(this.#db, image);
      this.#commitTx.run();
    } catch (err) {
      this.#abort();
      throw classify(err, this.dataDir, 'install failed, the store is as it was');
    }
    this.#cp = done.checkpoint;
    this.#headPos = done.position;
    this.#headHash = done.hash;
    this.#txRows = image.transcript.length;
    this.#txBytes = done.bytes;
  }

  /**
   * Recomputes the chain from the checkpoint's (position, hash) over the transcript rows and
   * reports the first break: a missing position (gap) or a stored hash that does not chain.
   */
  verifyChain(hashFn: (prevHex: string, entry: string) => string = chainHash): ChainReport {
    const from: Head = { position: this.#cp.position, hash: this.#cp.hash };
    const stmt = this.#db.prepare(TRANSCRIPT_ROWS);
    return checkChain(
      from,
      this.#run(() => stmt.iterate(), 'read'),
      hashFn,
    );
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

  #readRows(table: 'kv', prefix: string): [string, string][] {
    const [sql, args] = rowsQuery(table, prefix);
    const stmt = this.#db.prepare(sql);
    stmt.setReturnArrays(true);
    const rows = this.#run(() => stmt.all(...args), 'read') as unknown as unknown[][];
    return checkedRows(rows, table, this.path);
  }

  /** Where the transcript stands, read at open (after the checkpoint record). */
  #loadHead(what: string): void {
    checkCheckpointCount(this.#db, this.#cp, what, this.#guard);
    const span = readTranscriptSpan(this.#db, this.#cp, what, this.#guard);
    this.#headPos = span.position;
    this.#headHash = span.hash;
    this.#txRows = span.rows;
    this.#txBytes = span.bytes;
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
