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

export interface PromiseRecord {
  /** Who decides it: null = this vat, else the peer vat. */
  decider: VatId | null;
  resolution: { rejected: boolean; data: CapData } | null;
  /** Messages this vat sent to it through each peer (for embargoes). */
  readonly sent: Map<VatId, number>;
  /** Messages each peer sent us targeted at it (reported when we resolve it). */
  readonly received: Map<VatId, number>;
  embargo: { token: number; held: SendItem[] } | null;
  /** For a take we sent: the certificate key (`giver:nonce`) it settles. */
  take?: string;
  /** For an echo we sent along a promise's path: the embargo token its settlement ends. */
  echoFor?: number;
  /** The peer that settled it (a promise we imported): sends to it follow the resolution. */
  resolvedBy?: VatId;
  /**
   * The vat's heap may map this vref: it was handed to the vat or named by it, and the vat has
   * not retired it since (a `retire` delivery). While true, messages to it go into the vat.
   */
  known?: boolean;
  /** Run-queue items that name it: the record must outlive them. */
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

export function decodePromise(json: string): PromiseRecord {
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
    PromiseRecord['embargo'],
    string | null,
    number | null,
    VatId | null,
    number,
    number,
  ];
  const rec: PromiseRecord = {
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
