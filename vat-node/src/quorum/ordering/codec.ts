/**
 * Wire form of ordering messages and their validation. `parseMessage` takes anything (a decoded
 * frame, a hostile object) and returns a fresh, well-typed message holding only the known fields,
 * or the reason it is malformed: it never throws. Bounds keep one message from costing a member
 * unbounded memory or CPU.
 *
 * Encoding: JSON in which every byte string is `{"$b": base64}`.
 */
import { type Certificate, checkCertificateShape } from '../certificate.ts';
import type {
  Block,
  DecidedSegment,
  Input,
  OrderingMessage,
  QC,
  TC,
  TimeoutVote,
} from './types.ts';

export const LIMITS = {
  inputsPerBlock: 10_000,
  inputBodyBytes: 1 << 20,
  signatures: 64,
  idChars: 256,
  segments: 256,
  blocksPerSegment: 4096,
  pendingBlocks: 64,
  messageBytes: 64 << 20,
} as const;

class Malformed extends Error {}

function fail(what: string): never {
  throw new Malformed(what);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what}: not an object`);
  return v as Record<string, unknown>;
}

function nat(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    fail(`${what}: not a non-negative integer`);
  }
  return v;
}

function str(v: unknown, what: string, max: number = LIMITS.idChars): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    fail(`${what}: not a string of 1..${max} characters`);
  }
  return v;
}

const HEX64 = /^[0-9a-f]{64}$/;
function hex64(v: unknown, what: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) fail(`${what}: not 64 lower-case hex digits`);
  return v;
}

function bytes(v: unknown, what: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) fail(`${what}: not bytes (at most ${max})`);
  return v;
}

function arr(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) fail(`${what}: not an array of at most ${max}`);
  return v;
}

function qc(v: unknown, what: string): QC {
  const o = obj(v, what);
  let cert: Certificate;
  try {
    cert = checkCertificateShape({ epoch: o.epoch, signers: o.signers, signatures: o.signatures });
  } catch (err) {
    fail(`${what}: ${(err as Error).message}`);
  }
  return {
    ...cert,
    round: nat(o.round, `${what}.round`),
    blockId: hex64(o.blockId, `${what}.blockId`),
  };
}

function tc(v: unknown, what: string): TC {
  const o = obj(v, what);
  const timeouts: TimeoutVote[] = arr(o.timeouts, `${what}.timeouts`, LIMITS.signatures).map(
    (t, i) => {
      const x = obj(t, `${what}.timeouts[${i}]`);
      return {
        signer: str(x.signer, `${what}.timeouts[${i}].signer`),
        highQcRound: nat(x.highQcRound, `${what}.timeouts[${i}].highQcRound`),
        sig: bytes(x.sig, `${what}.timeouts[${i}].sig`, 64),
      };
    },
  );
  return { epoch: nat(o.epoch, `${what}.epoch`), round: nat(o.round, `${what}.round`), timeouts };
}

function input(v: unknown, what: string): Input {
  const o = obj(v, what);
  if (o.kind !== 'message' && o.kind !== 'reconfigure') fail(`${what}.kind: unknown`);
  const seq = nat(o.seq, `${what}.seq`);
  if (seq < 1) fail(`${what}.seq: sequence numbers start at 1`);
  const out: Input = {
    kind: o.kind,
    from: str(o.from, `${what}.from`),
    seq,
    body: bytes(o.body, `${what}.body`, LIMITS.inputBodyBytes),
  };
  return o.auth === undefined ? out : { ...out, auth: bytes(o.auth, `${what}.auth`, 1024) };
}

function block(v: unknown, what: string): Block {
  const o = obj(v, what);
  const b: Block = {
    epoch: nat(o.epoch, `${what}.epoch`),
    round: nat(o.round, `${what}.round`),
    height: nat(o.height, `${what}.height`),
    parent: hex64(o.parent, `${what}.parent`),
    proposer: str(o.proposer, `${what}.proposer`),
    justify: qc(o.justify, `${what}.justify`),
    inputs: arr(o.inputs, `${what}.inputs`, LIMITS.inputsPerBlock).map((x, i) =>
      input(x, `${what}.inputs[${i}]`),
    ),
  };
  return o.tc === undefined ? b : { ...b, tc: tc(o.tc, `${what}.tc`) };
}

function segment(v: unknown, what: string): DecidedSegment {
  const o = obj(v, what);
  const p = obj(o.proof, `${what}.proof`);
  return {
    blocks: arr(o.blocks, `${what}.blocks`, LIMITS.blocksPerSegment).map((b, i) =>
      block(b, `${what}.blocks[${i}]`),
    ),
    proof: {
      child: block(p.child, `${what}.proof.child`),
      qc: qc(p.qc, `${what}.proof.qc`),
      ...(p.links === undefined
        ? {}
        : {
            links: arr(p.links, `${what}.proof.links`, LIMITS.pendingBlocks).map((b, i) =>
              block(b, `${what}.proof.links[${i}]`),
            ),
          }),
    },
  };
}

/** Validates an input handed over by the transport: the Input, or why it is malformed. */
export function checkInput(v: unknown): Input | string {
  try {
    return input(v, 'input');
  } catch (err) {
    return `malformed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function parse(v: unknown): OrderingMessage {
  const o = obj(v, 'message');
  switch (o.type) {
    case 'proposal':
      return { type: 'proposal', block: block(o.block, 'block'), sig: bytes(o.sig, 'sig', 64) };
    case 'vote':
      return {
        type: 'vote',
        epoch: nat(o.epoch, 'epoch'),
        round: nat(o.round, 'round'),
        blockId: hex64(o.blockId, 'blockId'),
        signer: str(o.signer, 'signer'),
        sig: bytes(o.sig, 'sig', 64),
        proposalSig: bytes(o.proposalSig, 'proposalSig', 64),
      };
    case 'timeout':
      return {
        type: 'timeout',
        epoch: nat(o.epoch, 'epoch'),
        round: nat(o.round, 'round'),
        signer: str(o.signer, 'signer'),
        highQC: qc(o.highQC, 'highQC'),
        tc: o.tc === null ? null : tc(o.tc, 'tc'),
        sig: bytes(o.sig, 'sig', 64),
      };
    case 'checkpoint':
      return {
        type: 'checkpoint',
        epoch: nat(o.epoch, 'epoch'),
        height: nat(o.height, 'height'),
        hash: hex64(o.hash, 'hash'),
        signer: str(o.signer, 'signer'),
        sig: bytes(o.sig, 'sig', 64),
      };
    case 'sync':
      return { type: 'sync', fromHeight: nat(o.fromHeight, 'fromHeight') };
    case 'sync-reply':
      return {
        type: 'sync-reply',
        segments: arr(o.segments, 'segments', LIMITS.segments).map((s, i) =>
          segment(s, `segments[${i}]`),
        ),
        pending: arr(o.pending, 'pending', LIMITS.pendingBlocks).map((b, i) =>
          block(b, `pending[${i}]`),
        ),
        highQC: o.highQC === null ? null : qc(o.highQC, 'highQC'),
        oldestKept: o.oldestKept === null ? null : nat(o.oldestKept, 'oldestKept'),
      };
    default:
      fail('message.type: unknown');
  }
}

export type Parsed = { ok: true; message: OrderingMessage } | { ok: false; reason: string };

/** Validates anything as an ordering message; never throws. */
export function parseMessage(v: unknown): Parsed {
  try {
    return { ok: true, message: parse(v) };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: `malformed: ${err.message}` };
    // A hostile object (getters that throw, proxies): still a rejection, not a crash.
    return { ok: false, reason: `malformed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Bytes of a message (JSON, byte strings as {"$b": base64}). */
export function encodeMessage(message: OrderingMessage): Uint8Array {
  return Buffer.from(JSON.stringify(bytesToWire(message)), 'utf8');
}

/**
 * A copy with every byte string as {"$b": base64}, for JSON.stringify without a replacer: a
 * replacer (or a reviver below) costs a call into JS per value, several times the whole
 * encoding of a proposal's inputs otherwise. Same bytes as before (key order kept).
 */
function bytesToWire(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Uint8Array) {
    return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  }
  if (Array.isArray(v)) return v.map(bytesToWire);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = bytesToWire(x);
  return out;
}

/** In place: every {"$b": base64} object (with no other key) back to its bytes. */
function bytesFromWire(x: unknown): unknown {
  if (typeof x !== 'object' || x === null) return x;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) x[i] = bytesFromWire(x[i]);
    return x;
  }
  const o = x as Record<string, unknown>;
  if (typeof o.$b === 'string' && Object.keys(o).length === 1) {
    return new Uint8Array(Buffer.from(o.$b, 'base64'));
  }
  for (const k of Object.keys(o)) {
    const y = bytesFromWire(o[k]);
    // defineProperty, not `o[k] =`: a key "__proto__" (JSON.parse makes it an own property)
    // must not become the object's prototype.
    if (y !== o[k]) Object.defineProperty(o, k, { value: y, writable: true, enumerable: true });
  }
  return o;
}

/**
 * Bytes from the network back to plain data, NOT validated (Replica.handle validates what it
 * is given); undefined if they are not JSON.
 */
export function decodeWire(data: Uint8Array): unknown {
  if (data.length > LIMITS.messageBytes) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'),
    );
  } catch {
    return undefined;
  }
  return bytesFromWire(parsed);
}

/** Decodes and validates bytes from the network; never throws. */
export function decodeMessage(data: Uint8Array): Parsed {
  const v = decodeWire(data);
  if (v === undefined) return { ok: false, reason: 'malformed: not JSON' };
  return parseMessage(v);
}
