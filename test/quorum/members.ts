/**
 * Quorum vats for the multi-process tests: a genesis over fresh member keys, member processes
 * (member-node.ts) on fixed 127.0.0.1 ports (a restarted member comes back where the others
 * look for it), and a solo vat in the test process that talks to the quorum through the client
 * layer (QuorumClientPort over a real NetworkTransport), the way every solo vat node does.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { VatEvent } from '../../vat-node/src/events/events.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { formatSturdyRef, newSecret, sturdyKey } from '../../vat-node/src/kernel/sturdyref.ts';
import type { VRef } from '../../vat-node/src/liveslots/protocol.ts';
import { freePort } from '../../vat-node/src/node/free-port.ts';
import type { VatId } from '../../vat-node/src/protocol/identity.ts';
import { QuorumClientPort } from '../../vat-node/src/quorum/client/port.ts';
import {
  type Genesis,
  makeGenesis,
  type QuorumParams,
  quorumVatIdOf,
} from '../../vat-node/src/quorum/config.ts';
import { makeTestKey, type TestKey } from '../../vat-node/src/quorum/testing.ts';
import { KernelDB } from '../../vat-node/src/store/kernel-db.ts';
import { ephemeralIdentity, loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import { NetworkTransport } from '../../vat-node/src/vattp/network-transport.ts';

export { freePort };

const RUNNER = new URL('./member-node.ts', import.meta.url).pathname;
export const FORWARDER = new URL('../cli/fixtures/forwarder.js', import.meta.url).pathname;
const CLIENT = new URL('../../vat-node/contracts/client.js', import.meta.url).pathname;

/** A member host: its key in `dataDir`, its libp2p port, its HTTP port (member endpoints). */
export interface MemberHost {
  readonly vatId: VatId;
  readonly dataDir: string;
  readonly port: number;
  readonly addr: string;
  readonly httpPort: number;
}

export interface QuorumFixture {
  readonly root: string;
  readonly genesis: Genesis;
  readonly genesisFile: string;
  readonly quorum: VatId;
  /** Sorted like the genesis members. */
  readonly members: readonly MemberHost[];
  /** Hosts made later (newHost), to be added by a membership change. */
  readonly extra: MemberHost[];
  /** The administrator key of the genesis (signs change requests). */
  readonly admin: TestKey;
  /** The sturdyref of the quorum vat's root (its key is in the genesis; no member holds it). */
  readonly sturdyRef: string;
  cleanup(): void;
}

export async function makeQuorum(
  n: number,
  k: number,
  params: Partial<QuorumParams> = {},
): Promise<QuorumFixture> {
  const root = mkdtempSync(join(tmpdir(), 'qv-quorum-'));
  const members = [];
  for (let i = 0; i < n; i++) members.push(await makeHost(join(root, `m${i}`)));
  members.sort((a, b) => (a.vatId < b.vatId ? -1 : 1));
  const secret = newSecret();
  const admin = makeTestKey();
  const genesis = makeGenesis({
    name: 'counter',
    nonce: randomBytes(16).toString('hex'),
    members: members.map((m) => m.vatId),
    threshold: k,
    admin: admin.publicKey,
    params,
    sturdyKeys: [sturdyKey(secret)],
  });
  const genesisFile = join(root, 'genesis.json');
  writeFileSync(genesisFile, JSON.stringify(genesis));
  const quorum = quorumVatIdOf(genesis);
  return {
    root,
    genesis,
    genesisFile,
    quorum,
    members,
    extra: [],
    admin,
    sturdyRef: formatSturdyRef({ vatId: quorum, secret, hints: members.map((m) => m.addr) }),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

async function makeHost(dataDir: string): Promise<MemberHost> {
  const { vatId } = await loadOrCreateIdentity(dataDir);
  const port = await freePort();
  const httpPort = await freePort();
  return { vatId, dataDir, port, httpPort, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${vatId}` };
}

/** A new host (its own key), not in any configuration yet: to be added by a change. */
export async function newHost(q: QuorumFixture): Promise<MemberHost> {
  const host = await makeHost(join(q.root, `x${q.extra.length}`));
  q.extra.push(host);
  return host;
}

/** Every host the fixture made, genesis members first. */
export function allHosts(q: QuorumFixture): MemberHost[] {
  return [...q.members, ...q.extra];
}

const LOG_DIR = process.env['QUORUMVAT_TEST_LOGS'];

export interface MemberStatus {
  /** The last executed height and the transcript hash there. */
  readonly height: number;
  readonly hash: string;
  readonly ordering: { readonly leader: string; readonly round: number; readonly stalled: boolean };
  /** Why the member halted, if it did. */
  readonly halted?: string;
}

export interface MemberProcess {
  readonly vatId: VatId;
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** Where it stands now: its last executed height and transcript hash there. */
  status(): Promise<MemberStatus>;
  /** SIGTERM (graceful) or SIGKILL/SIGSTOP…; resolves when it exited (not for SIGSTOP). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startMember(
  q: QuorumFixture,
  i: number | MemberHost,
  options: {
    logLevel?: string;
    contract?: string;
    crankTimeoutMs?: number;
    /** Serve the node's HTTP endpoint on the host's httpPort. */
    http?: boolean;
    /** A chain document file (the records so far), for a host added after genesis. */
    chainFile?: string;
    /** Decided blocks the member keeps for peers (small: history is pruned soon). */
    keepDecided?: number;
  } = {},
): Promise<MemberProcess> {
  const m = typeof i === 'number' ? q.members[i]! : i;
  const args = {
    dataDir: m.dataDir,
    contract: options.contract ?? FORWARDER,
    genesisFile: q.genesisFile,
    listen: [`/ip4/127.0.0.1/tcp/${m.port}`],
    bootstrap: allHosts(q)
      .filter((o) => o.vatId !== m.vatId)
      .map((o) => o.addr),
    logLevel: options.logLevel ?? 'info',
    crankTimeoutMs: options.crankTimeoutMs,
    ...(options.http ? { httpPort: m.httpPort } : {}),
    ...(options.chainFile !== undefined ? { chainFile: options.chainFile } : {}),
    ...(options.keepDecided !== undefined ? { keepDecided: options.keepDecided } : {}),
  };
  const child = spawn(process.execPath, [RUNNER, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4096);
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await closed;
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(Error(`member ${i} did not start: ${stderr}`));
    }, 60_000);
    // On 'close', not 'exit': its last stdout lines (the node logs why it stops) are read by then.
    child.once('close', (code) => {
      clearTimeout(timer);
      const last = logs.slice(-3).map((l) => JSON.stringify(l));
      reject(
        Error(`member ${i} exited (${code}) before it was ready: ${stderr} ${last.join(' ')}`),
      );
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      // QUORUMVAT_TEST_LOGS=DIR keeps every member's lines (one file per member) for a post-mortem.
      if (LOG_DIR !== undefined) appendFileSync(join(LOG_DIR, `${m.vatId}.log`), `${line}\n`);
      if (entry['msg'] === 'vat node ready') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const status = async () => {
    const seen = logs.length;
    child.kill('SIGUSR2');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const line = logs.slice(seen).find((l) => l['msg'] === 'member status');
      if (line !== undefined) {
        return {
          height: Number(line['height']),
          hash: String(line['hash']),
          ordering: line['ordering'] as MemberStatus['ordering'],
          ...(typeof line['halted'] === 'string' ? { halted: line['halted'] } : {}),
        };
      }
      if (Date.now() > deadline) throw Error(`member ${i} gave no status`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { vatId: m.vatId, child, logs, stop, status };
}

/** Polls `f` until it gives a value; the timeout only catches a wedge (sized for a busy machine). */
export async function until<T>(
  what: string,
  ms: number,
  f: () => Promise<T | undefined>,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Every given member at the same executed height with the same transcript hash (laggards too).
 * Two of them with different hashes at one height fail at once: members diverged.
 */
export async function agreed(
  members: readonly MemberProcess[],
  ms = 90_000,
): Promise<{ height: number; hash: string }> {
  let last: MemberStatus[] = [];
  try {
    return await until('members agree', ms, async () => {
      const s = await Promise.all(members.map((m) => m.status()));
      last = s;
      for (const x of s) {
        if (s.some((y) => y.height === x.height && y.hash !== x.hash)) {
          throw Error(`diverged at height ${x.height}`);
        }
      }
      const same = s.every((x) => x.height === s[0]!.height && x.hash === s[0]!.hash);
      return same ? s[0] : undefined;
    });
  } catch (err) {
    // What the members behind said last at warn or above (why one stopped, usually).
    const top = Math.max(...last.map((x) => x.height));
    const said = members
      .filter((_, i) => last[i] !== undefined && last[i]!.height < top)
      .map((m) => warnLines(m).slice(-5));
    throw Error(
      `${(err as Error).message}; last statuses: ${JSON.stringify(last)}; members behind said: ${JSON.stringify(said)}`,
    );
  }
}

const warnLines = (m: MemberProcess) =>
  m.logs.filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 40);

/** The member's log lines at level error or above. */
export const errorLines = (m: MemberProcess) =>
  m.logs.filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 50);

/** Where a stopped member's execution stands (read from its kernel store). */
export function memberState(dataDir: string): { height: number; hash: string } {
  const db = KernelDB.open(dataDir, { readOnly: true, check: 'none' });
  try {
    const tip = db.get('meta.host.ordering.tip');
    return {
      height: tip === undefined ? 0 : (JSON.parse(tip) as { height: number }).height,
      hash: db.get('meta.host.ordering.hash') ?? '',
    };
  } finally {
    db.close();
  }
}

export interface SoloVat {
  readonly kernel: Kernel;
  readonly port: QuorumClientPort;
  readonly events: VatEvent[];
  /** Redeems the quorum's sturdyref: the quorum vat's root as a vref of this vat. */
  redeem(uri: string): Promise<VRef>;
  /** Where a host added later listens (what the DHT would find by its VatID). */
  knowHost(host: MemberHost): Promise<void>;
  close(): Promise<void>;
}

/** A solo vat in this process (in memory), talking VatTP over libp2p through the client layer. */
export async function startSolo(q: QuorumFixture): Promise<SoloVat> {
  const identity = await ephemeralIdentity();
  const events: VatEvent[] = [];
  const sink = (e: VatEvent) => events.push(e);
  const transport = await NetworkTransport.create({ identity, events: sink });
  // The members' addresses in the host's peer store (the chain fetch dials through it).
  for (const m of q.members) await transport.host.addAddresses(m.vatId, [m.addr]);
  const port = new QuorumClientPort({ lower: transport, sign: identity.sign, events: sink });
  const { readFileSync } = await import('node:fs');
  const kernel = await Kernel.create(
    {
      vatId: identity.vatId,
      vatName: 'solo',
      contractSource: readFileSync(CLIENT, 'utf8'),
      gasLimit: 10_000_000,
      identity,
      events: sink,
    },
    port,
  );
  return {
    kernel,
    port,
    events,
    redeem: (uri) => kernel.redeem(uri),
    knowHost: (host) => transport.host.addAddresses(host.vatId, [host.addr]),
    close: () => kernel.close(),
  };
}

/**
 * Calls in flight the whole time (up to 4 outstanding); each answer is the next count. `quiet`
 * lets the calls in flight finish and holds new ones while `f` runs (members can only show the
 * same height when nothing is being decided).
 */
export function callStream(solo: SoloVat, root: string) {
  const answers: number[] = [];
  let stopped = false;
  let failure: unknown;
  let held: Promise<unknown> | undefined;
  let drained: (() => void) | undefined;
  const done = (async () => {
    const inFlight = new Set<Promise<void>>();
    while (!stopped) {
      if (held !== undefined) {
        await Promise.all(inFlight);
        drained?.();
        await held;
        continue;
      }
      const p = solo.kernel.call(root, 'count', []).then((r) => {
        if (r.rejected) failure ??= r.value;
        else answers.push(r.value as number);
      });
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  })();
  return {
    answers,
    async quiet<T>(f: () => Promise<T>): Promise<T> {
      let release!: () => void;
      held = new Promise<void>((r) => {
        release = r;
      });
      await new Promise<void>((r) => {
        drained = r;
      });
      try {
        return await f();
      } finally {
        held = undefined;
        release();
      }
    },
    progressed: (n: number) =>
      until(`${n} answers`, 180_000, async () => answers.length >= n || undefined),
    /** Stops, then checks every answer came once and in order. */
    async stop() {
      stopped = true;
      await done;
      assert.equal(failure, undefined);
      assert.deepEqual(
        answers,
        answers.map((_, i) => i + 1),
        'every answer once, in order',
      );
    },
  };
}
