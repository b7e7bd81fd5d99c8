/**
 * A vat node: one process running one vat — its kernel (and vat worker) behind VatTP over
 * libp2p. The vat's identity is the Ed25519 key in its data directory; its VatID is the libp2p
 * PeerId of that key, so knowing a VatID (or holding a sturdyref) is enough to reach it. The
 * kernel commits every crank to the same directory (vat.sqlite): a restarted node resumes
 * with its c-lists, promises, unacknowledged messages, sturdyrefs and durable state.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { logEvents } from '../events/log.ts';
import { Kernel } from '../kernel/kernel.ts';
import type { WorkerLimits } from '../kernel/vat-worker.ts';
import { DEFAULT_GAS_LIMIT } from '../liveslots/defaults.ts';
import type { ChainRecord } from '../quorum/chain.ts';
import { nodeHandoffCerts } from '../quorum/client/handoffs.ts';
import { QuorumClientPort } from '../quorum/client/port.ts';
import { type Genesis, quorumVatIdOf, vatPinProblem } from '../quorum/config.ts';
import { QuorumMember } from '../quorum/member/member.ts';
import { type HostIdentity, loadOrCreateIdentity } from '../vattp/identity.ts';
import { NetworkTransport } from '../vattp/network-transport.ts';

export interface VatNodeOptions {
  readonly dataDir: string;
  /** The contract (ES module source). */
  readonly contractSource: string;
  readonly vatName?: string;
  readonly listen?: readonly string[];
  /** A short-lived client (`quorumvat send`): peers do not dial it once it has left. */
  readonly client?: boolean;
  /** What peers should dial (replaces the listen addresses in everything advertised). */
  readonly announce?: readonly string[];
  readonly bootstrap?: readonly string[];
  /** Stop dialling a peer unreachable this long (NetworkTransportOptions.giveUpMs). */
  readonly giveUpMs?: number;
  readonly gasLimit?: number;
  readonly limits?: WorkerLimits;
  readonly logger: Logger;
  /** Keep the vat's state in memory only (throw-away clients). Default: in dataDir. */
  readonly ephemeral?: boolean;
  /** Called after each commit with how long it took (the HTTP endpoint's histogram). */
  readonly onCommit?: (ms: number) => void;
  /**
   * Run as a member of a quorum vat: the kernel's vat is the quorum VatID fixed by `genesis`
   * (quorum/config.ts quorumVatIdOf), this node's key must be a member (or learner) of the
   * configuration the chain (`genesis` + `records`, quorum/chain.ts) leads to, and inbound
   * messages reach the vat only in the order the members agree on (quorum/member/).
   */
  readonly quorum?: {
    readonly genesis: Genesis;
    readonly records?: readonly ChainRecord[];
    /** Decided blocks a member keeps to serve peers (default 10,000 in memory, 2,000 on disk). */
    readonly keepDecided?: number;
  };
}

/** How a graceful stop ended: everything done, or cut short by the grace period. */
export type StopOutcome = 'clean' | 'grace-expired';

function hintQuery(addrs: readonly string[]): string {
  return addrs.length ? `?${addrs.map((a) => `addr=${encodeURIComponent(a)}`).join('&')}` : '';
}

export class VatNode {
  readonly kernel: Kernel;
  readonly transport: NetworkTransport;
  readonly identity: HostIdentity;
  /** On a member of a quorum vat: the member layer (the kernel's vat is member.quorum). */
  readonly member: QuorumMember | undefined;
  readonly #addrs: () => string[];

  private constructor(
    kernel: Kernel,
    transport: NetworkTransport,
    identity: HostIdentity,
    addrs: () => string[],
    member?: QuorumMember,
  ) {
    this.kernel = kernel;
    this.transport = transport;
    this.identity = identity;
    this.#addrs = addrs;
    this.member = member;
  }

  static async start(options: VatNodeOptions): Promise<VatNode> {
    if (options.quorum !== undefined) {
      const problem = vatPinProblem(
        options.quorum.genesis,
        options.contractSource,
        options.gasLimit ?? DEFAULT_GAS_LIMIT,
      );
      if (problem !== undefined) throw new Error(problem);
    }
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const identity = await loadOrCreateIdentity(options.dataDir);
    const events = logEvents(options.logger.child({ vat: identity.vatId }));
    const transport = await NetworkTransport.create({
      identity,
      listen: options.listen,
      announce: options.announce,
      client: options.client,
      bootstrap: options.bootstrap,
      giveUpMs: options.giveUpMs,
      events,
    });
    // Every node talks to quorum vats through their members (quorum/client/): a quorum VatID
    // is one peer to the vat above, k members' agreeing frames below.
    const quorum = options.quorum && quorumVatIdOf(options.quorum.genesis);
    const client = new QuorumClientPort({
      lower: transport,
      sign: identity.sign,
      signInputs: options.quorum === undefined,
      ...(quorum !== undefined ? { quorum } : {}),
      events,
    });
    const chainOf = (q: string) => client.chainOf(q);
    const dataDir = options.ephemeral ? undefined : options.dataDir;
    let kernel: Kernel;
    let member: QuorumMember | undefined;
    try {
      // A member's kernel runs the quorum vat; the member layer orders what reaches it.
      member =
        options.quorum === undefined
          ? undefined
          : new QuorumMember({
              ...options.quorum,
              identity,
              network: client,
              host: transport.host,
              dataDir,
              events,
              chainOf,
            });
      // Far behind, or nothing yet: install another member's certified checkpoint first.
      await member?.restoreFromCheckpoint();
      kernel = await Kernel.create(
        {
          vatId: identity.vatId,
          vatName: options.vatName ?? 'vat',
          contractSource: options.contractSource,
          gasLimit: options.gasLimit ?? DEFAULT_GAS_LIMIT,
          limits: options.limits,
          // A member signs no handoff alone (a quorum's certificates need k members).
          identity: member === undefined ? identity : undefined,
          handoffCerts: nodeHandoffCerts({ identity, chainOf, ...(quorum ? { quorum } : {}) }),
          dataDir,
          events,
          onCommit: options.onCommit,
          ...member?.kernelOptions(),
        },
        member ?? client,
      );
    } catch (e) {
      await (member ?? client).close();
      throw e;
    }
    try {
      await member?.start();
    } catch (e) {
      await kernel.close();
      throw e;
    }
    return new VatNode(kernel, transport, identity, () => transport.multiaddrs(), member);
  }

  /** This node's host VatID (on a member of a quorum vat: the member's, not the quorum's). */
  get vatId(): string {
    return this.identity.vatId;
  }

  multiaddrs(): string[] {
    return this.#addrs();
  }

  /**
   * Mint a sturdyref for the vat's root object, with this node's addresses as hints. A member
   * node refuses (HostRefused): a quorum vat's sturdyrefs are made outside every member.
   */
  mintRootSturdyRef(): string {
    return this.kernel.mintSturdyRef('o+0', this.multiaddrs());
  }

  /**
   * The root sturdyref in `file`: the one already there if this vat still honours it (sturdyrefs
   * are durable), else a fresh one written there. Address hints are refreshed (ports change).
   */
  rootSturdyRef(file: string): string {
    if (existsSync(file)) {
      const old = readFileSync(file, 'utf8').trim();
      if (this.kernel.honours(old)) {
        const fresh = `${old.split('?')[0]}${hintQuery(this.multiaddrs())}`;
        VatNode.writeSecret(file, fresh);
        return fresh;
      }
    }
    const uri = this.mintRootSturdyRef();
    VatNode.writeSecret(file, uri);
    return uri;
  }

  /** Write a secret (a sturdyref) to a file only the owner can read. */
  static writeSecret(path: string, secret: string): void {
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }

  static sturdyRefPath(dataDir: string): string {
    return join(dataDir, 'root.sturdyref');
  }

  async close(): Promise<void> {
    await this.kernel.idle();
    await this.transport.flushAcks();
    await this.kernel.close();
  }

  /**
   * A graceful stop (SIGTERM): no new crank starts; the batch of cranks in progress finishes
   * and is committed; what it owes the peers connected now (answers, acks) is sent; then the store and the
   * transport close. What is still queued stays in the store and runs at the next start.
   * After `graceMs` the stop goes on without waiting any more: a crank cut short was not
   * committed and runs again at the next start (nothing is lost either way).
   */
  async stop(graceMs: number): Promise<StopOutcome> {
    const deadline = Date.now() + graceMs;
    const within = async (work: Promise<void>): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      });
      try {
        return await Promise.race([work.then(() => true), expired]);
      } finally {
        clearTimeout(timer);
      }
    };
    let clean = await within(this.kernel.stopWork());
    // What the last commits owe (answers, acks) goes to the peers connected now; frames that
    // arrived meanwhile are committed at the next turn and acknowledged too.
    if (clean) {
      clean = await within(
        new Promise<void>((r) => setImmediate(r)).then(() => this.transport.flushConnected()),
      );
    }
    await this.kernel.close();
    return clean ? 'clean' : 'grace-expired';
  }
}
