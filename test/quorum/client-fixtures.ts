/**
 * Fixtures for the quorum client tests: member hosts with real NetworkTransports whose "vat" is
 * a scripted port (a member of quorum Q playing Q's deterministic outbox toward one receiver,
 * honest or not), and a client: a real solo Kernel (vat worker process) behind a real
 * QuorumClientPort over a real NetworkTransport, with what crosses the port↔kernel boundary
 * recorded.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { logEvents } from '../../vat-node/src/events/log.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import type { VatId } from '../../vat-node/src/protocol/identity.ts';
import type { Sequenced, VatMessage } from '../../vat-node/src/protocol/messages.ts';
import type { ConfigChain } from '../../vat-node/src/quorum/chain.ts';
import { verifyInputAuth } from '../../vat-node/src/quorum/client/auth.ts';
import { serveQuorumChain } from '../../vat-node/src/quorum/client/chain-protocol.ts';
import { QuorumClientPort } from '../../vat-node/src/quorum/client/port.ts';
import { chainDocument } from '../../vat-node/src/quorum/status.ts';
import type { AuthSequenced, KernelPort, Transport } from '../../vat-node/src/transport/types.ts';
import { canonicalJson } from '../../vat-node/src/vattp/codec.ts';
import {
  ephemeralIdentity,
  type HostIdentity,
  loadOrCreateIdentity,
} from '../../vat-node/src/vattp/identity.ts';
import { NetworkTransport } from '../../vat-node/src/vattp/network-transport.ts';

export type After = { after: (fn: () => Promise<void> | void) => void };

export function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

/** Waits for `cond`; the timeout only catches a wedge (wide: a loaded machine is not one). */
export async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TRANSPORT_TIMING = {
  backoff: { baseMs: 20, capMs: 300, factor: 2 },
  connectTimeoutMs: 3_000,
  dialTimeoutMs: 2_000,
  stallTimeoutMs: 2_000,
};

/**
 * A member host's "vat": Q's outbox toward one receiver, released by the test. Its messages
 * are whatever the script says (honest members all say the same). Inbound messages from the
 * receiver are recorded with whether their auth verifies; they are acknowledged up to `ackCap`.
 */
export class ScriptedMember implements KernelPort {
  readonly vatId: VatId;
  readonly quorum: VatId;
  outbox: Sequenced[] = [];
  ackedByReceiver = 0;
  received: { seq: number; msg: VatMessage; authOk: boolean }[] = [];
  ackCap = Number.POSITIVE_INFINITY;

  constructor(vatId: VatId, quorum: VatId) {
    this.vatId = vatId;
    this.quorum = quorum;
  }

  receive(peer: VatId, seq: number, msg: VatMessage, auth?: Uint8Array): 'accepted' | 'duplicate' {
    const last = this.received.at(-1)?.seq ?? 0;
    if (seq <= last) return 'duplicate';
    const body = new Uint8Array(Buffer.from(canonicalJson(msg), 'utf8'));
    const authOk = verifyInputAuth(this.quorum, { from: peer, seq, body, auth });
    this.received.push({ seq, msg, authOk });
    return 'accepted';
  }

  committedInbound(): number {
    return Math.min(this.received.at(-1)?.seq ?? 0, this.ackCap);
  }

  acked(_peer: VatId, seq: number): void {
    this.ackedByReceiver = Math.max(this.ackedByReceiver, seq);
  }

  unacked(_peer: VatId, afterSeq: number): readonly AuthSequenced[] {
    return this.outbox.filter((s) => s.seq > afterSeq && s.seq > this.ackedByReceiver);
  }

  owed(peer: VatId, afterSeq: number): boolean {
    return this.unacked(peer, afterSeq).length > 0;
  }
}

export interface MemberHost {
  identity: HostIdentity;
  transport: NetworkTransport;
  port: ScriptedMember;
  lines: Array<Record<string, unknown>>;
}

/** A member host: real transport, scripted port, serving the quorum's chain. */
export async function startMember(
  t: After,
  identity: HostIdentity,
  chain: () => ConfigChain,
  port?: ScriptedMember,
): Promise<MemberHost> {
  const { logger, lines } = captureLogger();
  const transport = await NetworkTransport.create({
    identity,
    events: logEvents(logger),
    ...TRANSPORT_TIMING,
  });
  t.after(() => transport.close());
  await serveQuorumChain(transport.host, () => chainDocument(chain()));
  const p = port ?? new ScriptedMember(identity.vatId, chain().quorum);
  transport.attach(p);
  return { identity, transport, port: p, lines };
}

/** What crossed the boundary between the client port and the kernel. */
export interface Boundary {
  received: { peer: VatId; seq: number }[];
  acked: { peer: VatId; seq: number }[];
}

export interface Client {
  identity: HostIdentity;
  transport: NetworkTransport;
  port: QuorumClientPort;
  kernel: Kernel;
  boundary: Boundary;
  lines: Array<Record<string, unknown>>;
}

/** A real solo kernel behind a QuorumClientPort; the boundary between them is recorded. */
export async function startClient(
  t: After,
  options: { contract?: string; dataDir?: string } = {},
): Promise<Client> {
  const identity =
    options.dataDir === undefined
      ? await ephemeralIdentity()
      : await loadOrCreateIdentity(options.dataDir);
  const { logger, lines } = captureLogger();
  const events = logEvents(logger);
  const transport = await NetworkTransport.create({ identity, events, ...TRANSPORT_TIMING });
  const port = new QuorumClientPort({
    lower: transport,
    sign: identity.sign,
    events,
    fetchTimeoutMs: 3_000,
  });
  const boundary: Boundary = { received: [], acked: [] };
  const recording: Transport = {
    attach(kernel: KernelPort) {
      port.attach({
        get vatId() {
          return kernel.vatId;
        },
        receive(peer, seq, msg, auth) {
          boundary.received.push({ peer, seq });
          return kernel.receive(peer, seq, msg, auth);
        },
        committedInbound: (peer) => kernel.committedInbound(peer),
        acked(peer, seq) {
          boundary.acked.push({ peer, seq });
          kernel.acked(peer, seq);
        },
        unacked: (peer, after) => kernel.unacked(peer, after),
        owed: (peer, after) => kernel.owed(peer, after),
      });
    },
    wake: (peer) => port.wake(peer),
    addHints: (peer, addrs) => port.addHints(peer, addrs),
    close: () => port.close(),
  };
  const contract = options.contract ?? 'recorder.js';
  const source = readFileSync(new URL(`./contracts/${contract}`, import.meta.url), 'utf8');
  const kernel = await Kernel.create(
    {
      vatId: identity.vatId,
      vatName: 'client',
      contractSource: source,
      gasLimit: 10_000_000,
      events,
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    },
    recording,
  );
  t.after(() => kernel.close());
  return { identity, transport, port, kernel, boundary, lines };
}

/** Fresh host identities sorted like a configuration's member list. */
export async function memberIdentities(n: number): Promise<HostIdentity[]> {
  const ids = await Promise.all(Array.from({ length: n }, () => ephemeralIdentity()));
  return ids.sort((a, b) => (a.vatId < b.vatId ? -1 : a.vatId > b.vatId ? 1 : 0));
}
