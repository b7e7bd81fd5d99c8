/** Loading the kernel keeper's tables from its committed rows (key layout: keeper.ts). */
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../protocol/messages.ts';
import { isImportRef, type WireRef } from '../protocol/refs.ts';
import type { KeptCList } from './kept-clist.ts';
import {
  type Counters,
  decodePromise,
  type PeerState,
  type PromiseDraft,
  type QueuedItem,
  type RunItem,
  type TakeRecord,
} from './records.ts';

/** The keeper's tables, empty, to be filled. */
export interface LoadTarget {
  readonly vatStore: Map<string, string>;
  readonly imports: Map<VRef, { peer: VatId; wire: WireRef }>;
  readonly peers: Map<VatId, PeerState>;
  readonly promises: Map<VRef, PromiseDraft>;
  readonly held: Map<VatId, VatMessage[]>;
  readonly takes: Map<string, TakeRecord>;
  readonly certs: Map<string, string>;
  readonly sturdyRefs: Map<string, VRef>;
  readonly meta: Map<string, string>;
  readonly counters: Counters;
  readonly runQueue: QueuedItem[];
  readonly outbox: Map<VatId, Sequenced[]>;
  readonly embargoes: Map<number, VRef>;
  readonly departures: Map<VatId, number>;
  readonly addresses: Map<VatId, readonly string[]>;
  clist(peer: VatId): KeptCList;
}

export function loadRows(rows: Iterable<readonly [string, string]>, t: LoadTarget): void {
  const runq: [string, RunItem][] = [];
  const out: [string, VatId, Sequenced][] = [];
  for (const [key, value] of rows) {
    const dot = key.indexOf('.');
    const table = key.slice(0, dot);
    const rest = key.slice(dot + 1);
    switch (table) {
      case 'vs':
        t.vatStore.set(rest, value);
        break;
      case 'clist': {
        const at = rest.lastIndexOf('.');
        const peer = rest.slice(0, at);
        const wire = rest.slice(at + 1);
        t.clist(peer).restore(wire, value);
        if (isImportRef(wire)) t.imports.set(value, { peer, wire });
        break;
      }
      case 'peer': {
        const [nextSeq, inSeq, nextO, nextP] = JSON.parse(value) as number[];
        t.peers.set(rest, { nextSeq: nextSeq!, inSeq: inSeq!, nextO: nextO!, nextP: nextP! });
        break;
      }
      case 'prom':
        t.promises.set(rest, decodePromise(value));
        break;
      case 'out': {
        const at = rest.lastIndexOf('.');
        const peer = rest.slice(0, at);
        const seq = Number(rest.slice(at + 1));
        out.push([rest.slice(at + 1), peer, { seq, msg: JSON.parse(value) as VatMessage }]);
        break;
      }
      case 'runq':
        runq.push([rest, JSON.parse(value) as RunItem]);
        break;
      case 'held':
        t.held.set(rest, JSON.parse(value) as VatMessage[]);
        break;
      case 'take':
        t.takes.set(rest, JSON.parse(value) as TakeRecord);
        break;
      case 'cert': {
        const at = rest.indexOf('.');
        t.certs.set(`${rest.slice(at + 1)}\n${rest.slice(0, at)}`, value);
        break;
      }
      case 'sturdy':
        t.sturdyRefs.set(rest, value);
        break;
      case 'addr':
        t.addresses.set(rest, JSON.parse(value) as string[]);
        break;
      case 'gone':
        t.departures.set(rest, Number(value));
        break;
      case 'meta':
        if (rest === 'counters') Object.assign(t.counters, JSON.parse(value) as Counters);
        else t.meta.set(rest, value);
        break;
      default:
        throw Error(`unknown kernel table ${JSON.stringify(table)}`);
    }
  }
  // Padded numbers: string order is numeric order.
  runq.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [n, item] of runq) t.runQueue.push({ n: Number(n), item });
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [, peer, s] of out) {
    const box = t.outbox.get(peer);
    if (box) box.push(s);
    else t.outbox.set(peer, [s]);
  }
  for (const [vref, rec] of t.promises) {
    if (rec.embargo) t.embargoes.set(rec.embargo.token, vref);
  }
}
