/**
 * Key/value rows as the store keeps them (the live `kv` table and its `checkpoint` copy):
 * each row carries a 64-bit checksum of its key and value, checked on every read, so a flipped
 * byte inside a value (which SQLite cannot see) is caught.
 */
import { hash } from 'node:crypto';
import { StoreCorrupt } from './errors.ts';

/** A result row of node:sqlite. */
export type Row = Record<string, unknown>;

/** The tables of checksummed key/value rows. */
export type KvTable = 'kv' | 'checkpoint';

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

/** `WHERE` clause + arguments selecting keys that start with `prefix`. */
export function prefixRange(prefix: string): [string, string[]] {
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

/** The query that reads `table`'s rows under `prefix`, sorted, as [key, value, sum] arrays. */
export function rowsQuery(table: KvTable, prefix: string): [string, string[]] {
  const [where, args] = prefixRange(prefix);
  return [`SELECT key, value, sum FROM ${table} ${where} ORDER BY key`, args];
}

/** The rows' keys and values, every checksum checked (StoreCorrupt 'checksum' at the first bad). */
export function checkedRows(
  rows: readonly (readonly unknown[])[],
  table: KvTable,
  path: string,
): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v, sum] of rows) {
    if (typeof k !== 'string' || typeof v !== 'string' || sum !== rowSum(k, v)) {
      throw new StoreCorrupt('checksum', `${path}: ${table} row ${out.length} fails its checksum`);
    }
    out.push([k, v]);
  }
  return out;
}
