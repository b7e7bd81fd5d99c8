/**
 * Transcript agreement: every `interval` heights each member signs the hash its executor
 * reported there. k equal hashes from members of that height's epoch make a stable checkpoint;
 * a member whose own hash differs has diverged (it must stop executing), a member that signed
 * another hash is reported (evidence `transcript`), and one that signed two hashes at one height
 * too (evidence `checkpoint`). With a state digest (ReplicaOptions.stateDigest) the signed
 * `hash` at a checkpoint height is checkpointValue(transcript hash, state digest): members then
 * agree on their committed state as well, and its certificate lets a learner install it.
 */

import type { VatId } from '../../protocol/identity.ts';
import { assembleCertificate, type Certificate } from '../certificate.ts';
import { isMember, type QuorumConfig } from '../config.ts';
import { checkpointStatement, checkpointValue } from './statements.ts';
import type { Evidence, OrderingCrypto, OrderingMessage, ReplicaAction } from './types.ts';

export type CheckpointMessage = Extract<OrderingMessage, { type: 'checkpoint' }>;

/** What the checkpoints do to their replica. */
export interface CheckpointSink {
  emit(action: ReplicaAction): undefined;
  reject(from: VatId, reason: string): undefined;
  report(key: string, evidence: Evidence): undefined;
  diverge(height: number, local: string, agreed: string): undefined;
  configOf(epoch: number): QuorumConfig | undefined;
  decidedHeight(): number;
  /** The executor's state digest at a checkpoint height (ReplicaOptions.stateDigest). */
  stateDigest?(height: number): string;
}

interface AtHeight {
  readonly epoch: number;
  readonly by: Map<VatId, { hash: string; sig: Uint8Array }>;
  stable?: { hash: string; certificate: Certificate };
}

export class Checkpoints {
  private readonly quorum: VatId;
  private readonly self: VatId;
  private readonly interval: number;
  private readonly crypto: OrderingCrypto;
  private readonly sink: CheckpointSink;
  private readonly mine = new Map<number, string>();
  private readonly heights = new Map<number, AtHeight>();
  private lastStable = 0;

  constructor(
    quorum: VatId,
    self: VatId,
    interval: number,
    crypto: OrderingCrypto,
    sink: CheckpointSink,
  ) {
    this.quorum = quorum;
    this.self = self;
    this.interval = interval;
    this.crypto = crypto;
    this.sink = sink;
  }

  /** Our executor ran everything up to `height` (decided in `epoch`) and got `hash`. */
  executed(height: number, transcriptHash: string, epoch: number): undefined {
    const checkpointHeight = height % this.interval === 0;
    const state = checkpointHeight ? this.sink.stateDigest?.(height) : undefined;
    const hash = state === undefined ? transcriptHash : checkpointValue(transcriptHash, state);
    const at = this.heights.get(height);
    if (at?.stable !== undefined && at.stable.hash !== hash) {
      return this.sink.diverge(height, hash, at.stable.hash);
    }
    if (!checkpointHeight) return;
    this.mine.set(height, hash);
    const config = this.sink.configOf(epoch);
    if (config === undefined || !isMember(config, this.self)) return;
    const sig = this.crypto.sign(checkpointStatement(this.quorum, epoch, height, hash));
    const m: CheckpointMessage = {
      type: 'checkpoint',
      epoch,
      height,
      hash,
      signer: this.self,
      sig,
    };
    this.sink.emit({ type: 'broadcast', message: m });
    this.add(m, config);
  }

  received(from: VatId, m: CheckpointMessage): undefined {
    const { sink } = this;
    if (m.signer !== from) return sink.reject(from, 'checkpoint relayed by another peer');
    const config = sink.configOf(m.epoch);
    if (config === undefined) return sink.reject(from, `checkpoint of unknown epoch ${m.epoch}`);
    if (!isMember(config, from)) {
      return sink.reject(from, `checkpoint from a non-member of epoch ${m.epoch}`);
    }
    if (m.height === 0 || m.height % this.interval !== 0) {
      return sink.reject(from, `checkpoint at height ${m.height}, not a checkpoint height`);
    }
    if (m.height > sink.decidedHeight() + 100 * this.interval + 10_000) {
      return sink.reject(from, 'checkpoint too far ahead');
    }
    const at = this.heights.get(m.height);
    const prev = at?.by.get(from);
    if (prev !== undefined && prev.hash === m.hash) return; // replay
    const statement = checkpointStatement(this.quorum, m.epoch, m.height, m.hash);
    if (!this.crypto.verify(from, statement, m.sig)) {
      return sink.reject(from, 'bad checkpoint signature');
    }
    if (prev !== undefined) {
      sink.report(`checkpoint|${from}|${m.height}`, {
        kind: 'checkpoint',
        signer: from,
        epoch: m.epoch,
        height: m.height,
        a: prev,
        b: { hash: m.hash, sig: m.sig },
      });
      return sink.reject(from, `two transcript hashes at height ${m.height}`);
    }
    if (at === undefined && this.lastStable >= m.height) return; // settled long ago
    this.add(m, config);
  }

  private add(m: CheckpointMessage, config: QuorumConfig): undefined {
    let at = this.heights.get(m.height);
    if (at === undefined) {
      at = { epoch: m.epoch, by: new Map() };
      this.heights.set(m.height, at);
    }
    at.by.set(m.signer, { hash: m.hash, sig: m.sig });
    if (at.stable === undefined) {
      const agreeing = [...at.by].filter(([, x]) => x.hash === m.hash);
      if (agreeing.length < config.threshold) return;
      // Only verified signatures of members are in `by` (received() checks them first).
      const certificate = assembleCertificate(
        config,
        agreeing.map(([signer, x]) => [signer, x.sig]),
      );
      at.stable = { hash: m.hash, certificate };
      this.sink.emit({ type: 'stable-checkpoint', height: m.height, hash: m.hash, certificate });
      this.lastStable = Math.max(this.lastStable, m.height);
      // Keep the previous stable height too: late lies about it are still reported.
      for (const h of this.heights.keys()) if (h < m.height - this.interval) this.heights.delete(h);
      for (const h of this.mine.keys()) if (h < m.height) this.mine.delete(h);
      const mine = this.mine.get(m.height);
      if (mine !== undefined && mine !== m.hash) return this.sink.diverge(m.height, mine, m.hash);
    }
    const stable = at.stable;
    for (const [signer, x] of at.by) {
      if (x.hash === stable.hash || signer === this.self) continue;
      this.sink.report(`transcript|${signer}|${m.height}`, {
        kind: 'transcript',
        signer,
        epoch: at.epoch,
        height: m.height,
        claimed: x,
        agreed: stable,
      });
    }
  }
}
