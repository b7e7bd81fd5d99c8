/**
 * A deterministic simulated network for the ordering core (tests and the micro-bench): members
 * are Replicas in one process, messages go through the wire codec with seeded random delays,
 * drops before GST, partitions and crashes, on a fake clock. Same seed, same run.
 *
 * Senders send every input to every live member (as VatTP senders do), each copy with its own
 * delay; a member's executor is a rolling SHA-256 over the decided inputs that reports
 * `executed` back, so checkpoints compare real transcript hashes.
 */
import { createHash, createHmac } from 'node:crypto';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { VatId } from '../../protocol/identity.ts';
import { publicKeyOfVatId } from '../../vattp/identity.ts';
import { makeSigner, verifySignature } from '../../vattp/signing.ts';
import { genesisConfig, makeGenesis, type QuorumConfig } from '../config.ts';
import type { TestKey, TestMember, TestQuorum } from '../testing.ts';
import { decodeWire, encodeMessage } from './codec.ts';
import { seqKey } from './pool.ts';
import { Replica, type ReplicaOptions } from './replica.ts';
import { genesisBlockId, inputDigest } from './statements.ts';
import type {
  Block,
  CommitProof,
  Evidence,
  Input,
  OrderingCrypto,
  OrderingMessage,
  ReplicaAction,
  ReplicaEvent,
  ResumeState,
  SafetyState,
} from './types.ts';

/** Ed25519 keys from a seed and a label, so a seed names the very same run (VatIDs included). */
async function seededKey(seed: number, label: string) {
  const bytes = createHash('sha256').update(`quorumvat-sim:${seed}:${label}`).digest();
  const key = await generateKeyPairFromSeed('Ed25519', bytes);
  const publicKey = key.publicKey.raw;
  return { key, publicKey, sign: makeSigner(bytes, publicKey) };
}

/** A test quorum (all `total` identities as members, threshold total) made from the seed. */
async function seededQuorum(seed: number, total: number): Promise<TestQuorum> {
  const members: TestMember[] = [];
  for (let i = 0; i < total; i++) {
    const { key, sign } = await seededKey(seed, `member-${i}`);
    members.push({ vatId: peerIdFromPrivateKey(key).toString(), sign });
  }
  members.sort((a, b) => (a.vatId < b.vatId ? -1 : a.vatId > b.vatId ? 1 : 0));
  const adminKey = await seededKey(seed, 'admin');
  const admin: TestKey = {
    publicKey: Buffer.from(adminKey.publicKey).toString('hex'),
    sign: adminKey.sign,
  };
  const genesis = makeGenesis({
    name: 'sim',
    nonce: createHash('sha256').update(`nonce:${seed}`).digest('hex').slice(0, 32),
    members: members.map((m) => m.vatId),
    threshold: total,
    admin: admin.publicKey,
  });
  const signerOf = new Map(members.map((m) => [m.vatId, m.sign]));
  return { genesis, config: genesisConfig(genesis), members, admin, signerOf };
}

/** Seeded PRNG (mulberry32): uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Decision {
  readonly epoch: number;
  readonly round: number;
  readonly block: Block;
  readonly proof: CommitProof;
  readonly height: number;
  readonly blockId: string;
  readonly inputs: readonly Input[];
}

/** Rewrites what a (Byzantine) member's replica emits; return the actions to carry out. */
export type Behaviour = (sim: Sim, member: SimMember, action: ReplicaAction) => ReplicaAction[];

export interface SimMember {
  readonly id: VatId;
  replica: Replica;
  readonly sign: (bytes: Uint8Array) => Uint8Array;
  crashed: boolean;
  byzantine: boolean;
  behaviour?: Behaviour;
  /** Replaces the executor's hash (a member that lies about, or diverges in, its transcript). */
  transcriptHash?: (height: number, honest: string) => string;
  /** A fresh replica of this member (after a restart), given its persisted safety state. */
  readonly make: (safety?: SafetyState, resume?: ResumeState) => Replica;
  /** The last persist-safety state (what survives a restart). */
  safety?: SafetyState;
  /** Blocks it persisted before voting for them (undecided ones survive a restart). */
  persistedBlocks: Block[];
  /** Configurations it switched to, with their root blocks (kept durably, like `decided`). */
  readonly epochs: { config: QuorumConfig; root: string }[];
  /** Decisions re-made after a restart that differ from the ones made before it. */
  readonly redecided: string[];
  readonly decided: Decision[];
  readonly evidence: Evidence[];
  readonly rejected: { from: VatId; reason: string }[];
  readonly actions: ReplicaAction[];
  /** stalled / resumed actions, in order. */
  readonly liveness: ReplicaAction[];
  transcript: string;
}

export interface SimOptions {
  readonly seed: number;
  readonly n: number;
  readonly k: number;
  /** Real Ed25519 (node:crypto) or a fast keyed-hash stand-in (HMAC-SHA-512: 64 bytes, like an Ed25519 signature, so certificates hold it) for big randomized runs. */
  readonly crypto?: 'ed25519' | 'fake';
  /** Message delay range in ms. Default 1..10. */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Before GST messages are dropped with this probability. */
  readonly dropRate?: number;
  readonly gstMs?: number;
  /** Send messages through encodeMessage/decodeWire (default true). */
  readonly codec?: boolean;
  /** Learners: extra identities, not members of genesis (they follow by sync). */
  readonly learners?: number;
  readonly replica?: Partial<ReplicaOptions>;
  /** Keep every action of every member (debugging). */
  readonly keepActions?: boolean;
  readonly quorum?: TestQuorum;
}

interface Scheduled {
  at: number;
  seq: number;
  run: () => void;
}

/** A binary min-heap of (at, seq). */
class Queue {
  private readonly items: Scheduled[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Scheduled | undefined {
    return this.items[0];
  }
  push(x: Scheduled): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!Queue.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Scheduled | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && Queue.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && Queue.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  private static less(x: Scheduled, y: Scheduled): boolean {
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }
}

const GENESIS_TRANSCRIPT = '0'.repeat(64);

export class Sim {
  now = 0;
  readonly rand: () => number;
  readonly members = new Map<VatId, SimMember>();
  /** Every input submitted, by `from#seq`. */
  readonly submitted = new Map<string, Input>();
  /** Message inputs submitted or scheduled by stream(). */
  expectedInputs = 0;
  messagesSent = 0;
  bytesSent = 0;
  private readonly queue = new Queue();
  private seq = 0;
  private readonly timers = new Map<string, number>();
  private readonly blocked = new Set<string>();
  private readonly streamed = new Set<string>();
  private readonly opts: SimOptions;
  readonly quorum: TestQuorum;
  private readonly secrets = new Map<VatId, Buffer>();

  static async create(opts: SimOptions): Promise<Sim> {
    const total = opts.n + (opts.learners ?? 0);
    const quorum = opts.quorum ?? (await seededQuorum(opts.seed, total));
    return new Sim(opts, quorum);
  }

  private constructor(opts: SimOptions, quorumWithLearners: TestQuorum) {
    this.opts = opts;
    this.rand = prng(opts.seed);
    // The first n identities are the genesis members; the rest are learners.
    const all = quorumWithLearners.members;
    const membersOnly = all.slice(0, opts.n);
    const config =
      opts.quorum !== undefined
        ? quorumWithLearners.config
        : {
            ...quorumWithLearners.config,
            members: membersOnly.map((m) => m.vatId).sort(),
            threshold: opts.k,
          };
    this.quorum = { ...quorumWithLearners, config };
    for (const m of all) {
      this.secrets.set(m.vatId, createHash('sha256').update(`secret:${m.vatId}`).digest());
    }
    for (const m of all) this.addMember(m.vatId, m.sign);
  }

  /** Creates (or re-creates, fresh) the replica of an identity known to the quorum fixture. */
  addMember(id: VatId, sign: (b: Uint8Array) => Uint8Array): SimMember {
    const fake = this.opts.crypto === 'fake';
    const secret = this.secrets.get(id);
    const crypto: OrderingCrypto = fake
      ? {
          sign: (b) => new Uint8Array(createHmac('sha512', secret!).update(b).digest()),
          verify: (signer, b, sig) => {
            const s = this.secrets.get(signer);
            if (s === undefined) return false;
            return Buffer.from(createHmac('sha512', s).update(b).digest()).equals(sig);
          },
        }
      : {
          sign,
          verify: (signer, b, sig) => {
            try {
              return verifySignature(publicKeyOfVatId(signer), b, sig);
            } catch {
              return false;
            }
          },
        };
    const make = (safety?: SafetyState, resume?: ResumeState) =>
      new Replica({
        self: id,
        genesis: this.quorum.config,
        crypto,
        viewTimeoutMs: 100,
        maxBatch: 256,
        checkpointInterval: 4,
        maxPendingPerSender: 100_000,
        learners: this.quorum.members.slice(this.opts.n).map((m) => m.vatId),
        ...this.opts.replica,
        ...(safety === undefined ? {} : { safety }),
        ...(resume === undefined ? {} : { resume }),
      });
    const member: SimMember = {
      id,
      replica: make(),
      make,
      sign: crypto.sign,
      crashed: false,
      byzantine: false,
      decided: [],
      evidence: [],
      rejected: [],
      actions: [],
      liveness: [],
      redecided: [],
      epochs: [],
      persistedBlocks: [],
      transcript: GENESIS_TRANSCRIPT,
    };
    this.members.set(id, member);
    return member;
  }

  get ids(): VatId[] {
    return [...this.members.keys()];
  }

  member(id: VatId): SimMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Live members that are not Byzantine. */
  honest(): SimMember[] {
    return [...this.members.values()].filter((m) => !m.crashed && !m.byzantine);
  }

  schedule(delayMs: number, run: () => void): void {
    this.queue.push({ at: this.now + delayMs, seq: this.seq++, run });
  }

  start(): void {
    for (const m of this.members.values()) this.deliver(m, { type: 'start' });
  }

  /** Hands an event to a member's replica and carries out the actions. */
  deliver(m: SimMember, event: ReplicaEvent): void {
    if (m.crashed) return;
    for (const a of m.replica.handle(event)) {
      const actions = m.behaviour ? m.behaviour(this, m, a) : [a];
      for (const x of actions) this.act(m, x);
    }
  }

  private act(m: SimMember, a: ReplicaAction): undefined {
    if (this.opts.keepActions) m.actions.push(a);
    switch (a.type) {
      case 'send':
        this.send(m.id, a.to, a.message);
        return;
      case 'broadcast':
        for (const to of m.replica.configuration.members) {
          if (to !== m.id) this.send(m.id, to, a.message);
        }
        return;
      case 'set-timer': {
        const key = `${m.id}|${a.timer}`;
        const token = this.seq;
        this.timers.set(key, token);
        this.schedule(a.delayMs, () => {
          if (this.timers.get(key) !== token) return;
          this.timers.delete(key);
          this.deliver(m, { type: 'timer', timer: a.timer, epoch: a.epoch, round: a.round });
        });
        return;
      }
      case 'cancel-timer':
        this.timers.delete(`${m.id}|${a.timer}`);
        return;
      case 'decide': {
        const before = m.decided[a.height - 1];
        if (before !== undefined) {
          // Re-decided after a restart: must be what it decided before (its executor skips it).
          if (before.blockId !== a.blockId) m.redecided.push(`height ${a.height}`);
        } else {
          m.decided.push({
            epoch: a.epoch,
            round: a.round,
            block: a.block,
            proof: a.proof,
            height: a.height,
            blockId: a.blockId,
            inputs: a.inputs,
          });
        }
        // Like a node's store: persisted blocks are dropped once their height is decided.
        if (m.persistedBlocks.length > 0) {
          m.persistedBlocks = m.persistedBlocks.filter((b) => b.height > a.height);
        }
        const h = createHash('sha256').update(m.transcript);
        for (const input of a.inputs) h.update(inputDigest(input));
        const honest = h.digest('hex');
        m.transcript = honest;
        const reported = m.transcriptHash ? m.transcriptHash(a.height, honest) : honest;
        const height = a.height;
        this.schedule(0, () => this.deliver(m, { type: 'executed', height, hash: reported }));
        return;
      }
      case 'evidence':
        m.evidence.push(a.evidence);
        return;
      case 'persist-safety':
        m.safety = a.state;
        return;
      case 'persist-block':
        m.persistedBlocks.push(a.block);
        return;
      case 'epoch':
        if (!m.epochs.some((e) => e.config.epoch === a.config.epoch)) {
          m.epochs.push({ config: a.config, root: a.root });
        }
        return;
      case 'rejected':
        m.rejected.push({ from: a.from, reason: a.reason });
        return;
      case 'stalled':
      case 'resumed':
        m.liveness.push(a);
        return;
      default:
        return;
    }
  }

  /** Sends a message (any value: Byzantine members send garbage) over the simulated network. */
  send(from: VatId, to: VatId, message: OrderingMessage | unknown): void {
    const target = this.members.get(to);
    if (target === undefined) return;
    if (this.members.get(from)?.crashed || target.crashed) return;
    if (this.blocked.has(`${from}|${to}`)) return;
    if (this.now < (this.opts.gstMs ?? 0) && this.rand() < (this.opts.dropRate ?? 0)) return;
    this.messagesSent++;
    let payload: unknown = message;
    if (this.opts.codec !== false) {
      const bytes = encodeMessage(message as OrderingMessage);
      this.bytesSent += bytes.length;
      payload = bytes;
    }
    const min = this.opts.minDelayMs ?? 1;
    const max = this.opts.maxDelayMs ?? 10;
    this.schedule(min + this.rand() * (max - min), () => {
      if (this.blocked.has(`${from}|${to}`)) return;
      const decoded = payload instanceof Uint8Array ? decodeWire(payload) : payload;
      this.deliver(target, { type: 'message', from, message: decoded });
    });
  }

  /** A sender sends input (from, seq) to every member (each copy with its own delay). */
  submit(from: VatId, seq: number, body?: Uint8Array, kind: Input['kind'] = 'message'): Input {
    const input: Input = {
      kind,
      from,
      seq,
      body: body ?? Buffer.from(`${from} says ${seq}`),
    };
    const key = `${kind}|${from}#${seq}`;
    if (kind === 'message' && !this.submitted.has(key) && !this.streamed.has(key)) {
      this.expectedInputs++;
    }
    this.submitted.set(key, input);
    for (const m of this.members.values()) {
      const copy: Input = { ...input, body: new Uint8Array(input.body) };
      const min = this.opts.minDelayMs ?? 1;
      const max = this.opts.maxDelayMs ?? 10;
      this.schedule(min + this.rand() * (max - min), () =>
        this.deliver(m, { type: 'submit', input: copy }),
      );
    }
    return input;
  }

  /** `count` inputs from each of `senders`, one every `intervalMs` per sender. */
  stream(senders: readonly VatId[], count: number, intervalMs: number, firstSeq = 1): void {
    for (const s of senders) {
      for (let i = 0; i < count; i++) {
        const key = `message|${s}#${firstSeq + i}`;
        if (!this.submitted.has(key) && !this.streamed.has(key)) this.expectedInputs++;
        this.streamed.add(key);
        this.schedule(i * intervalMs, () => this.submit(s, firstSeq + i));
      }
    }
  }

  crash(id: VatId): void {
    this.member(id).crashed = true;
  }

  /**
   * Brings a crashed member back as a new process. It keeps what a durable store would: its
   * decisions (the executor's state), its configurations and its safety state; the replica
   * resumes from its last decision (or, with `fromGenesis`, starts over and re-decides
   * everything by sync, checked against what it decided before). `retransmit` false: senders
   * send it nothing again (k others acknowledged everything meanwhile).
   */
  restart(id: VatId, { fromGenesis = false, retransmit = true, othersNotice = true } = {}): void {
    const m = this.member(id);
    m.crashed = false;
    const last = m.decided.at(-1);
    let resume: ResumeState | undefined;
    if (!fromGenesis) {
      // Nothing decided yet: it resumes at the genesis root (with its persisted blocks).
      const tip =
        last === undefined
          ? { id: genesisBlockId(this.quorum.config.quorum), epoch: 0, round: 0, height: 0 }
          : { id: last.blockId, epoch: last.epoch, round: last.round, height: last.height };
      const next = new Map<string, number>();
      for (const d of m.decided) for (const i of d.inputs) next.set(seqKey(i), i.seq + 1);
      resume = {
        configs: [this.quorum.config, ...m.epochs.map((e) => e.config)],
        ...(m.epochs.length > 0 ? { epochRoot: m.epochs.at(-1)!.root } : {}),
        tip,
        next,
        blocks: m.persistedBlocks.filter((b) => b.height > tip.height),
        // Copies, as read back from a store: nothing may rely on object identity.
        decided: m.decided
          .slice(-500)
          .map((d) => structuredClone({ block: d.block, proof: d.proof })),
      };
      m.persistedBlocks = [...(resume.blocks ?? [])];
    } else {
      m.transcript = GENESIS_TRANSCRIPT;
      m.epochs.length = 0;
      m.persistedBlocks = [];
    }
    m.replica = m.make(m.safety, resume);
    for (const key of [...this.timers.keys()]) {
      if (key.startsWith(`${id}|`)) this.timers.delete(key);
    }
    this.deliver(m, { type: 'start' });
    this.reconnect(m, othersNotice);
    // Senders retransmit what is not acknowledged yet when the member is reachable again (with
    // `retransmit` false: everything was acknowledged by k others meanwhile).
    for (const input of retransmit ? this.submitted.values() : []) {
      const copy: Input = { ...input, body: new Uint8Array(input.body) };
      this.schedule(1 + this.rand() * 10, () => this.deliver(m, { type: 'submit', input: copy }));
    }
  }

  /**
   * Continues a member that was paused (`crash` without a restart: SIGSTOP, then SIGCONT): same
   * replica, nothing retransmitted by senders (they stopped once k members acknowledged). Its
   * links come back: each side sees a new connection to the other.
   */
  resume(id: VatId): void {
    const m = this.member(id);
    m.crashed = false;
    this.reconnect(m);
  }

  /**
   * Its links come back: each side sees a new connection to the other (with `othersNotice`
   * false, only `m` does: what the others send at once is lost, as to a node still starting).
   */
  private reconnect(m: SimMember, othersNotice = true): void {
    for (const other of this.members.values()) {
      if (other === m || other.crashed) continue;
      if (othersNotice) {
        this.schedule(1, () => this.deliver(other, { type: 'peer-connected', peer: m.id }));
      }
      this.schedule(1, () => this.deliver(m, { type: 'peer-connected', peer: other.id }));
    }
  }

  /** Cuts every link between the groups (members outside any group keep all links). */
  partition(groups: readonly (readonly VatId[])[]): void {
    for (const [i, g] of groups.entries()) {
      for (const [j, h] of groups.entries()) {
        if (i === j) continue;
        for (const a of g) for (const b of h) this.blocked.add(`${a}|${b}`);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Runs events until `until` returns true (checked after each event) or the clock passes `maxMs`. */
  run(maxMs: number, until?: () => boolean): boolean {
    const end = this.now + maxMs;
    for (;;) {
      if (until?.()) return true;
      const next = this.queue.peek();
      if (next === undefined || next.at > end) {
        this.now = end;
        return until?.() ?? false;
      }
      this.queue.pop();
      this.now = next.at;
      next.run();
    }
  }

  /** True once every honest live member decided every submitted message input. */
  allDecided(members: readonly SimMember[] = this.honest()): boolean {
    return members.every((m) => {
      let n = 0;
      for (const d of m.decided) for (const i of d.inputs) if (i.kind === 'message') n++;
      return n >= this.expectedInputs;
    });
  }
}

export interface Verdict {
  readonly ok: boolean;
  readonly problems: string[];
}

/**
 * The invariants over the honest members' decisions: agreement (same block at every height
 * both decided), validity (only submitted inputs, identical content), integrity (each input at
 * most once, per-sender seqs consecutive from 1), contiguous heights.
 */
export function checkInvariants(sim: Sim, members?: readonly SimMember[]): Verdict {
  const problems: string[] = [];
  const honest = members ?? [...sim.members.values()].filter((m) => !m.byzantine);
  const byHeight = new Map<number, { id: string; blockId: string }>();
  for (const m of honest) {
    const next = new Map<string, number>();
    let expectHeight: number | undefined;
    for (const d of m.decided) {
      if (expectHeight !== undefined && d.height !== expectHeight) {
        problems.push(`${short(m.id)}: height ${d.height} after ${expectHeight - 1}`);
      }
      expectHeight = d.height + 1;
      const other = byHeight.get(d.height);
      if (other === undefined) byHeight.set(d.height, { id: m.id, blockId: d.blockId });
      else if (other.blockId !== d.blockId) {
        problems.push(
          `agreement: ${short(m.id)} and ${short(other.id)} decided different blocks at height ${d.height}`,
        );
      }
      for (const input of d.inputs) {
        const key = `${input.kind}|${input.from}`;
        const want = next.get(key) ?? 1;
        if (input.seq !== want) {
          problems.push(`${short(m.id)}: ${key} #${input.seq} decided, expected #${want}`);
        }
        next.set(key, input.seq + 1);
        const sent = sim.submitted.get(`${input.kind}|${input.from}#${input.seq}`);
        if (sent === undefined) problems.push(`validity: ${key} #${input.seq} never submitted`);
        else if (!Buffer.from(sent.body).equals(input.body)) {
          problems.push(`validity: ${key} #${input.seq} content differs from what was sent`);
        }
      }
    }
  }
  return { ok: problems.length === 0, problems: problems.slice(0, 20) };
}

const short = (id: VatId) => id.slice(-6);
