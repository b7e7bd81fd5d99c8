/**
 * The I/O shell around a Replica, for a vat node: bytes in and out through a transport, timers
 * on a clock, decided batches through the executor (the kernel), in order, one at a time, with
 * the transcript hash it returns fed back for checkpoints. Everything else the replica says
 * (evidence, refusals, stalls, epochs, divergence) goes to `observe`, where the node logs it.
 *
 * The replica stays pure; this is the only place with callbacks, timers and promises.
 *
 * Wiring into a member's vat node (next): frames that senders address to the quorum VatID
 * become `submit` (each input with its sender's signature as `auth`, so a member need not have
 * received it to vote, and a sender cannot stall ordering by equivocating); ordering messages
 * between members travel on their own VatTP stream (`send` / `receive`); `execute` hands each
 * input to `KernelPort.receive(from, seq, msg)` in the decided order, commits, and returns the
 * transcript hash; `committedInbound` then lets acks go out (the sender's AckCombiner waits
 * for k of them).
 */
import type { VatId } from '../../protocol/identity.ts';
import type { Sign } from '../../vattp/signing.ts';
import { verifyMemberSignature } from '../signatures.ts';
import { decodeWire, encodeMessage } from './codec.ts';
import type { Replica } from './replica.ts';
import type {
  Block,
  Input,
  OrderingCrypto,
  ReplicaAction,
  SafetyState,
  TimerName,
} from './types.ts';

/**
 * A member's signatures in production: its vat key signs, others' signatures are checked with
 * the public key read off their VatIDs (Ed25519, node:crypto).
 */
export function vatKeyCrypto(sign: Sign): OrderingCrypto {
  return { sign, verify: verifyMemberSignature };
}

/** Best effort: the protocol tolerates loss, duplication and reordering. */
export type SendBytes = (to: VatId, bytes: Uint8Array) => void;

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface Decision {
  readonly epoch: number;
  readonly round: number;
  readonly height: number;
  readonly blockId: string;
  readonly inputs: readonly Input[];
}

/** Runs one decided batch after all earlier ones; returns the transcript hash after it. */
export type Execute = (decision: Decision) => string | Promise<string>;

export type Observed = Exclude<
  ReplicaAction,
  {
    type:
      | 'send'
      | 'broadcast'
      | 'set-timer'
      | 'cancel-timer'
      | 'decide'
      | 'persist-safety'
      | 'persist-block';
  }
>;

export interface DriverOptions {
  readonly replica: Replica;
  readonly send: SendBytes;
  readonly execute: Execute;
  readonly observe?: (event: Observed) => void;
  /**
   * Must write durably and synchronously (the vote it covers is sent right after); hand the
   * last state back as ReplicaOptions.safety when the member restarts.
   */
  readonly persistSafety?: (state: SafetyState) => void;
  /** Likewise, for each block before voting for it (drop them once their height is decided). */
  readonly persistBlock?: (block: Block) => void;
  /**
   * A block is decided (before it is handed to the executor): keep it with its proof, to serve
   * peers and to execute it after a restart if the executor had not (synchronous).
   */
  readonly persistDecided?: (decided: Extract<ReplicaAction, { type: 'decide' }>) => void;
  /**
   * Runs `write` (the persist hooks above, for one event) as one durable transaction: one fsync
   * for the block, the safety state and a decision instead of one each.
   */
  readonly persistTogether?: (write: () => void) => void;
  /** After each event the replica handled (round and leader changes are read off it). */
  readonly afterEvent?: () => void;
  readonly clock?: Clock;
}

type Persisted = Extract<ReplicaAction, { type: 'persist-safety' | 'persist-block' | 'decide' }>;

function isPersisted(a: ReplicaAction): a is Persisted {
  return a.type === 'persist-safety' || a.type === 'persist-block' || a.type === 'decide';
}

export class OrderingDriver {
  private readonly replica: Replica;
  private readonly opts: DriverOptions;
  private readonly clock: Clock;
  private readonly timers = new Map<TimerName, unknown>();
  private executing: Promise<void> = Promise.resolve();
  private closed = false;
  private failed = false;
  /** Heights handed to the executor and not finished yet. */
  private backlog = 0;

  constructor(opts: DriverOptions) {
    this.opts = opts;
    this.replica = opts.replica;
    this.clock = opts.clock ?? systemClock;
  }

  start(): void {
    this.run({ type: 'start' });
  }

  /** Bytes from another member (or a learner); malformed ones are refused by the replica. */
  receive(from: VatId, bytes: Uint8Array): void {
    this.run({ type: 'message', from, message: decodeWire(bytes) ?? null });
  }

  /** An input that arrived directly from its sender. */
  submit(input: Input): void {
    this.run({ type: 'submit', input });
  }

  /** A connection to this peer opened (it may have missed what the best-effort link dropped). */
  peerConnected(peer: VatId): void {
    this.run({ type: 'peer-connected', peer });
  }

  /** Decided batches handed to the executor and not finished yet. */
  get pendingExecutions(): number {
    return this.backlog;
  }

  /** Stops timers and sending; resolves once the executor finished what it was given. */
  async close(): Promise<void> {
    this.closed = true;
    for (const h of this.timers.values()) this.clock.clearTimeout(h);
    this.timers.clear();
    await this.executing;
  }

  private run(event: Parameters<Replica['handle']>[0]): void {
    if (this.closed) return;
    const actions = this.replica.handle(event);
    // Everything this event asks to keep goes to disk first, together, before any of its
    // messages leave: writing a state down earlier than asked is always safe.
    const keep = actions.filter(isPersisted);
    if (keep.length > 0) {
      const write = () => {
        for (const a of keep) this.persist(a);
      };
      if (this.opts.persistTogether) this.opts.persistTogether(write);
      else write();
    }
    for (const a of actions) this.act(a);
    this.opts.afterEvent?.();
  }

  private persist(a: Persisted): void {
    if (a.type === 'persist-safety') this.opts.persistSafety?.(a.state);
    else if (a.type === 'persist-block') this.opts.persistBlock?.(a.block);
    else this.opts.persistDecided?.(a);
  }

  private act(a: ReplicaAction): void {
    switch (a.type) {
      case 'send':
        this.opts.send(a.to, encodeMessage(a.message));
        return;
      case 'broadcast': {
        const bytes = encodeMessage(a.message);
        const config = this.replica.configuration;
        // Learners check their transcript against the members' signed checkpoints too.
        const learners = a.message.type === 'checkpoint' ? config.learners : [];
        for (const to of [...config.members, ...learners]) {
          if (to !== this.replica.self) this.opts.send(to, bytes);
        }
        return;
      }
      case 'set-timer': {
        const old = this.timers.get(a.timer);
        if (old !== undefined) this.clock.clearTimeout(old);
        const { timer, epoch, round } = a;
        this.timers.set(
          timer,
          this.clock.setTimeout(() => {
            this.timers.delete(timer);
            this.run({ type: 'timer', timer, epoch, round });
          }, a.delayMs),
        );
        return;
      }
      case 'persist-safety':
      case 'persist-block':
        return; // done in run(), before anything is sent
      case 'cancel-timer': {
        const old = this.timers.get(a.timer);
        if (old !== undefined) this.clock.clearTimeout(old);
        this.timers.delete(a.timer);
        return;
      }
      case 'decide': {
        const decision: Decision = {
          epoch: a.epoch,
          round: a.round,
          height: a.height,
          blockId: a.blockId,
          inputs: a.inputs,
        };
        this.backlog++;
        this.executing = this.executing.then(async () => {
          if (this.failed) return;
          let hash: string;
          try {
            hash = await this.opts.execute(decision);
          } catch (err) {
            // Later batches must not run after a failed one; the node reports it and stops.
            this.failed = true;
            this.closed = true;
            this.opts.observe?.({
              type: 'halted',
              reason: `executor failed at height ${decision.height}: ${err instanceof Error ? err.message : String(err)}`,
            });
            return;
          } finally {
            this.backlog--;
          }
          this.run({ type: 'executed', height: decision.height, hash });
        });
        return;
      }
      default:
        this.opts.observe?.(a);
    }
  }
}
