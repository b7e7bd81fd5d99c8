/**
 * Inputs a member received and has not seen decided, and the decided high-water mark of every
 * sender. Inputs are kept per sender by seq; a batch takes each sender's next seqs in order, so
 * a decided sequence never has a gap or a repeat (batch.ts, S3).
 */
import { inputDigest } from './statements.ts';
import type { Input } from './types.ts';

export interface PoolEntry {
  readonly input: Input;
  readonly digest: string;
}

/** Sequences are per (kind, sender): a reconfiguration requester has its own numbering. */
export const seqKey = (input: Input): string => `${input.kind}\u0000${input.from}`;

export type Added =
  | { readonly ok: true; readonly key: string; readonly digest: string }
  /** Not kept: already decided or already held (no reason), or refused (reason). */
  | { readonly ok: false; readonly reason?: string };

export class InputPool {
  private readonly bySender = new Map<string, Map<number, PoolEntry>>();
  private readonly decidedNext = new Map<string, number>();
  private readonly maxPerSender: number;

  constructor(maxPerSender: number) {
    this.maxPerSender = maxPerSender;
  }

  get size(): number {
    let n = 0;
    for (const e of this.bySender.values()) n += e.size;
    return n;
  }

  /** After a restart: the first undecided seq of each sender key. */
  resume(next: ReadonlyMap<string, number>): void {
    for (const [key, seq] of next) this.decidedNext.set(key, seq);
  }

  /** The first seq of this sender key not yet decided. */
  nextSeq(key: string): number {
    return this.decidedNext.get(key) ?? 1;
  }

  add(input: Input): Added {
    const key = seqKey(input);
    if (input.seq < this.nextSeq(key)) return { ok: false };
    let entries = this.bySender.get(key);
    if (entries === undefined) {
      entries = new Map();
      this.bySender.set(key, entries);
    }
    const digest = inputDigest(input);
    const existing = entries.get(input.seq);
    if (existing !== undefined) {
      if (existing.digest === digest) return { ok: false };
      return { ok: false, reason: `two different inputs #${input.seq} from one sender` };
    }
    if (entries.size >= this.maxPerSender) {
      return { ok: false, reason: `more than ${this.maxPerSender} pending inputs` };
    }
    entries.set(input.seq, { input, digest });
    return { ok: true, key, digest };
  }

  entry(key: string, seq: number): PoolEntry | undefined {
    return this.bySender.get(key)?.get(seq);
  }

  /** The input is decided: forget it and move its sender's mark. */
  decided(input: Input): void {
    const key = seqKey(input);
    this.decidedNext.set(key, input.seq + 1);
    const entries = this.bySender.get(key);
    if (entries !== undefined) {
      entries.delete(input.seq);
      if (entries.size === 0) this.bySender.delete(key);
    }
  }

  /** Some sender's next undecided input is here (so a leader could order something). */
  hasProposable(): boolean {
    for (const [key, entries] of this.bySender) if (entries.has(this.nextSeq(key))) return true;
    return false;
  }

  /**
   * The next inputs in each sender's sequence after what `branchNext` (the undecided blocks a
   * proposal extends) already orders, up to the limits; stops after an input that `endsBatch`.
   */
  pick(
    branchNext: ReadonlyMap<string, number>,
    maxInputs: number,
    maxBytes: number,
    endsBatch: (input: Input) => boolean,
  ): PoolEntry[] {
    const out: PoolEntry[] = [];
    let bytes = 0;
    for (const [key, entries] of this.bySender) {
      let seq = branchNext.get(key) ?? this.nextSeq(key);
      for (let e = entries.get(seq); e !== undefined; e = entries.get(++seq)) {
        if (out.length >= maxInputs) return out;
        if (out.length > 0 && bytes + e.input.body.length > maxBytes) return out;
        out.push(e);
        bytes += e.input.body.length;
        if (endsBatch(e.input)) return out;
      }
    }
    return out;
  }
}
