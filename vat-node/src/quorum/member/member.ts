/**
 * A member of a quorum vat: the layer between the kernel (whose vat is the quorum VatID Q)
 * and the host-to-host transport (whose identity is this member host, Mi). Toward the
 * transport it is the KernelPort (vatId Mi); toward the kernel it is the Transport.
 *
 *   inbound   a sender's message (seq, msg, its auth if any) is NOT handed to the kernel: it
 *             becomes an ordering input (driver.submit). The members agree on one order
 *             (ordering/, chained HotStuff over `/quorumvat/ordering/1.0.0`, ordering-link.ts).
 *   execute   each decided batch, strictly after the one before: its inputs go to
 *             kernel.receive in the agreed order, then the member waits until the vat has run
 *             everything they caused and it is committed (kernel.settle), and reports its
 *             transcript hash (checkpoints compare them: a member that diverges stops).
 *   outbound  unchanged: the kernel's outbox is the same on every member (same inputs, same
 *             order, deterministic vat), so each member sends the same seqs to each receiver,
 *             signed by itself; receivers count k identical claims (the client layer).
 *   acks      a member acknowledges what its kernel committed; the sender's combiner waits
 *             for k of them.
 *
 * Durability: safety state, undecided and decided blocks are in ordering.sqlite, written
 * before the vote or execution that depends on them (ordering-store.ts). Where execution
 * stands is in the kernel's store: the kernel commits once per agreed batch (holdCommits),
 * with `ordering.tip` (the last executed block) and `ordering.hash` (the member's transcript
 * hash) in the same transaction as the batch's cranks and inbound marks. A crash never leaves
 * half a batch: a restarted member resumes at the last whole one, its kernel's inbound marks are
 * the senders' decided marks, blocks decided but not executed are executed first (they are in
 * ordering.sqlite), the ordering resumes where the kernel stands (resume.ts), the rest comes
 * from the peers (ordering/sync.ts). Committing at the same
 * points everywhere also keeps what the kernel does at a commit (promise retirement, drop
 * messages to peers) in the same place of every member's transcript and outboxes.
 *
 * The member's transcript hash chains the kernel's crank entries except `startVat` and
 * `retire` cranks: a worker start (this member's restart) and the retiring of promises the
 * worker knows (a restarted worker knows none of the old ones) are local, not agreed, and must
 * not make the member look diverged. A member's restart rebuilds the heap by replay (kernel
 * option restoreHeapByReplay), so heap-only contract state survives it as on the others.
 *
 * State transfer: at every checkpoint height the member's statement also signs a digest of its
 * committed kernel state; once k members certified one, it serves that state, and a host that
 * starts with an empty store or too far behind installs a certified one before its kernel opens
 * the store (state-transfer.ts).
 *
 * Membership changes (taking requests, certifying records, heartbeats) are changes.ts; the
 * chain, the epochs the ordering entered and when this host speaks for the quorum, epochs.ts;
 * what an operator sees of the ordering, as events, is events.ts.
 *
 * A member never acts alone: the kernel refuses every host-initiated call (KernelOptions
 * refuseHost); the quorum's first references come from sturdyref keys in the genesis
 * (bootstrapKeys), whose secrets no member holds.
 */
import type { EventSink, VatEvent } from '../../events/events.ts';
import { type Kernel, type KernelOptions, KernelStopping } from '../../kernel/kernel.ts';
import type { CrankOutcome, Delivery } from '../../liveslots/protocol.ts';
import { isProtocolError } from '../../protocol/errors.ts';
import type { VatId } from '../../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../protocol/messages.ts';
import { vatMessage } from '../../protocol/validate.ts';
import { chainHash, entryJson, GENESIS_HASH } from '../../store/chain.ts';
import type { KernelPort, Transport } from '../../transport/types.ts';
import { messageJson } from '../../vattp/codec.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { HostIdentity } from '../../vattp/identity.ts';
import type { ChainRecord, ConfigChain } from '../chain.ts';
import { authenticateInputFor, type ChainOf } from '../client/auth.ts';
import { fetchQuorumChain, pushQuorumChain, serveQuorumChain } from '../client/chain-protocol.ts';
import {
  type Genesis,
  genesisConfig,
  isQuorumVatId,
  quorumVatIdOf,
  toleranceOf,
} from '../config.ts';
import { type Decision, type Observed, OrderingDriver, vatKeyCrypto } from '../ordering/driver.ts';
import { reconfigureFromChain } from '../ordering/reconfigure.ts';
import { Replica, type ReplicaOptions } from '../ordering/replica.ts';
import type { Input } from '../ordering/types.ts';
import { type ChainDocument, chainDocument } from '../status.ts';
import { type ChangeOutcome, Changes, type SignedChange } from './changes.ts';
import { Epochs } from './epochs.ts';
import { memberEventOf } from './events.ts';
import { OrderingLink } from './ordering-link.ts';
import { OrderingStore } from './ordering-store.ts';
import { resumeState, type Tip } from './resume.ts';
import { type SnapshotHeader, serveQuorumSnapshot } from './snapshot-protocol.ts';
import { StateTransfer } from './state-transfer.ts';

export const MEMBER_REFUSES_HOST =
  'this node is a member of a quorum vat: a member never acts alone (everything its vat does comes through the agreed order)';

/** Inputs kept while the member starts (before the ordering runs). */
const MAX_EARLY_INPUTS = 10_000;

/**
 * A crank aborted by a backstop that is not part of the agreed computation: the wall clock or
 * the memory cap (vat-worker.ts), or the worker dying. Gas is deterministic and not here.
 */
const NON_DETERMINISTIC_ABORT =
  /^(vat exceeded its (time|memory) limit|vat worker (failed|exited)|terminated$)/;

/** What the member needs of its kernel (kernel/kernel.ts Kernel). */
type MemberKernel = KernelPort &
  Pick<
    Kernel,
    | 'settle'
    | 'setHostRecord'
    | 'hostRecord'
    | 'committedInboundMarks'
    | 'storeFailure'
    | 'unackedCounts'
    | 'storeImage'
  >;

export interface QuorumMemberOptions {
  readonly genesis: Genesis;
  readonly records?: readonly ChainRecord[];
  /** This member host (its key signs votes and frames). */
  readonly identity: HostIdentity;
  /** The host-to-host transport below (NetworkTransport, or the client layer over it). */
  readonly network: Transport;
  readonly host: VatHost;
  /** Where ordering.sqlite goes; undefined: in memory. */
  readonly dataDir?: string;
  readonly events: EventSink;
  /** Verified chains of other quorum vats (the client layer's): checks their inputs' auth. */
  readonly chainOf?: ChainOf;
  /** Overrides of the genesis parameters (tests). */
  readonly viewTimeoutMs?: number;
  readonly checkpointInterval?: number;
  /** Decided blocks kept to serve peers, in memory and in ordering.sqlite (tests: small). */
  readonly keepDecided?: number;
}

export class QuorumMember implements KernelPort, Transport {
  /** The quorum VatID: the vat of this node's kernel. */
  readonly quorum: VatId;
  /** This member host's VatID: what the transport below knows us as. */
  readonly vatId: VatId;
  readonly #opts: QuorumMemberOptions;
  readonly #store: OrderingStore;
  readonly #link: OrderingLink;
  readonly #changes: Changes;
  /** The chain, the epochs the ordering entered, whether this host speaks (epochs.ts). */
  readonly #epochs: Epochs;
  #kernel: MemberKernel | undefined;
  #replica: Replica | undefined;
  #driver: OrderingDriver | undefined;
  #hash = GENESIS_HASH;
  #executed = { height: 0, hash: GENESIS_HASH };
  #early: Input[] = [];
  #faulty: string | undefined;
  #haltReason: string | undefined;
  #stalled = false;
  #closed = false;
  /** The node stopped the kernel in the middle of a batch (not a fault: nothing to report). */
  #stopping = false;
  #round = 0;
  #leader: VatId | undefined;
  readonly #transfer: StateTransfer;

  /**
   * Checks the chain: the given records (--quorum-chain) or the ones this member stored,
   * whichever is longer. Whether this host is a member or learner is checked at start, after
   * asking the members for a newer chain if it is not.
   */
  constructor(opts: QuorumMemberOptions) {
    this.#opts = opts;
    this.quorum = quorumVatIdOf(opts.genesis);
    this.vatId = opts.identity.vatId;
    this.#store = new OrderingStore(opts.dataDir, opts.keepDecided);
    this.#epochs = new Epochs({
      quorum: this.quorum,
      self: this.vatId,
      genesis: opts.genesis,
      records: opts.records ?? [],
      store: this.#store,
      ordering: () => this.#replica?.configuration,
      wake: (peer) => opts.network.wake(peer),
    });
    this.#link = new OrderingLink({
      host: opts.host,
      accept: (peer) => peer !== this.vatId && this.#epochs.knows(peer),
      deliver: (from, bytes) => {
        if (!this.#changes.receive(from, bytes)) this.#driver?.receive(from, bytes);
      },
      connected: (peer) => this.#driver?.peerConnected(peer),
    });
    this.#changes = new Changes({
      quorum: this.quorum,
      self: this.vatId,
      sign: opts.identity.sign,
      store: this.#store,
      events: opts.events,
      heartbeatMs: Math.max(200, Math.min(1_000, this.chain.current.params.viewTimeoutMs / 2)),
      chain: () => this.chain,
      adoptChain: (chain) => this.#epochs.adopt(chain),
      ordering: () =>
        this.#replica === undefined
          ? undefined
          : { config: this.#replica.configuration, height: this.#replica.decidedHeight },
      submit: (input) => this.#driver?.submit(input),
      send: (to, bytes) => this.#link.send(to, bytes),
      fetchChain: (peer, signal) => fetchQuorumChain(opts.host, peer, signal, this.quorum),
      grew: () => this.#chainGrew(),
    });
    this.#transfer = new StateTransfer({
      quorum: this.quorum,
      self: this.vatId,
      host: opts.host,
      dataDir: opts.dataDir,
      store: this.#store,
      epochs: this.#epochs.entered,
      chain: () => this.chain,
      newerChain: (enough) => this.#fetchNewerChain(enough),
      events: opts.events,
    });
  }

  /** The verified configuration chain this member holds (genesis and certified records). */
  get chain(): ConfigChain {
    return this.#epochs.chain;
  }

  /**
   * An administrator's signed change: checked (ChainError, before anything is ordered), ordered,
   * and answered once k members certified its record (node/http/quorum.ts POST /quorum/changes).
   */
  submitChange(change: SignedChange, signal: AbortSignal): Promise<ChangeOutcome> {
    return this.#changes.submit(change, signal);
  }

  /**
   * A learner has executed everything it decided and its last sync reached a member's decided
   * tip; a voting member always counts as caught up. The member it synced with may itself lag
   * (a change is answered once one member decided it): a learner that has not yet entered the
   * epoch its own chain shows (the one that admitted it) is not caught up.
   */
  get caughtUp(): boolean {
    const s = this.#replica?.status();
    if (s === undefined) return false;
    if (s.epoch < this.chain.current.epoch && this.#epochs.roleIn() !== 'member') return false;
    return s.caughtUp && this.#executed.height >= s.height;
  }

  /** The kernel options a member's kernel must be created with. */
  kernelOptions(): Pick<
    KernelOptions,
    | 'vatId'
    | 'refuseHost'
    | 'bootstrapKeys'
    | 'onCrank'
    | 'holdCommits'
    | 'restoreHeapByReplay'
    | 'haltOnBackstop'
  > {
    return {
      vatId: this.quorum,
      refuseHost: MEMBER_REFUSES_HOST,
      bootstrapKeys: this.#opts.genesis.sturdyKeys,
      onCrank: (d, o, entry) => this.#onCrank(d, o, entry),
      // One commit per agreed batch (settle): the same commit points on every member.
      holdCommits: true,
      // A restart rebuilds the vat's heap by replay (the other members' heaps did not restart);
      // planned worker refreshes then fall on the same crank on every member (kernel/lifecycle.ts).
      restoreHeapByReplay: true,
      // A backstop the others may not hit (wall clock, memory) stops this member: it commits
      // nothing of that batch, and execute fails (the member halts and says why, once).
      haltOnBackstop: true,
    };
  }

  /** The replica's status: epoch, round, decided height, leader, pending inputs, halted. */
  status() {
    return this.#replica?.status();
  }

  /** No agreed progress for several view timeouts (said once in the log), until it resumes. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Why this member stopped executing, if it did. */
  get halted(): string | undefined {
    return this.#haltReason;
  }

  /** The verified configuration chain (genesis and records). */
  chainDocument(): ChainDocument {
    return chainDocument(this.chain);
  }

  /** The stable checkpoint this host installed at start (state transfer), if it did. */
  get restoredFrom(): { readonly height: number; readonly peer: VatId } | undefined {
    return this.#transfer.restoredFrom;
  }

  /** The height of the certified state this member serves to hosts catching up, if any. */
  get servedCheckpoint(): number | undefined {
    return this.#transfer.servedHeight;
  }

  /** The last batch this member executed, and its transcript hash after it. */
  get executed(): { readonly height: number; readonly hash: string } {
    return this.#executed;
  }

  // ------------------------------------------------------------ Transport (toward the kernel)

  attach(kernel: KernelPort): void {
    if (this.#kernel !== undefined) throw new Error('a kernel is already attached');
    if (kernel.vatId !== this.quorum) {
      throw new Error(`kernel ${kernel.vatId} is not the quorum vat ${this.quorum}`);
    }
    this.#kernel = kernel as MemberKernel;
    this.#hash = this.#kernel.hostRecord('ordering.hash') ?? GENESIS_HASH;
    this.#executed = { height: this.#tip()?.height ?? 0, hash: this.#hash };
    this.#opts.network.attach(this);
  }

  wake(peer: VatId): void {
    this.#epochs.wake(peer);
  }

  addHints(peer: VatId, addrs: readonly string[]): void {
    this.#opts.network.addHints?.(peer, addrs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#changes.close();
    await this.#driver?.close();
    await this.#link.close();
    await this.#opts.network.close();
    this.#store.close();
  }

  // --------------------------------------------------------- KernelPort (toward the network)

  /** A sender's message: an input to order, not a delivery. */
  receive(peer: VatId, seq: number, msg: VatMessage, auth?: Uint8Array): 'accepted' | 'duplicate' {
    const kernel = this.#kernel!;
    if (seq <= kernel.committedInbound(peer)) return 'duplicate';
    const input: Input = {
      kind: 'message',
      from: peer,
      seq,
      body: messageBody(msg),
      ...(auth !== undefined ? { auth } : {}),
    };
    if (this.#driver !== undefined) this.#driver.submit(input);
    else if (this.#early.length < MAX_EARLY_INPUTS) this.#early.push(input);
    return 'accepted';
  }

  committedInbound(peer: VatId): number {
    return this.#kernel!.committedInbound(peer);
  }

  /**
   * The peer acknowledged Q's messages up to `seq`. It may have them from other members before
   * this one committed them: forget what we have up to there.
   */
  acked(peer: VatId, seq: number): void {
    const kernel = this.#kernel!;
    try {
      kernel.acked(peer, seq);
    } catch (err) {
      if (!isProtocolError(err, 'out-of-order')) throw err;
      const last = kernel.unacked(peer, 0).at(-1)?.seq;
      if (last !== undefined) kernel.acked(peer, last);
    }
  }

  unacked(peer: VatId, afterSeq: number): readonly Sequenced[] {
    // A learner (or a removed member) makes no claims for the quorum: receivers would not count them.
    if (!this.#epochs.speaking) return [];
    return this.#kernel!.unacked(peer, afterSeq);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    return this.#epochs.speaking && this.#kernel!.owed(peer, afterSeq);
  }

  // ------------------------------------------------------------------------------ start

  /**
   * After the kernel attached: execute what was decided but not executed before a crash, start
   * the ordering (resumed where the kernel's store stands), serve the ordering and chain
   * protocols.
   */
  async start(): Promise<void> {
    const kernel = this.#kernel;
    if (kernel === undefined) throw new Error('start() before the kernel attached');
    // Whatever the restart queued (nothing, after a whole batch) runs before anything new.
    await kernel.settle();
    let tip = this.#tip();
    this.#executed = { height: tip?.height ?? 0, hash: this.#hash };
    // Decided before the crash, not executed: the proofs were checked when they were decided.
    for (const d of this.#store.decided(tip === undefined ? 1 : tip.height + 1)) {
      if (d.height !== (tip?.height ?? 0) + 1) break;
      await this.#execute({ ...d, inputs: d.block.inputs });
      tip = this.#tip();
    }
    const config = genesisConfig(this.#opts.genesis);
    await this.#checkRole();
    const safety = this.#store.safety();
    const resume =
      tip === undefined
        ? undefined
        : resumeState({
            genesis: config,
            tip,
            epochs: this.#epochs.entered,
            inboundMarks: kernel.committedInboundMarks(),
            store: this.#store,
          });
    const options: ReplicaOptions = {
      self: this.vatId,
      genesis: config,
      crypto: vatKeyCrypto(this.#opts.identity.sign),
      authenticateInput: authenticateInputFor(this.quorum, this.#opts.chainOf),
      reconfigure: reconfigureFromChain,
      // Members and learners of every configuration this member knows may pull decisions.
      maySync: (peer) => this.#epochs.knows(peer),
      ...(this.#opts.viewTimeoutMs !== undefined
        ? { viewTimeoutMs: this.#opts.viewTimeoutMs }
        : {}),
      ...(this.#opts.checkpointInterval !== undefined
        ? { checkpointInterval: this.#opts.checkpointInterval }
        : {}),
      ...(this.#opts.keepDecided !== undefined ? { keepDecided: this.#opts.keepDecided } : {}),
      stateDigest: (height) =>
        this.#transfer.stateAt(height, this.#kernel?.storeImage(), this.#executed),
      ...(safety !== undefined ? { safety } : {}),
      ...(resume !== undefined ? { resume } : {}),
    };
    const replica = new Replica(options);
    this.#replica = replica;
    this.#driver = new OrderingDriver({
      replica,
      send: (to, bytes) => this.#link.send(to, bytes),
      execute: (d) => this.#execute(d),
      observe: (e) => this.#observe(e),
      persistSafety: (s) => this.#store.saveSafety(s),
      persistBlock: (b) => this.#store.saveBlock(b),
      persistTogether: (write) => this.#store.transaction(write),
      persistDecided: (d) => {
        this.#epochs.noteDecided(d);
        this.#store.saveDecided({
          blockId: d.blockId,
          epoch: d.epoch,
          round: d.round,
          height: d.height,
          block: d.block,
          proof: d.proof,
        });
      },
      afterEvent: () => this.#noteLeader(),
    });
    await this.#link.start();
    await serveQuorumChain(this.#opts.host, () => chainDocument(this.chain));
    this.#transfer.loadServed();
    await serveQuorumSnapshot(this.#opts.host, this.quorum, {
      allowed: (peer) => peer !== this.vatId && this.#epochs.knows(peer),
      answer: (after) => this.answerSnapshot(after),
    });
    // Changes decided before a restart and not certified then: certify them now.
    for (const entry of [...this.#epochs.entered.values()].sort((a, b) => a.since - b.since)) {
      this.#changes.entered(entry);
    }
    this.#changes.start();
    this.#updateSpeaking();
    const t = toleranceOf(config);
    this.#event({
      type: 'quorum-member-started',
      quorum: this.quorum,
      name: config.name,
      epoch: config.epoch,
      members: config.members.length,
      threshold: config.threshold,
      byzantine: t.byzantine,
      crashes: t.crashes,
      height: tip?.height ?? 0,
    });
    this.#driver.start();
    // Peers that connected before the driver existed (the host starts first): catch up now.
    for (const peer of this.chain.current.members) {
      if (peer !== this.vatId && this.#opts.host.isConnected(peer))
        this.#driver.peerConnected(peer);
    }
    const early = this.#early;
    this.#early = [];
    for (const input of early) this.#driver.submit(input);
  }

  // -------------------------------------------------------------------------- execution

  async #execute(d: Decision): Promise<string> {
    const kernel = this.#kernel!;
    if (this.#haltReason !== undefined) throw new Error(this.#haltReason);
    for (const input of d.inputs) {
      if (input.kind !== 'message') continue; // a membership change: the replica's business
      try {
        kernel.receive(input.from, input.seq, decodeBody(input.body));
      } catch (err) {
        // Refused the same way on every member (the message is consumed, deterministically).
        if (!isProtocolError(err)) throw err;
        this.#event({
          type: 'peer-message-refused',
          peer: input.from,
          code: err.code,
          reason: err.message,
        });
      }
    }
    const tip: Tip = { id: d.blockId, epoch: d.epoch, round: d.round, height: d.height };
    kernel.setHostRecord('ordering.tip', JSON.stringify(tip));
    try {
      await kernel.settle();
    } catch (err) {
      // A graceful stop mid-batch: nothing of the batch was committed, it runs at the restart.
      if (err instanceof KernelStopping) this.#stopping = true;
      throw err;
    }
    if (this.#faulty !== undefined) throw new Error(this.#faulty);
    this.#executed = { height: d.height, hash: this.#hash };
    return this.#hash;
  }

  #onCrank(delivery: Delivery, outcome: CrankOutcome, entry?: string): void {
    // Local, not agreed: a worker start, and retiring promises the worker knows (a restarted
    // worker knows none of the old ones: the kernel forgets those without a retire crank).
    if (delivery.type === 'startVat' || delivery.type === 'retire') return;
    if (!outcome.ok && NON_DETERMINISTIC_ABORT.test(outcome.error)) {
      // The others may well have finished this delivery: committing another outcome would
      // split the quorum. This member stops instead (the batch fails: the driver halts it).
      this.#faulty ??= `a backstop aborted a delivery on this member only (${outcome.error}): it treats itself as faulty`;
    }
    this.#hash = chainHash(this.#hash, entry ?? entryJson(delivery, outcome));
    this.#kernel?.setHostRecord('ordering.hash', this.#hash);
  }

  #tip(): Tip | undefined {
    const text = this.#kernel!.hostRecord('ordering.tip');
    return text === undefined ? undefined : (JSON.parse(text) as Tip);
  }

  // ----------------------------------------------------------------- state transfer

  /**
   * What this member answers a host whose decided tip is `after` (the snapshot protocol; see
   * StateTransfer.answer).
   */
  answerSnapshot(after: number): { header: SnapshotHeader; bytes?: Uint8Array } {
    return this.#transfer.answer(after, this.#replica);
  }

  /**
   * Before the kernel opens its store (node/vat-node.ts): installs a certified checkpoint if
   * this host has no state or is too far behind (StateTransfer.restore).
   */
  restoreFromCheckpoint(): Promise<void> {
    return this.#transfer.restore();
  }

  /**
   * Asks the members for their chain, keeping each longer one that verifies, until `enough`
   * holds of the chain held (or every member was asked).
   */
  async #fetchNewerChain(enough: (chain: ConfigChain) => boolean): Promise<void> {
    for (const peer of this.chain.current.members) {
      if (peer === this.vatId) continue;
      try {
        const fetched = await fetchQuorumChain(
          this.#opts.host,
          peer,
          AbortSignal.timeout(5_000),
          this.quorum,
        );
        if (fetched.records.length > this.chain.records.length) {
          this.#epochs.adopt(fetched);
          for (const [i, r] of fetched.records.entries()) this.#store.saveRecord(i, r);
        }
        if (enough(this.chain)) return;
      } catch {
        // the next member
      }
    }
  }

  // ---------------------------------------------------------------------------- reports

  #observe(e: Observed): void {
    if (e.type === 'diverged') {
      this.#halt(
        `transcript or state diverged at height ${e.height}: this member has ${e.local}, ${this.chain.current.threshold} members agreed on ${e.agreed} (at checkpoint heights: the hash of transcript hash and state digest)`,
      );
    } else if (e.type === 'halted') {
      this.#halt(e.reason);
    } else if (e.type === 'epoch') {
      this.#enteredEpoch(e);
    } else if (e.type === 'stable-checkpoint') {
      this.#transfer.certified(e);
    } else if (e.type === 'state-transfer-needed') {
      // Nothing to execute until a checkpoint is installed, which happens at start: halting
      // says so (/healthz fails, so a supervisor restarts it) instead of waiting forever.
      this.#halt(
        `too far behind: needs decided blocks from height ${e.fromHeight}, the members keep them from ${e.oldestKept}; restart it to install the latest stable checkpoint`,
      );
    } else {
      if (e.type === 'stalled') this.#stalled = true;
      if (e.type === 'resumed') this.#stalled = false;
      const event = memberEventOf(this.quorum, e);
      if (event !== undefined) this.#event(event);
    }
  }

  #halt(reason: string): void {
    if (this.#haltReason !== undefined || this.#stopping) return;
    this.#haltReason = reason;
    this.#event({ type: 'quorum-halted', quorum: this.quorum, reason });
  }

  #noteLeader(): void {
    const r = this.#replica;
    if (r === undefined || r.currentRound === this.#round) return;
    this.#round = r.currentRound;
    const leader = r.leaderOf(this.#round);
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#event({ type: 'quorum-leader', quorum: this.quorum, round: this.#round, leader });
  }

  /**
   * Not a member or learner of the chain it was given: a host added later that was started
   * with an older chain asks the members it knows for theirs.
   */
  async #checkRole(): Promise<void> {
    const belongs = (chain: ConfigChain) => this.#epochs.roleIn(chain.current) !== 'none';
    if (belongs(this.chain)) return;
    await this.#fetchNewerChain(belongs);
    if (belongs(this.chain)) return;
    const current = this.chain.current;
    throw new Error(
      `this node (${this.vatId}) is not a member or learner of quorum vat ${current.name} (${this.quorum}), epoch ${current.epoch}: ask the administrator to add it as a learner first (quorumvat quorum change --add-learner ${this.vatId})`,
    );
  }

  /** The ordering decided a change: the next epoch is in force; its record gets certified. */
  #enteredEpoch(e: Extract<Observed, { type: 'epoch' }>): void {
    const entry = this.#epochs.enter(e.config, e.since);
    if (typeof entry === 'string') {
      this.#halt(entry);
      return;
    }
    this.#event({
      type: 'quorum-epoch',
      quorum: this.quorum,
      epoch: e.config.epoch,
      since: e.since,
      members: e.config.members.length,
      threshold: e.config.threshold,
      role: this.#epochs.roleIn(e.config),
    });
    this.#changes.entered(entry);
    this.#updateSpeaking();
  }

  /**
   * A change was certified: speak (or stop) accordingly, and tell the hosts the quorum vat talks
   * to (they verify the chain themselves; best effort: a host that misses it refetches when a
   * frame comes from a host it does not know as a member).
   */
  #chainGrew(): void {
    this.#updateSpeaking();
    const kernel = this.#kernel;
    if (kernel === undefined || this.#closed) return;
    const doc = chainDocument(this.chain);
    const peers = new Set([
      ...kernel.unackedCounts().keys(),
      ...kernel.committedInboundMarks().keys(),
    ]);
    for (const peer of peers) {
      if (isQuorumVatId(peer) || peer === this.vatId) continue;
      pushQuorumChain(this.#opts.host, peer, doc, AbortSignal.timeout(10_000)).catch(() => {});
    }
  }

  /** Speak for the quorum, or stop (epochs.ts): on starting, what the kernel owes goes out. */
  #updateSpeaking(): void {
    this.#epochs.updateSpeaking(() => this.#kernel?.unackedCounts().keys() ?? []);
  }

  #event(e: VatEvent): void {
    this.#opts.events(e);
  }
}

/** The bytes a message is ordered as (Input.body): its canonical JSON (what `auth` signs). */
function messageBody(msg: VatMessage): Uint8Array {
  return new Uint8Array(Buffer.from(messageJson(msg), 'utf8'));
}

/** An ordered body back to the message; one that is not a valid message is a no-op drop. */
function decodeBody(body: Uint8Array): VatMessage {
  try {
    return vatMessage(JSON.parse(Buffer.from(body).toString('utf8')));
  } catch {
    // Only a sender can have signed such a body (members vote only for inputs they received
    // or whose sender signed them): it consumes the sender's seq and does nothing.
    return { op: 'drop', refs: [] };
  }
}
