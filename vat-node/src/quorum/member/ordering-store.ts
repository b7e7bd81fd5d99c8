/**
 * What a member's ordering must find again after a crash, in `ordering.sqlite` next to the
 * kernel's store (node:sqlite, WAL, synchronous FULL: every write is on disk when the call
 * returns, so a vote never leaves before the state it commits to):
 *
 *   safety            the last persist-safety state (highest voted round, highest QC)
 *   block.<h>.<id>    undecided blocks this member accepted (persist-block), until decided
 *   decided.<h>       decided blocks with their commit proofs: served to peers that catch up,
 *                     and executed after a restart when the kernel had not run them yet
 *   epoch.<e>         each epoch the ordering entered (configuration, root block, the request)
 *   record.<e>        certified change records: the chain from genesis (a restart starts there)
 *
 * Where the member's execution stands (the last executed block, its transcript hash, the
 * senders' marks) is not here: it is in the kernel's own store, committed atomically with
 * the cranks (member.ts). Values are ordering/codec.ts JSON (byte strings as {"$b": …}).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ChainRecord, ChangeRequest } from '../chain.ts';
import type { QuorumConfig } from '../config.ts';
import { decodeWire, encodeMessage } from '../ordering/codec.ts';
import type { Block, CommitProof, OrderingMessage, SafetyState } from '../ordering/types.ts';

export const ORDERING_DB_FILE = 'ordering.sqlite';

/** Decided blocks kept for peers (and for the executor after a crash), by default. */
export const KEEP_DECIDED = 2_000;

export interface DecidedRecord {
  readonly blockId: string;
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
  readonly block: Block;
  readonly proof: CommitProof;
}

/** An epoch the ordering entered: its configuration, root block and the change that made it. */
export interface EpochEntry {
  readonly config: QuorumConfig;
  /** The decided block whose reconfiguration ended the epoch before (the epoch's root). */
  readonly root: string;
  readonly since: number;
  readonly request: ChangeRequest;
  readonly admin: string;
}

const pad = (h: number) => String(h).padStart(16, '0');
const encode = (v: unknown) => Buffer.from(encodeMessage(v as OrderingMessage)).toString('utf8');
const decode = <T>(text: string): T => decodeWire(Buffer.from(text, 'utf8')) as T;

export class OrderingStore {
  readonly #db: DatabaseSync;
  readonly #put;
  readonly #get;
  readonly #range;
  readonly #deleteRange;
  readonly #keep: number;

  /** `dataDir` undefined: in memory (ephemeral nodes, tests). `keep`: decided blocks kept. */
  constructor(dataDir: string | undefined, keep = KEEP_DECIDED) {
    this.#keep = keep;
    let path = ':memory:';
    if (dataDir !== undefined) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      path = join(dataDir, ORDERING_DB_FILE);
    }
    this.#db = new DatabaseSync(path);
    if (dataDir !== undefined) {
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = FULL');
    }
    this.#db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.#put = this.#db.prepare('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)');
    this.#get = this.#db.prepare('SELECT value FROM kv WHERE key = ?');
    this.#range = this.#db.prepare(
      'SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key',
    );
    this.#deleteRange = this.#db.prepare('DELETE FROM kv WHERE key >= ? AND key < ?');
  }

  saveSafety(state: SafetyState): void {
    this.#put.run('safety', encode(state));
  }

  safety(): SafetyState | undefined {
    const row = this.#get.get('safety') as { value: string } | undefined;
    return row === undefined ? undefined : decode<SafetyState>(row.value);
  }

  saveBlock(block: Block): void {
    // The id is not needed to find it again; the round keeps two proposals of one height apart.
    this.#put.run(`block.${pad(block.height)}.${pad(block.round)}.${block.epoch}`, encode(block));
  }

  /** Undecided blocks kept, lowest height first. */
  blocks(): Block[] {
    return this.#rows('block.', 'block/').map(([, v]) => decode<Block>(v));
  }

  /** A decided block: its undecided copies go, old decided ones beyond the window too. */
  saveDecided(d: DecidedRecord): void {
    this.transaction(() => {
      this.#put.run(`decided.${pad(d.height)}`, encode(d));
      this.#deleteRange.run('block.', `block.${pad(d.height + 1)}`);
      if (d.height > this.#keep) {
        this.#deleteRange.run('decided.', `decided.${pad(d.height - this.#keep)}`);
      }
    });
  }

  /** Runs `write` as one transaction (one fsync); a transaction inside it joins it. */
  transaction(write: () => void): void {
    if (this.#db.isTransaction) {
      write();
      return;
    }
    this.#db.exec('BEGIN');
    try {
      write();
      this.#db.exec('COMMIT');
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  /** Decided blocks kept, from height `from` on, in height order. */
  decided(from = 0): DecidedRecord[] {
    return this.#rows(`decided.${pad(from)}`, 'decided/').map(([, v]) => decode<DecidedRecord>(v));
  }

  /** A certified change record (the chain from genesis grows by it). */
  saveRecord(epoch: number, record: ChainRecord): void {
    this.#put.run(`record.${pad(epoch)}`, encode(record));
  }

  /** Certified change records, in epoch order. */
  records(): ChainRecord[] {
    return this.#rows('record.', 'record/').map(([, v]) => decode<ChainRecord>(v));
  }

  /** An epoch this member's ordering entered (decided, maybe not certified yet). */
  saveEpoch(entry: EpochEntry): void {
    this.#put.run(`epoch.${pad(entry.config.epoch)}`, encode(entry));
  }

  /** Epochs entered, in order. */
  epochs(): EpochEntry[] {
    return this.#rows('epoch.', 'epoch/').map(([, v]) => decode<EpochEntry>(v));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #rows(from: string, to: string): [string, string][] {
    return (this.#range.all(from, to) as { key: string; value: string }[]).map((r) => [
      r.key,
      r.value,
    ]);
  }
}
