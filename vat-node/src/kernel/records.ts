/** The kernel's records (promises, run-queue items, takes, peers) and their stored form. */
import type { VRef } from '../liveslots/protocol.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData } from '../protocol/messages.ts';

export interface SendItem {
  readonly target: VRef;
  readonly method: string | null;
  readonly args: CapData;
  readonly result: VRef | null;
}

/**
 * A promise record as the kernel's parts read it. Only KernelKeeper.updatePromise changes one
 * (it marks the row for the next commit): a change nobody marked could never be written.
 */
export interface PromiseRecord {
  /** Who decides it: null = this vat, else the peer vat. */
  readonly decider: VatId | null;
  readonly resolution: { readonly rejected: boolean; readonly data: CapData } | null;
  /** Messages this vat sent to it through each peer (for embargoes). */
  readonly sent: ReadonlyMap<VatId, number>;
  /** Messages each peer sent us targeted at it (reported when we resolve it). */
  readonly received: ReadonlyMap<VatId, number>;
  readonly embargo: { readonly token: number; readonly held: readonly SendItem[] } | null;
  /** For a take we sent: the certificate key (`giver:nonce`) it settles. */
  readonly take?: string;
  /** For an echo we sent along a promise's path: the embargo token its settlement ends. */
  readonly echoFor?: number;
  /** The peer that settled it (a promise we imported): sends to it follow the resolution. */
  readonly resolvedBy?: VatId;
  /**
   * The vat's heap may map this vref: it was handed to the vat or named by it, and the vat has
   * not retired it since (a `retire` delivery). While true, messages to it go into the vat.
   */
  readonly known?: boolean;
  /** Run-queue items that name it: the record must outlive them. */
  readonly queued?: number;
}

/** The writable form: a new record, or what an updatePromise change function is given. */
export interface PromiseDraft {
  decider: VatId | null;
  resolution: PromiseRecord['resolution'];
  readonly sent: Map<VatId, number>;
  readonly received: Map<VatId, number>;
  embargo: { readonly token: number; readonly held: SendItem[] } | null;
  take?: string;
  echoFor?: number;
  resolvedBy?: VatId;
  known?: boolean;
  queued?: number;
}

export type RunItem =
  | {
      readonly kind: 'vat';
      readonly delivery: import('../liveslots/protocol.ts').Delivery;
      readonly from?: VatId;
    }
  | { readonly kind: 'echo'; readonly peer: VatId; readonly token: number };

/** A run-queue entry with its row number (its place in the persisted queue). */
export interface QueuedItem {
  readonly n: number;
  readonly item: RunItem;
}

export interface TakeRecord {
  readonly promise: VRef;
  vref: VRef | null;
  error: string | null;
}

export interface Counters {
  nextImport: number;
  nextPromise: number;
  nextToken: number;
  nextHandoff: number;
  nextRunq: number;
}

export interface PeerState {
  /** Next outbound seq. */
  nextSeq: number;
  /** Highest inbound seq accepted. */
  inSeq: number;
  /** Next c-list indices we allocate. */
  nextO: number;
  nextP: number;
}

export function encodePromise(rec: PromiseRecord): string {
  return JSON.stringify([
    rec.decider,
    rec.resolution,
    [...rec.sent],
    [...rec.received],
    rec.embargo,
    rec.take ?? null,
    rec.echoFor ?? null,
    rec.resolvedBy ?? null,
    rec.known ? 1 : 0,
    rec.queued ?? 0,
  ]);
}

export function decodePromise(json: string): PromiseDraft {
  const [
    decider,
    resolution,
    sent,
    received,
    embargo,
    take,
    echoFor = null,
    resolvedBy = null,
    known = 0,
    queued = 0,
  ] = JSON.parse(json) as [
    VatId | null,
    PromiseRecord['resolution'],
    [VatId, number][],
    [VatId, number][],
    PromiseDraft['embargo'],
    string | null,
    number | null,
    VatId | null,
    number,
    number,
  ];
  const rec: PromiseDraft = {
    decider,
    resolution,
    sent: new Map(sent),
    received: new Map(received),
    embargo,
  };
  if (take !== null) rec.take = take;
  if (echoFor !== null) rec.echoFor = echoFor;
  if (resolvedBy !== null) rec.resolvedBy = resolvedBy;
  if (known) rec.known = true;
  if (queued > 0) rec.queued = queued;
  return rec;
}
