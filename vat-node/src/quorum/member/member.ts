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
 * ordering.sqlite), the rest comes from the peers (ordering/sync.ts). Committing at the same
 * points everywhere also keeps what the kernel does at a commit (promise retirement, drop
 * messages to peers) in the same place of every member's transcript and outboxes.
 *
 * The member's transcript hash chains the kernel's crank entries except `startVat` and
 * `retire` cranks: a worker start (this member's restart) and the retiring of promises the
 * worker knows (a restarted worker knows none of the old ones) are local, not agreed, and must
 * not make the member look diverged. A member's restart rebuilds the heap by replay (kernel
 * option restoreHeapByReplay), so heap-only contract state survives it as on the others.
 *
 * A member never acts alone: the kernel refuses every host-initiated call (KernelOptions
 * refuseHost); the quorum's first references come from sturdyref keys in the genesis
 * (bootstrapKeys), whose secrets no member holds.
 */
import type { EventSink, VatEvent } from '../../events/events.ts';
import type { Kernel, KernelOptions } from '../../kernel/kernel.ts';
import type { CrankOutcome, Delivery } from '../../liveslots/protocol.ts';
import { isProtocolError } from '../../protocol/errors.ts';
import type { VatId } from '../../protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../protocol/messages.ts';
import { vatMessage } from '../../protocol/validate.ts';
import { chainHash, entryJson, GENESIS_HASH } from '../../store/chain.ts';
import type { KernelPort, Transport } from '../../transport/types.ts';
import { canonicalJson } from '../../vattp/codec.ts';
import type { VatHost } from '../../vattp/host.ts';
import type { HostIdentity } from '../../vattp/identity.ts';
import { type ChainRecord, ConfigChain } from '../chain.ts';
import { authenticateInputFor, type ChainOf } from '../client/auth.ts';
import { serveQuorumChain } from '../client/chain-protocol.ts';
import {
  type Genesis,
  genesisConfig,
  isLearner,
  isMember,
  quorumVatIdOf,
  toleranceOf,
} from '../config.ts';
import { type Decision, type Observed, OrderingDriver, vatKeyCrypto } from '../ordering/driver.ts';
import { reconfigureFromChain } from '../ordering/reconfigure.ts';
import { Replica, type ReplicaOptions } from '../ordering/replica.ts';
import type { Input, ResumeState } from '../ordering/types.ts';
import { type ChainDocument, chainDocument } from '../status.ts';
import { OrderingLink } from './ordering-link.ts';
import { OrderingStore } from './ordering-store.ts';

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
    'settle' | 'setHostRecord' | 'hostRecord' | 'committedInboundMarks' | 'storeFailure'
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
}

interface Tip {
  readonly id: string;
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
}

export class QuorumMember implements KernelPort, Transport {
  /** The quorum VatID: the vat of this node's kernel. */
  readonly quorum: VatId;
  /** This member host's VatID: what the transport below knows us as. */
  readonly vatId: VatId;
  readonly chain: ConfigChain;
  readonly #opts: QuorumMemberOptions;
  readonly #store: OrderingStore;
  readonly #link: OrderingLink;
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
  #round = 0;
  #leader: VatId | undefined;

  /** Checks the chain and that this host is a member (or learner) of its current configuration. */
  constructor(opts: QuorumMemberOptions) {
    this.#opts = opts;
    this.quorum = quorumVatIdOf(opts.genesis);
    this.vatId = opts.identity.vatId;
    this.chain = new ConfigChain(this.quorum, opts.genesis, opts.records ?? []);
    const current = this.chain.current;
    if (!isMember(current, this.vatId) && !isLearner(current, this.vatId)) {
      throw new Error(
        `this node (${this.vatId}) is not a member of quorum vat ${current.name} (${this.quorum}), epoch ${current.epoch}`,
      );
    }
    if (this.chain.records.length > 0) {
      throw new Error('quorum members after a membership change are not supported yet');
    }
    this.#store = new OrderingStore(opts.dataDir);
    this.#link = new OrderingLink({
      host: opts.host,
      accept: (peer) => peer !== this.vatId && this.#knows(peer),
      deliver: (from, bytes) => this.#driver?.receive(from, bytes),
      connected: (peer) => this.#driver?.peerConnected(peer),
    });
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
      onCrank: (d, o) => this.#onCrank(d, o),
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
    this.#opts.network.wake(peer);
  }

  addHints(peer: VatId, addrs: readonly string[]): void {
    this.#opts.network.addHints?.(peer, addrs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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
    return this.#kernel!.unacked(peer, afterSeq);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    return this.#kernel!.owed(peer, afterSeq);
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
    if (tip !== undefined && tip.epoch !== 0) {
      throw new Error('quorum members after a membership change are not supported yet');
    }
    const safety = this.#store.safety();
    let resume: ResumeState | undefined;
    if (tip !== undefined) {
      const next = new Map<string, number>();
      for (const [peer, seq] of kernel.committedInboundMarks()) {
        next.set(`message\u0000${peer}`, seq + 1);
      }
      const decided = this.#store
        .decided(Math.max(1, tip.height - 1_000))
        .filter((d) => d.height <= tip!.height)
        .map((d) => ({ block: d.block, proof: d.proof }));
      resume = { configs: [config], tip, next, blocks: this.#store.blocks(), decided };
    }
    const options: ReplicaOptions = {
      self: this.vatId,
      genesis: config,
      crypto: vatKeyCrypto(this.#opts.identity.sign),
      authenticateInput: authenticateInputFor(this.quorum, this.#opts.chainOf),
      reconfigure: reconfigureFromChain,
      ...(this.#opts.viewTimeoutMs !== undefined
        ? { viewTimeoutMs: this.#opts.viewTimeoutMs }
        : {}),
      ...(this.#opts.checkpointInterval !== undefined
        ? { checkpointInterval: this.#opts.checkpointInterval }
        : {}),
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
      persistDecided: (d) =>
        this.#store.saveDecided({
          blockId: d.blockId,
          epoch: d.epoch,
          round: d.round,
          height: d.height,
          block: d.block,
          proof: d.proof,
        }),
      afterEvent: () => this.#noteLeader(),
    });
    await this.#link.start();
    await serveQuorumChain(this.#opts.host, () => chainDocument(this.chain));
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
    await kernel.settle();
    if (this.#faulty !== undefined) throw new Error(this.#faulty);
    this.#executed = { height: d.height, hash: this.#hash };
    return this.#hash;
  }

  #onCrank(delivery: Delivery, outcome: CrankOutcome): void {
    // Local, not agreed: a worker start, and retiring promises the worker knows (a restarted
    // worker knows none of the old ones: the kernel forgets those without a retire crank).
    if (delivery.type === 'startVat' || delivery.type === 'retire') return;
    if (!outcome.ok && NON_DETERMINISTIC_ABORT.test(outcome.error)) {
      // The others may well have finished this delivery: committing another outcome would
      // split the quorum. This member stops instead (the batch fails: the driver halts it).
      this.#faulty ??= `a backstop aborted a delivery on this member only (${outcome.error}): it treats itself as faulty`;
    }
    this.#hash = chainHash(this.#hash, entryJson(delivery, outcome));
    this.#kernel?.setHostRecord('ordering.hash', this.#hash);
  }

  #tip(): Tip | undefined {
    const text = this.#kernel!.hostRecord('ordering.tip');
    return text === undefined ? undefined : (JSON.parse(text) as Tip);
  }

  // ---------------------------------------------------------------------------- reports

  #observe(e: Observed): void {
    if (e.type === 'diverged') {
      this.#halt(
        `transcript diverged at height ${e.height}: this member has ${e.local}, ${this.chain.current.threshold} members agreed on ${e.agreed}`,
      );
    } else if (e.type === 'halted') {
      this.#halt(e.reason);
    } else {
      if (e.type === 'stalled') this.#stalled = true;
      if (e.type === 'resumed') this.#stalled = false;
      const event = this.#eventOf(e);
      if (event !== undefined) this.#event(event);
    }
  }

  #eventOf(e: Observed): VatEvent | undefined {
    const quorum = this.quorum;
    switch (e.type) {
      case 'stalled':
        return {
          type: 'quorum-stalled',
          quorum,
          round: e.round,
          height: e.height,
          reason: e.reason,
        };
      case 'resumed':
        return { type: 'quorum-resumed', quorum, height: e.height };
      case 'evidence': {
        const ev = e.evidence;
        return {
          type: 'quorum-evidence',
          quorum,
          kind: ev.kind,
          signer: ev.signer,
          epoch: ev.epoch,
          at: 'round' in ev ? ev.round : ev.height,
        };
      }
      case 'rejected':
        return { type: 'quorum-message-rejected', quorum, peer: e.from, reason: e.reason };
      case 'state-transfer-needed':
        return {
          type: 'quorum-state-transfer-needed',
          quorum,
          fromHeight: e.fromHeight,
          oldestKept: e.oldestKept,
        };
      default:
        return undefined; // stable checkpoints, epochs: nothing an operator needs
    }
  }

  #halt(reason: string): void {
    if (this.#haltReason !== undefined) return;
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

  #knows(peer: VatId): boolean {
    const c = this.chain.current;
    return isMember(c, peer) || isLearner(c, peer);
  }

  #event(e: VatEvent): void {
    this.#opts.events(e);
  }
}

/** The bytes a message is ordered as (Input.body): its canonical JSON (what `auth` signs). */
function messageBody(msg: VatMessage): Uint8Array {
  return new Uint8Array(Buffer.from(canonicalJson(msg), 'utf8'));
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
