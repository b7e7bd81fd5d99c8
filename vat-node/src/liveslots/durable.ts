/**
 * Durable state for contracts: what survives a vat restart (and what a failed crank rolls
 * back). Contract code gets two things from `buildRootObject(powers)`:
 *
 *   powers.baggage            a string-keyed map of durable values, the vat's root of state
 *   powers.defineKind(tag, init, behavior)
 *                             a maker of durable objects whose state lives in the vat store:
 *                             behavior methods get `({ state, self, stateOf }, ...args)`;
 *                             `stateOf(other)` is the state of another instance of the same
 *                             kind (rights amplification: a purse can check that the purse it
 *                             takes money from is a genuine one of its own mint)
 *
 * Durable values are data, imports (presences of other vats' objects) and durable objects.
 * Plain `Far` objects and promises live only in the worker's heap: storing one in baggage or
 * in a durable object's state throws, so "I thought this was saved" cannot happen silently.
 * After a restart the contract's buildRootObject runs again and must redefine its kinds (by
 * the same tags); durable objects are then revived on demand, with the same identity (vref).
 */
import { Far } from '@endo/pass-style';
import type { CapData } from '../protocol/messages.ts';
import { isDurableRef, isImportRef, isPromiseRef } from '../protocol/refs.ts';
import type { VRef } from './protocol.ts';
import type { VatStore } from './vatstore.ts';

export interface DurableHooks {
  serialize(value: unknown): CapData;
  unserialize(data: CapData): unknown;
  register(vref: VRef, value: unknown): void;
  lookup(vref: VRef): unknown;
}

type Behavior = Record<string, (context: unknown, ...args: unknown[]) => unknown>;

interface Kind {
  readonly tag: string;
  readonly behavior: Behavior;
}

interface StateRecord {
  readonly fields: Map<string, unknown>;
  dirty: boolean;
}

const isDurableSlot = (slot: string) => isDurableRef(slot) || isImportRef(slot);

export class DurableObjects {
  readonly #store: VatStore;
  readonly #hooks: DurableHooks;
  readonly #kinds = new Map<number, Kind>();
  readonly #records = new Map<VRef, StateRecord>();
  /** Representative → its kind and state accessor (for stateOf). */
  readonly #instances = new WeakMap<object, { kindId: number; state: unknown }>();
  readonly powers: unknown;

  constructor(store: VatStore, hooks: DurableHooks) {
    this.#store = store;
    this.#hooks = hooks;
    this.powers = harden({
      baggage: this.#makeBaggage(),
      defineKind: (tag: string, init: (...args: unknown[]) => unknown, behavior: Behavior) =>
        this.#defineKind(tag, init, behavior),
    });
  }

  /** Serialize a value for durable storage, refusing anything that would not survive a restart. */
  #encodeDurable(value: unknown, what: string): string {
    const data = this.#hooks.serialize(value);
    for (const slot of data.slots) {
      if (!isDurableSlot(slot)) {
        throw TypeError(
          `${what}: only data, durable objects and imports can be stored (got ${isPromiseRef(slot) ? 'a promise' : 'an ephemeral Far object'})`,
        );
      }
    }
    return JSON.stringify(data);
  }

  #decode(json: string): unknown {
    return this.#hooks.unserialize(JSON.parse(json) as CapData);
  }

  #makeBaggage(): unknown {
    const key = (k: unknown) => {
      if (typeof k !== 'string') throw TypeError('baggage keys must be strings');
      return `bg.${k}`;
    };
    return Far('baggage', {
      has: (k: unknown) => this.#store.has(key(k)),
      get: (k: unknown) => {
        const v = this.#store.get(key(k));
        if (v === undefined) throw RangeError(`baggage has no key ${String(k)}`);
        return this.#decode(v);
      },
      init: (k: unknown, v: unknown) => {
        if (this.#store.has(key(k))) throw RangeError(`baggage key ${String(k)} already exists`);
        this.#store.set(key(k), this.#encodeDurable(v, `baggage.init(${String(k)})`));
      },
      set: (k: unknown, v: unknown) => {
        if (!this.#store.has(key(k))) throw RangeError(`baggage has no key ${String(k)}`);
        this.#store.set(key(k), this.#encodeDurable(v, `baggage.set(${String(k)})`));
      },
      delete: (k: unknown) => this.#store.delete(key(k)),
      keys: () => harden(this.#store.keysWithPrefix('bg.').map((k) => k.slice(3))),
    });
  }

  #defineKind(tag: string, init: (...args: unknown[]) => unknown, behavior: Behavior): unknown {
    if (typeof tag !== 'string' || tag === '') throw TypeError('kind tag must be a string');
    if (typeof init !== 'function') throw TypeError('kind init must be a function');
    const tagKey = `kind.tag.${tag}`;
    let id = Number(this.#store.get(tagKey) ?? 0);
    if (!id) {
      id = this.#store.allocate('kind.next');
      this.#store.set(tagKey, String(id));
    }
    if (this.#kinds.has(id)) throw TypeError(`kind ${tag} is already defined`);
    this.#kinds.set(id, { tag, behavior: { ...behavior } });
    const kindId = id;
    return harden((...args: unknown[]) => {
      const initial = init(...args);
      if (typeof initial !== 'object' || initial === null || Array.isArray(initial)) {
        throw TypeError(`kind ${tag}: init must return a record`);
      }
      const vref = `o+d${kindId}/${this.#store.allocate(`kind.${kindId}.next`)}`;
      const fields = new Map(Object.entries(initial));
      for (const [k, v] of fields) this.#encodeDurable(v, `${tag} state.${k}`);
      this.#records.set(vref, { fields, dirty: true });
      return this.#representative(vref, kindId);
    });
  }

  /** The durable object for a vref, revived after a restart from its stored state. */
  revive(vref: VRef): unknown {
    const known = this.#hooks.lookup(vref);
    if (known !== undefined) return known;
    const m = /^o\+d(\d+)\/\d+$/.exec(vref);
    const kindId = Number(m?.[1]);
    if (!this.#kinds.has(kindId)) {
      throw ReferenceError(`durable object ${vref}: its kind was not redefined by buildRootObject`);
    }
    if (!this.#store.has(`vom.${vref}`)) throw ReferenceError(`durable object ${vref} not found`);
    return this.#representative(vref, kindId);
  }

  #record(vref: VRef): StateRecord {
    let rec = this.#records.get(vref);
    if (!rec) {
      const json = this.#store.get(`vom.${vref}`);
      if (json === undefined) throw ReferenceError(`durable object ${vref} not found`);
      const obj = this.#decode(json) as Record<string, unknown>;
      rec = { fields: new Map(Object.entries(obj)), dirty: false };
      this.#records.set(vref, rec);
    }
    return rec;
  }

  #representative(vref: VRef, kindId: number): unknown {
    const kind = this.#kinds.get(kindId)!;
    const state = Object.create(null) as Record<string, unknown>;
    for (const field of this.#record(vref).fields.keys()) {
      Object.defineProperty(state, field, {
        enumerable: true,
        get: () => this.#record(vref).fields.get(field),
        set: (v: unknown) => {
          this.#encodeDurable(v, `${kind.tag} state.${field}`);
          const rec = this.#record(vref);
          rec.fields.set(field, harden(v));
          rec.dirty = true;
        },
      });
    }
    harden(state);
    let self: unknown;
    const methods: Record<string, (...args: unknown[]) => unknown> = {};
    const context = harden({
      state,
      get self() {
        return self;
      },
      stateOf: (other: unknown) => {
        const entry = this.#instances.get(other as object);
        if (entry?.kindId !== kindId) throw TypeError(`not a ${kind.tag} of this vat`);
        return entry.state;
      },
    });
    for (const [name, fn] of Object.entries(kind.behavior)) {
      methods[name] = (...args: unknown[]) => fn(context, ...args);
    }
    self = Far(kind.tag, methods);
    this.#instances.set(self as object, { kindId, state });
    this.#hooks.register(vref, self);
    return self;
  }

  /** Write back the state records changed in this crank. */
  flush(): void {
    for (const [vref, rec] of this.#records) {
      if (!rec.dirty) continue;
      this.#store.set(
        `vom.${vref}`,
        JSON.stringify(this.#hooks.serialize(Object.fromEntries(rec.fields))),
      );
      rec.dirty = false;
    }
  }
}
