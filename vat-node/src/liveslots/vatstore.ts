/**
 * The vat's durable key-value state, as the vat worker sees it: a full in-memory copy loaded
 * at start, plus the writes of the current crank. The kernel commits a crank's writes in the
 * same transaction as its outbound messages. A crank that fails never commits, and the worker
 * that ran it is discarded, so no in-worker undo is needed.
 */
export class VatStore {
  readonly #data: Map<string, string>;
  #writes = new Map<string, string | null>();

  constructor(entries: Iterable<readonly [string, string]>) {
    this.#data = new Map(entries);
  }

  get(key: string): string | undefined {
    return this.#data.get(key);
  }

  has(key: string): boolean {
    return this.#data.has(key);
  }

  set(key: string, value: string): void {
    this.#data.set(key, value);
    this.#writes.set(key, value);
  }

  delete(key: string): void {
    this.#data.delete(key);
    this.#writes.set(key, null);
  }

  /** Keys with this prefix, sorted (deterministic order, whatever the insertion history). */
  keysWithPrefix(prefix: string): string[] {
    const keys: string[] = [];
    for (const k of this.#data.keys()) if (k.startsWith(prefix)) keys.push(k);
    return keys.sort();
  }

  /** Counter stored under `key`: returns the current value and stores the next one. */
  allocate(key: string, first = 1): number {
    const n = Number(this.#data.get(key) ?? first);
    this.set(key, String(n + 1));
    return n;
  }

  /** The crank's writes (null = deleted), in the order first written; clears them. */
  takeWrites(): [string, string | null][] {
    const w = [...this.#writes];
    this.#writes = new Map();
    return w;
  }
}
