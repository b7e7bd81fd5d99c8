/**
 * The host's side of smallcaps (@endo/marshal's body format), for values that the host itself
 * injects or reads: CLI arguments, test harnesses, error results the kernel synthesizes.
 * The host realm is not locked down, so it cannot use @endo/marshal; this covers JSON-like
 * data, undefined, bigint, errors and references, and is checked against @endo/marshal in
 * its tests.
 */
import type { CapData } from '../protocol/messages.ts';
import { isPromiseRef } from '../protocol/refs.ts';

/** A reference held by the host: a vref of the vat it talks to. */
export class HostRef {
  readonly vref: string;
  readonly iface: string;
  constructor(vref: string, iface = 'Alleged: ref') {
    this.vref = vref;
    this.iface = iface;
  }
}

export class HostError {
  readonly name: string;
  readonly message: string;
  constructor(name: string, message: string) {
    this.name = name;
    this.message = message;
  }
}

const startsSpecial = (s: string) => s.length > 0 && s.charCodeAt(0) >= 33 && s.charCodeAt(0) <= 45;

export function encodeHost(value: unknown): CapData {
  const slots: string[] = [];
  const slotIndex = new Map<string, number>();
  const enc = (v: unknown): unknown => {
    if (v === null || typeof v === 'boolean') return v;
    if (v === undefined) return '#undefined';
    if (typeof v === 'string') return startsSpecial(v) ? `!${v}` : v;
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return '#NaN';
      if (v === Infinity) return '#Infinity';
      if (v === -Infinity) return '#-Infinity';
      return Object.is(v, -0) ? 0 : v;
    }
    if (typeof v === 'bigint') return v < 0n ? String(v) : `+${v}`;
    if (v instanceof HostRef) {
      let i = slotIndex.get(v.vref);
      if (i === undefined) {
        i = slots.length;
        slots.push(v.vref);
        slotIndex.set(v.vref, i);
      }
      const prefix = isPromiseRef(v.vref) ? '&' : '$';
      return prefix === '&' ? `&${i}` : `$${i}.${v.iface}`;
    }
    if (v instanceof HostError || v instanceof Error) return { '#error': v.message, name: v.name };
    if (Array.isArray(v)) return v.map(enc);
    if (typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        if (k.startsWith('#')) throw TypeError(`record key ${k} cannot start with #`);
        out[enc(k) as string] = enc((v as Record<string, unknown>)[k]);
      }
      return out;
    }
    throw TypeError(`cannot pass a ${typeof v} from the host`);
  };
  const body = `#${JSON.stringify(enc(value))}`;
  return { body, slots };
}

export function decodeHost(data: CapData): unknown {
  if (!data.body.startsWith('#')) throw TypeError('not a smallcaps body');
  const dec = (e: unknown): unknown => {
    if (e === null || typeof e === 'boolean' || typeof e === 'number') return e;
    if (typeof e === 'string') {
      const c = e.charAt(0);
      if (c === '!') return e.slice(1);
      if (c === '#') {
        const k: Record<string, unknown> = {
          '#undefined': undefined,
          '#NaN': Number.NaN,
          '#Infinity': Infinity,
          '#-Infinity': -Infinity,
        };
        if (e in k) return k[e];
        throw TypeError(`unknown constant ${e}`);
      }
      if (c === '+' || c === '-') return BigInt(e);
      if (c === '$') {
        const dot = e.indexOf('.');
        const i = Number(e.slice(1, dot < 0 ? undefined : dot));
        return new HostRef(slotAt(i), dot < 0 ? 'Alleged: ref' : e.slice(dot + 1));
      }
      if (c === '&') return new HostRef(slotAt(Number(e.slice(1))), 'promise');
      if (startsSpecial(e)) throw TypeError(`unsupported smallcaps string ${e}`);
      return e;
    }
    if (Array.isArray(e)) return e.map(dec);
    if (typeof e === 'object') {
      const o = e as Record<string, unknown>;
      if ('#error' in o)
        return new HostError(String(dec(o['name'] ?? 'Error')), String(o['#error']));
      if ('#tag' in o) return { tag: dec(o['#tag']), payload: dec(o['payload']) };
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) out[dec(k) as string] = dec(v);
      return out;
    }
    throw TypeError('bad smallcaps encoding');
  };
  const slotAt = (i: number): string => {
    const s = data.slots[i];
    if (s === undefined) throw TypeError(`slot ${i} out of range`);
    return s;
  };
  return dec(JSON.parse(data.body.slice(1)));
}
