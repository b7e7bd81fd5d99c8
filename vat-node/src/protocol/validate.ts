/**
 * The validator of vat messages: every transport runs it on what it hands a kernel (VatTP on
 * each decoded frame, the in-process link on each message), so a kernel only ever sees
 * messages of the shapes in messages.ts. It checks shape and syntax (exact keys, types,
 * ref grammar, sizes); whether a ref is in the sender's c-list is the kernel's to check.
 * Everything it refuses is a ProtocolError('malformed') whose message names the field.
 */
import { ProtocolError } from './errors.ts';
import { type CapData, MAX_MESSAGE_BYTES, type Resolution, type VatMessage } from './messages.ts';
import {
  isHandoffSlot,
  isPromiseWireRef,
  isWellFormedHandoffSlot,
  isWireRef,
  type WireRef,
} from './refs.ts';

const MAX_METHOD_CHARS = 1024;
const REDEEM_KEY = /^[0-9a-f]{64}$/;
const REDEEM_PROOF = /^[A-Za-z0-9_-]{86}$/;

function fail(reason: string): never {
  throw new ProtocolError('malformed', reason);
}

type Json = Record<string, unknown>;

/** An object with exactly `keys` as its own keys. */
export function record(v: unknown, where: string, keys: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${where}: not an object`);
  const own = Object.keys(v);
  if (own.length !== keys.length || !keys.every((k) => Object.hasOwn(v, k))) {
    fail(`${where}: keys must be exactly ${keys.join(',')}`);
  }
  return v as Json;
}

export function array(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) fail(`${where}: not an array`);
  return v;
}

function str(v: unknown, where: string, maxChars = MAX_MESSAGE_BYTES): string {
  if (typeof v !== 'string' || v.length > maxChars)
    fail(`${where}: not a string (max ${maxChars})`);
  return v;
}

/** A safe integer >= min. */
export function uint(v: unknown, where: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    fail(`${where}: not an integer >= ${min}`);
  }
  return v;
}

function ref(v: unknown, where: string): WireRef {
  if (!isWireRef(v)) fail(`${where}: not a ref`);
  return v;
}

function promiseRef(v: unknown, where: string): WireRef {
  if (!isPromiseWireRef(v)) fail(`${where}: not a promise ref`);
  return v;
}

function handoff(v: unknown, where: string): string {
  if (!isWellFormedHandoffSlot(v)) fail(`${where}: not a handoff certificate`);
  return v;
}

/** A slot: a c-list ref, or a handoff certificate for a third vat's object. */
function slot(v: unknown, where: string): string {
  return typeof v === 'string' && isHandoffSlot(v) ? handoff(v, where) : ref(v, where);
}

function capData(v: unknown, where: string): CapData {
  const o = record(v, where, ['body', 'slots']);
  const slots = array(o.slots, `${where}.slots`).map((s, i) => slot(s, `${where}.slots[${i}]`));
  return { body: str(o.body, `${where}.body`), slots };
}

function resolution(v: unknown, where: string): Resolution {
  const o = record(v, where, ['promise', 'received', 'rejected', 'value']);
  if (typeof o.rejected !== 'boolean') fail(`${where}.rejected: not a boolean`);
  const promise = promiseRef(o.promise, `${where}.promise`);
  const value = capData(o.value, `${where}.value`);
  // Keys in canonical (sorted) order: the codec then re-encodes it natively (vattp/codec.ts).
  return { promise, received: uint(o.received, `${where}.received`), rejected: o.rejected, value };
}

function nonEmpty<T>(items: T[], where: string): T[] {
  if (items.length === 0) fail(`${where}: empty`);
  return items;
}

/**
 * Validates one message against the VatMessage shapes and rebuilds it with only known keys.
 * Throws ProtocolError('malformed') naming the first bad field (`where` prefixes it).
 */
export function vatMessage(v: unknown, where = 'msg'): VatMessage {
  const op = typeof v === 'object' && v !== null ? (v as Json).op : undefined;
  switch (op) {
    case 'deliver': {
      const o = record(v, where, ['args', 'method', 'op', 'result', 'target']);
      const target = slot(o.target, `${where}.target`);
      const method = o.method === null ? null : str(o.method, `${where}.method`, MAX_METHOD_CHARS);
      const args = capData(o.args, `${where}.args`);
      const result = o.result === null ? null : promiseRef(o.result, `${where}.result`);
      // Keys in canonical (sorted) order: the codec then re-encodes it natively (vattp/codec.ts).
      return { args, method, op, result, target };
    }
    case 'resolve': {
      const o = record(v, where, ['op', 'resolutions']);
      const items = array(o.resolutions, `${where}.resolutions`);
      return {
        op,
        resolutions: nonEmpty(items, `${where}.resolutions`).map((r, i) =>
          resolution(r, `${where}.resolutions[${i}]`),
        ),
      };
    }
    case 'echo': {
      const o = record(v, where, ['op', 'target', 'token']);
      return {
        op,
        target: ref(o.target, `${where}.target`),
        token: uint(o.token, `${where}.token`),
      };
    }
    case 'echoed': {
      const o = record(v, where, ['op', 'token']);
      return { op, token: uint(o.token, `${where}.token`) };
    }
    case 'take': {
      const o = record(v, where, ['cert', 'op', 'result']);
      return {
        op,
        cert: handoff(o.cert, `${where}.cert`),
        result: promiseRef(o.result, `${where}.result`),
      };
    }
    case 'redeem': {
      const o = record(v, where, ['key', 'op', 'proof', 'result']);
      if (typeof o.key !== 'string' || !REDEEM_KEY.test(o.key)) fail(`${where}.key: malformed`);
      if (typeof o.proof !== 'string' || !REDEEM_PROOF.test(o.proof)) {
        fail(`${where}.proof: malformed`);
      }
      return { op, key: o.key, proof: o.proof, result: promiseRef(o.result, `${where}.result`) };
    }
    case 'drop': {
      const o = record(v, where, ['op', 'refs']);
      const refs = nonEmpty(array(o.refs, `${where}.refs`), `${where}.refs`);
      return { op, refs: refs.map((r, i) => ref(r, `${where}.refs[${i}]`)) };
    }
    default:
      fail(`${where}.op: unknown`);
  }
}
