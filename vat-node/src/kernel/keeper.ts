/**
 * The kernel keeper: every table of a vat's kernel as typed, in-memory structures that are
 * also rows of one string key/value space, so the whole kernel state commits to the durable
 * store (store/kernel-db.ts) crank by crank and loads back at restart.
 *
 *   vs.<key>                    the vat store (the worker's durable state)
 *   clist.<peer>.<wire>         c-list entry → vref (imports are the `o-` entries)
 *   peer.<peer>                 [next outbound seq, inbound high-water mark, next o+, next p+]
 *   prom.<vref>                 promise record (decider, resolution, counts, embargo, take)
 *   out.<peer>.<seq, padded>    unacknowledged outbound message
 *   runq.<n, padded>            run-queue entry
 *   held.<peer>                 inbound messages waiting for handoff takes
 *   take.<giver:nonce>          handoff certificate we received → its take
 *   cert.<vref>.<peer>          handoff certificate we gave
 *   sturdy.<key>                minted sturdyref → vref
 *   addr.<peer>                 address hints for a peer (sturdyrefs, handoff certificates)
 *   gone.<peer>                 when a client peer left owing us nothing but owed by us (ms)
 *   meta.counters               kernel allocation counters
 *   meta.*                      contract, gas limit, vat name (written at create)
 *
 * The kernel changes tables only through verbs (enqueue, takeRunBatch, requeueFront,
 * completed, holdInbound, releaseHeld, answerTake, ...); the tables it reads are handed out
 * read-only, so a change that forgets to mark its row cannot be written. Promise records too:
 * `updatePromise` applies a change to one and marks its row (like SwingSet's kernelKeeper).
 *
 * Mutations mark rows dirty; `flush` turns the dirty set (plus the transcript entries of the
 * cranks it covers) into ONE commit of the backing: a KernelDB (durable) or a Map (no data
 * directory: the same code path, nothing on disk). The in-memory tables are always the
 * current state; the backing holds the last committed one.
 */
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import type { WireRef } from '../protocol/refs.ts';
import type { Backing, PendingEntry } from './backing.ts';
import { loadRows } from './keeper-load.ts';
import { KeptCList } from './kept-clist.ts';
import {
  type Counters,
  encodePromise,
  type PeerState,
  type PromiseDraft,
  type PromiseRecord,
  type QueuedItem,
  type RunItem,
  type TakeRecord,
} from './records.ts';

export { type Backing, DbBacking, MemoryBacking, type PendingEntry } from './backing.ts';
export { KeptCList } from './kept-clist.ts';
export type {
  Counters,
  PeerState,
  PromiseDraft,
  PromiseRecord,
  QueuedItem,
  RunItem,
  SendItem,
  TakeRecord,
} from './records.ts';

const PAD = 16;
const pad = (n: number) => String(n).padStart(PAD, '0');

export class KernelKeeper {
  readonly #backing: Backing;
  readonly vatStore = new Map<string, string>();
  readonly clists = new Map<VatId, KeptCList>();
  readonly imports = new Map<VRef, { peer: VatId; wire: WireRef }>();
  readonly #promises = new Map<VRef, PromiseDraft>();
  readonly #takes = new Map<string, TakeRecord>();
  readonly #held = new Map<VatId, VatMessage[]>();
  readonly sturdyRefs = new Map<string, VRef>();
  readonly certs = new Map<string, string>();
  /** Not yet taken for a crank (rows stay until `completed`: a crank may fail and requeue). */
  readonly #runQueue: QueuedItem[] = [];
  readonly outbox = new Map<VatId, Sequenced[]>();
  readonly peers = new Map<VatId, PeerState>();
  readonly embargoes = new Map<number, VRef>();
  /** Clients that left while messages were owed to them: since when (ms, departures.ts). */
  readonly departures = new Map<VatId, number>();
  /** Address hints per peer, best (newest) first: handed on in handoff certificates. */
  readonly addresses = new Map<VatId, readonly string[]>();
  readonly meta = new Map<string, string>();
  readonly counters: Counters = {
    nextImport: 1,
    nextPromise: 1,
    nextToken: 1,
    nextHandoff: 1,
    nextRunq: 1,
  };

  // Dirty state since the last flush.
  readonly #rows = new Map<string, string | null>();
  readonly #dirtyPromises = new Set<VRef>();
  readonly #dirtyTakes = new Set<string>();
  readonly #dirtyHeld = new Set<VatId>();
  readonly #dirtyPeers = new Set<VatId>();
  #countersDirty = false;
  #entries: PendingEntry[] = [];

  constructor(backing: Backing) {
    this.#backing = backing;
    this.#load();
  }

  /** True when something waits for a flush. */
  get dirty(): boolean {
    return (
      this.#rows.size > 0 ||
      this.#entries.length > 0 ||
      this.#dirtyPromises.size > 0 ||
      this.#dirtyTakes.size > 0 ||
      this.#dirtyHeld.size > 0 ||
      this.#dirtyPeers.size > 0 ||
      this.#countersDirty
    );
  }

  /**
   * Commits everything dirty (and the pending transcript rows) in one backing commit. Returns
   * the peers whose seqs it committed. Throws if the backing does (nothing is then committed
   * and the kernel must stop: its tables are ahead of the store).
   */
  flush(): VatId[] {
    if (!this.dirty) return [];
    const writes: [string, string | null][] = [...this.#rows];
    for (const v of this.#dirtyPromises) {
      const rec = this.#promises.get(v);
      writes.push([`prom.${v}`, rec === undefined ? null : encodePromise(rec)]);
    }
    for (const k of this.#dirtyTakes) {
      const t = this.#takes.get(k);
      writes.push([`take.${k}`, t === undefined ? null : JSON.stringify(t)]);
    }
    for (const p of this.#dirtyHeld) {
      const h = this.#held.get(p);
      writes.push([`held.${p}`, h === undefined || h.length === 0 ? null : JSON.stringify(h)]);
    }
    for (const p of this.#dirtyPeers) {
      const s = this.peers.get(p)!;
      writes.push([`peer.${p}`, JSON.stringify([s.nextSeq, s.inSeq, s.nextO, s.nextP])]);
    }
    if (this.#countersDirty) writes.push(['meta.counters', JSON.stringify(this.counters)]);
    this.#backing.commit(writes, this.#entries);
    const peers = [...this.#dirtyPeers];
    this.#rows.clear();
    this.#dirtyPromises.clear();
    this.#dirtyTakes.clear();
    this.#dirtyHeld.clear();
    this.#dirtyPeers.clear();
    this.#countersDirty = false;
    this.#entries = [];
    return peers;
  }

  // ------------------------------------------------------------------ mutations

  /** A row whose value is known now (c-list entries, outbox, run queue, vat store...). */
  write(key: string, value: string | null): void {
    this.#rows.set(key, value);
  }

  addEntry(entry: PendingEntry): void {
    this.#entries.push(entry);
  }

  setVatStore(writes: readonly (readonly [string, string | null])[]): void {
    for (const [k, v] of writes) {
      if (v === null) this.vatStore.delete(k);
      else this.vatStore.set(k, v);
      this.#rows.set(`vs.${k}`, v);
    }
  }

  setMeta(key: string, value: string): void {
    this.meta.set(key, value);
    this.#rows.set(`meta.${key}`, value);
  }

  /** Takes the next value of a counter. */
  next(name: keyof Counters): number {
    this.#countersDirty = true;
    return this.counters[name]++;
  }

  clist(peer: VatId): KeptCList {
    let c = this.clists.get(peer);
    if (!c) {
      c = new KeptCList(this, peer);
      this.clists.set(peer, c);
    }
    return c;
  }

  peerState(peer: VatId): PeerState {
    let s = this.peers.get(peer);
    if (!s) {
      s = { nextSeq: 1, inSeq: 0, nextO: 1, nextP: 1 };
      this.peers.set(peer, s);
    }
    return s;
  }

  touchPeer(peer: VatId): void {
    this.#dirtyPeers.add(peer);
  }

  addImport(vref: VRef, peer: VatId, wire: WireRef): void {
    this.imports.set(vref, { peer, wire });
  }

  /** Promise records by vref: read-only, change them through the verbs below. */
  get promises(): ReadonlyMap<VRef, PromiseRecord> {
    return this.#promises;
  }

  /** Stores a new promise record (the keeper owns it from now on). */
  addPromise(vref: VRef, rec: PromiseDraft): void {
    this.#promises.set(vref, rec);
    this.#dirtyPromises.add(vref);
  }

  /**
   * Applies `change` to the record of `vref` and marks its row for the next commit: the only
   * way a promise record changes. Returns the record, or undefined (and `change` does not run)
   * when there is none.
   */
  updatePromise(vref: VRef, change: (rec: PromiseDraft) => void): PromiseRecord | undefined {
    const rec = this.#promises.get(vref);
    if (rec === undefined) return undefined;
    change(rec);
    this.#dirtyPromises.add(vref);
    return rec;
  }

  deletePromise(vref: VRef): void {
    this.#promises.delete(vref);
    this.#dirtyPromises.add(vref);
  }

  // ------------------------------------------------------- handoff takes and holds

  /** Handoff takes by certificate key (`giver:nonce`): read-only, change through the verbs. */
  get takes(): ReadonlyMap<string, Readonly<TakeRecord>> {
    return this.#takes;
  }

  setTake(key: string, take: TakeRecord): void {
    this.#takes.set(key, take);
    this.#dirtyTakes.add(key);
  }

  /** The exporter answered a take: the object it gave (vref) or why it refused (error). */
  answerTake(key: string, answer: { vref: VRef } | { error: string }): void {
    const take = this.#takes.get(key);
    if (take === undefined) throw Error(`no take ${key}`);
    if ('vref' in answer) take.vref = answer.vref;
    else take.error = answer.error;
    this.#dirtyTakes.add(key);
  }

  /** Inbound messages from `peer` that wait for handoff takes, in order (read-only). */
  get held(): ReadonlyMap<VatId, readonly VatMessage[]> {
    return this.#held;
  }

  /** Hold an inbound message of `peer` behind the ones already held. */
  holdInbound(peer: VatId, msg: VatMessage): void {
    const held = this.#held.get(peer);
    if (held) held.push(msg);
    else this.#held.set(peer, [msg]);
    this.#dirtyHeld.add(peer);
  }

  /** Take the first message held for `peer` (it goes on to be processed). */
  releaseHeld(peer: VatId): VatMessage | undefined {
    const held = this.#held.get(peer);
    const msg = held?.shift();
    if (held?.length === 0) this.#held.delete(peer);
    if (msg !== undefined) this.#dirtyHeld.add(peer);
    return msg;
  }

  setSturdyRef(key: string, vref: VRef | null): boolean {
    const had = this.sturdyRefs.has(key);
    if (vref === null) this.sturdyRefs.delete(key);
    else this.sturdyRefs.set(key, vref);
    this.#rows.set(`sturdy.${key}`, vref);
    return had;
  }

  /** Certificate we gave `peer` for `vref`. */
  setCert(peer: VatId, vref: VRef, cert: string): void {
    this.certs.set(`${peer}\n${vref}`, cert);
    this.#rows.set(`cert.${vref}.${peer}`, cert);
  }

  cert(peer: VatId, vref: VRef): string | undefined {
    return this.certs.get(`${peer}\n${vref}`);
  }

  // -------------------------------------------------------------------- run queue

  /** What waits in the run queue, head first (read-only: change it through the verbs). */
  get runQueue(): readonly QueuedItem[] {
    return this.#runQueue;
  }

  enqueue(item: RunItem): QueuedItem {
    const q = { n: this.next('nextRunq'), item };
    this.#runQueue.push(q);
    this.#rows.set(`runq.${pad(q.n)}`, JSON.stringify(item));
    return q;
  }

  /** Put another item in a queued entry's place (same row, same position in the queue). */
  replaceQueued(index: number, item: RunItem): void {
    const q = { n: this.#runQueue[index]!.n, item };
    this.#runQueue[index] = q;
    this.#rows.set(`runq.${pad(q.n)}`, JSON.stringify(item));
  }

  /** Take a queued entry out of the queue for good (its removal commits with the next flush). */
  removeQueued(index: number): QueuedItem {
    const [q] = this.#runQueue.splice(index, 1);
    this.completed(q!);
    return q!;
  }

  /**
   * Take vat deliveries from the head for one trip to the worker: at most `max`, stopping at
   * a non-vat item or before an item `startsBatch` says must run first in its batch. Their
   * rows stay until `completed` (a crank that fails puts the rest back: `requeueFront`).
   */
  takeRunBatch(max: number, startsBatch: (item: RunItem) => boolean): QueuedItem[] {
    const queue = this.#runQueue;
    let n = 0;
    while (n < max && n < queue.length && queue[n]!.item.kind === 'vat') {
      if (n > 0 && startsBatch(queue[n]!.item)) break;
      n++;
    }
    return queue.splice(0, n);
  }

  /** Entries taken but not run go back to the head of the queue, in their order. */
  requeueFront(items: readonly QueuedItem[]): void {
    this.#runQueue.unshift(...items);
  }

  /** A taken run-queue entry is done (its crank or echo commits with this deletion). */
  completed(q: QueuedItem): void {
    this.#rows.set(`runq.${pad(q.n)}`, null);
  }

  pushOutbound(peer: VatId, msg: VatMessage): number {
    const state = this.peerState(peer);
    const seq = state.nextSeq++;
    this.#dirtyPeers.add(peer);
    const box = this.outbox.get(peer);
    if (box) box.push({ seq, msg });
    else this.outbox.set(peer, [{ seq, msg }]);
    this.#rows.set(`out.${peer}.${pad(seq)}`, JSON.stringify(msg));
    return seq;
  }

  /** Forget outbound messages up to `seq` (the peer acknowledged them). */
  dropAcked(peer: VatId, seq: number): void {
    const box = this.outbox.get(peer);
    if (!box) return;
    let drop = 0;
    while (drop < box.length && box[drop]!.seq <= seq) {
      this.#rows.set(`out.${peer}.${pad(box[drop]!.seq)}`, null);
      drop++;
    }
    if (drop > 0) box.splice(0, drop);
  }

  /** Forget every outbound message for `peer`, acknowledged or not; returns how many. */
  dropOutbox(peer: VatId): number {
    const box = this.outbox.get(peer) ?? [];
    for (const s of box) this.#rows.set(`out.${peer}.${pad(s.seq)}`, null);
    this.outbox.delete(peer);
    return box.length;
  }

  /** Forget the inbound messages of `peer` that wait for handoff takes; returns how many. */
  dropHeld(peer: VatId): number {
    const held = this.#held.get(peer);
    if (held === undefined) return 0;
    this.#held.delete(peer);
    this.#dirtyHeld.add(peer);
    return held.length;
  }

  /**
   * Learn address hints for `peer` (newest first, at most `max`); true if they changed.
   * Hints are only hints: the transport authenticates whoever answers at them.
   */
  learnAddresses(peer: VatId, addrs: readonly string[], max: number): boolean {
    const old = this.addresses.get(peer) ?? [];
    const next = [...new Set([...addrs, ...old])].slice(0, max);
    if (next.length === old.length && next.every((a, i) => a === old[i])) return false;
    this.addresses.set(peer, next);
    this.#rows.set(`addr.${peer}`, JSON.stringify(next));
    return true;
  }

  /** Record when `peer` departed (departures.ts), or that it is back (null). */
  setDeparted(peer: VatId, since: number | null): void {
    if (since === null) this.departures.delete(peer);
    else this.departures.set(peer, since);
    this.#rows.set(`gone.${peer}`, since === null ? null : String(since));
  }

  setInbound(peer: VatId, seq: number): void {
    this.peerState(peer).inSeq = seq;
    this.#dirtyPeers.add(peer);
  }

  // ----------------------------------------------------------------------- load

  #load(): void {
    loadRows(this.#backing.load(), {
      vatStore: this.vatStore,
      imports: this.imports,
      peers: this.peers,
      promises: this.#promises,
      held: this.#held,
      takes: this.#takes,
      certs: this.certs,
      sturdyRefs: this.sturdyRefs,
      meta: this.meta,
      counters: this.counters,
      runQueue: this.#runQueue,
      outbox: this.outbox,
      embargoes: this.embargoes,
      departures: this.departures,
      addresses: this.addresses,
      clist: (peer) => this.clist(peer),
    });
  }
}
