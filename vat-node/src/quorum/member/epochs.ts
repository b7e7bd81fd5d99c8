/**
 * What a member knows of its quorum's configurations, and whether it speaks for the quorum.
 *
 *   chain     the certified chain: genesis and the k-signed change records, what receivers
 *             verify (ordering.sqlite `record.<e>`; a longer one fetched from a member replaces it)
 *   entered   the epochs this member's ordering entered: decided, maybe not certified yet
 *             (stored with the decision that made them, ordering.sqlite `epoch.<e>`)
 *   speaking  a host speaks for the quorum (sends its outbox, acks) while it votes in the epoch
 *             its ordering is in AND the certified chain says so: receivers only count members
 *             of a chain they can fetch, so a member voted in waits for the record, and a
 *             removed one stops at once. Peers the kernel woke meanwhile are woken when it
 *             starts speaking.
 */
import type { VatId } from '../../protocol/identity.ts';
import type { ChainRecord, ChangeRequest } from '../chain.ts';
import { ConfigChain } from '../chain.ts';
import { type Genesis, genesisConfig, isLearner, isMember, type QuorumConfig } from '../config.ts';
import { reconfigureFromChain } from '../ordering/reconfigure.ts';
import type { Block } from '../ordering/types.ts';
import { inAny } from './changes.ts';
import type { EpochEntry, OrderingStore } from './ordering-store.ts';

export type Role = 'member' | 'learner' | 'none';

export interface EpochsOptions {
  readonly quorum: VatId;
  /** This member host. */
  readonly self: VatId;
  readonly genesis: Genesis;
  /** Records given at start (--quorum-chain); the stored ones win when longer. */
  readonly records: readonly ChainRecord[];
  readonly store: Pick<OrderingStore, 'records' | 'epochs' | 'saveEpoch'>;
  /** The configuration the ordering is in, once it runs. */
  readonly ordering: () => QuorumConfig | undefined;
  /** Wakes the transport's sending to a peer (this host speaks for the quorum). */
  readonly wake: (peer: VatId) => void;
}

export class Epochs {
  readonly #o: EpochsOptions;
  #chain: ConfigChain;
  /** Epochs the ordering entered (certified or not yet), by epoch. */
  readonly entered = new Map<number, EpochEntry>();
  /** Peers the kernel woke while this host did not speak for the quorum (a learner). */
  readonly #muted = new Set<VatId>();
  #speaking = false;

  constructor(o: EpochsOptions) {
    this.#o = o;
    const given = new ConfigChain(o.quorum, o.genesis, o.records);
    const stored = o.store.records();
    this.#chain =
      stored.length > given.records.length ? new ConfigChain(o.quorum, o.genesis, stored) : given;
    for (const e of o.store.epochs()) this.entered.set(e.config.epoch, e);
  }

  /** The verified configuration chain held (genesis and certified records). */
  get chain(): ConfigChain {
    return this.#chain;
  }

  /** A longer verified chain, fetched from a member (who fetched it stores its records). */
  adopt(chain: ConfigChain): void {
    this.#chain = chain;
  }

  /** A member or learner of any configuration this member knows (certified or decided). */
  knows(peer: VatId): boolean {
    const configs: QuorumConfig[] = [];
    for (let e = 0; e <= this.#chain.current.epoch; e++) configs.push(this.#chain.configAt(e)!);
    for (const entry of this.entered.values()) configs.push(entry.config);
    const ordering = this.#o.ordering();
    if (ordering !== undefined) configs.push(ordering);
    return inAny(configs, peer);
  }

  /** This host's role in a configuration (default: the chain's current one). */
  roleIn(config: QuorumConfig = this.#chain.current): Role {
    if (isMember(config, this.#o.self)) return 'member';
    return isLearner(config, this.#o.self) ? 'learner' : 'none';
  }

  /**
   * A decided block that ends with an accepted change request starts the next epoch: stored
   * with the decision, in the same transaction (a restart finds the epoch with its root).
   */
  noteDecided(d: { epoch: number; height: number; blockId: string; block: Block }): void {
    const last = d.block.inputs.at(-1);
    if (last?.kind !== 'reconfigure') return;
    const before =
      d.epoch === 0 ? genesisConfig(this.#o.genesis) : this.entered.get(d.epoch)?.config;
    if (before === undefined) return;
    const next = reconfigureFromChain(before, last, d.height);
    if (typeof next === 'string') return; // decided and refused: changes nothing
    const body = JSON.parse(Buffer.from(last.body).toString('utf8')) as {
      request: ChangeRequest;
      admin: string;
    };
    const entry: EpochEntry = {
      config: next,
      root: d.blockId,
      since: d.height + 1,
      request: body.request,
      admin: body.admin,
    };
    this.entered.set(next.epoch, entry);
    this.#o.store.saveEpoch(entry);
  }

  /**
   * The ordering entered the epoch of `config` at height `since`: the entry its decision
   * stored, or why there is none (the member cannot follow: it halts).
   */
  enter(config: QuorumConfig, since: number): EpochEntry | string {
    const entry = this.entered.get(config.epoch);
    if (entry === undefined || entry.since !== since) {
      return `entered epoch ${config.epoch} without the change that made it`;
    }
    return entry;
  }

  /** Whether this host speaks for the quorum now. */
  get speaking(): boolean {
    return this.#speaking;
  }

  /** The kernel has something for `peer`: wake the transport now, or when this host speaks. */
  wake(peer: VatId): void {
    if (this.#speaking) this.#o.wake(peer);
    else this.#muted.add(peer);
  }

  /**
   * After the ordering's or the chain's configuration changed: speak (or stop). On starting,
   * wakes the peers muted meanwhile and `owed` (those the kernel has unacknowledged messages
   * for).
   */
  updateSpeaking(owed: () => Iterable<VatId>): void {
    const ordering = this.#o.ordering() ?? this.#chain.current;
    const speaking =
      isMember(ordering, this.#o.self) && isMember(this.#chain.current, this.#o.self);
    if (speaking === this.#speaking) return;
    this.#speaking = speaking;
    if (!speaking) return;
    const peers = new Set([...this.#muted, ...owed()]);
    this.#muted.clear();
    for (const peer of peers) this.#o.wake(peer);
  }
}
