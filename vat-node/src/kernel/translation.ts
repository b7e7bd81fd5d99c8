/**
 * C-list translation: between this vat's vrefs and the wire refs each peer reads and writes.
 * Only c-list indices travel (never a secret); a peer can name only what it was given; a
 * third vat's object goes as a signed handoff certificate (handoff.ts) rather than proxied;
 * a settled promise goes as a fresh, settled one (retirement.ts).
 */
import type { VRef } from '../liveslots/protocol.ts';
import { ProtocolError, type ProtocolErrorCode } from '../protocol/errors.ts';
import type { VatId } from '../protocol/identity.ts';
import type { CapData } from '../protocol/messages.ts';
import {
  flip,
  isAllocatedBySelf,
  isHandoffSlot,
  isObjectRef,
  isPromiseRef,
  isWireRef,
  type WireRef,
} from '../protocol/refs.ts';
import { type HandoffCerts, HandoffError } from './handoff.ts';
import type { KernelKeeper, PromiseRecord } from './keeper.ts';
import { MAX_WIRE_REF_CHARS } from './message-size.ts';
import { newPromise } from './promises.ts';

export interface TranslationHooks {
  /** One of our objects leaves the vat (checkpoints track heap objects handed out). */
  handedOut(vref: VRef): void;
  /** Settle a promise record (retirement.ts keeps its references counted). */
  setResolution(vref: VRef, resolution: NonNullable<PromiseRecord['resolution']>): void;
}

export class CListTranslator {
  readonly #keeper: KernelKeeper;
  readonly #vatId: VatId;
  readonly #certs: HandoffCerts | undefined;
  readonly #hooks: TranslationHooks;

  constructor(
    keeper: KernelKeeper,
    vatId: VatId,
    certs: HandoffCerts | undefined,
    hooks: TranslationHooks,
  ) {
    this.#keeper = keeper;
    this.#vatId = vatId;
    this.#certs = certs;
    this.#hooks = hooks;
  }

  /** The object a certificate presented by `presenter` gives it (we are the exporter). */
  objectForCert(presenter: VatId, slot: string): VRef {
    const cert = this.readCert(slot);
    if (cert.exporter !== this.#vatId)
      throw new ProtocolError('bad-handoff', `handoff for ${cert.exporter} presented here`);
    if (cert.recipient !== presenter) {
      throw new ProtocolError(
        'bad-handoff',
        `handoff for ${cert.recipient} presented by ${presenter}`,
      );
    }
    const vref = this.#keeper.clists.get(cert.giver)?.vrefOf(cert.ref);
    if (vref === undefined)
      throw new ProtocolError(
        'handoff-not-held',
        `handoff of ${cert.ref}, which ${cert.giver} does not hold`,
      );
    this.#keeper.clist(presenter).export(vref);
    return vref;
  }

  readCert(slot: string) {
    if (!this.#certs) throw new ProtocolError('unsupported', 'this vat does not accept handoffs');
    try {
      return this.#certs.read(slot);
    } catch (e) {
      if (e instanceof HandoffError) throw new ProtocolError('bad-handoff', e.message);
      throw e;
    }
  }

  /** Our vref → the wire ref `peer` should see (from our point of view). */
  exportTo(peer: VatId, vref: VRef): WireRef {
    const owner = this.#keeper.imports.get(vref);
    if (owner && owner.peer === peer) return owner.wire;
    const certs = this.#certs;
    if (owner && certs) {
      // A third vat's object: hand it off rather than proxy it (one certificate per recipient).
      let cert = this.#keeper.cert(peer, vref);
      if (cert === undefined && certs.maxChars(owner.peer, peer) !== undefined) {
        cert = certs.make({
          hints: this.#keeper.addresses.get(owner.peer) ?? [],
          exporter: owner.peer,
          ref: flip(owner.wire),
          recipient: peer,
          nonce: this.#keeper.next('nextHandoff'),
        });
        if (cert !== undefined) this.#keeper.setCert(peer, vref, cert);
      }
      if (cert !== undefined) return cert;
    }
    // Anything else (our objects, promises, and imports from a third vat, which we proxy
    // until the three-party handoff takes over) gets an index we allocate.
    this.#hooks.handedOut(vref);
    return this.#keeper.clist(peer).export(vref);
  }

  /**
   * The most characters `vref` can take written for `peer` (exportTo, or a fresh promise for
   * a settled one), without translating it: a refused message leaves nothing behind.
   */
  refCharsTo(peer: VatId, vref: VRef): number {
    const owner = this.#keeper.imports.get(vref);
    if (owner && owner.peer !== peer && this.#certs) {
      const chars =
        this.#keeper.cert(peer, vref)?.length ??
        this.#certs.maxChars(owner.peer, peer, this.#keeper.addresses.get(owner.peer));
      if (chars !== undefined) return chars;
    }
    return MAX_WIRE_REF_CHARS;
  }

  /** A wire ref as `peer` wrote it → our vref; allocates imports, rejects unknown indices. */
  importFrom(peer: VatId, wire: unknown, role: 'arg' | 'target' | 'result'): VRef {
    if (typeof wire === 'string' && isHandoffSlot(wire) && role !== 'result') {
      // Ours (the peer names our object by a certificate it holds) or a third vat's.
      const cert = this.readCert(wire);
      if (cert.exporter === this.#vatId) return this.objectForCert(peer, wire);
      if (role !== 'arg')
        fail('bad-handoff', `${peer} sent a message to a third vat's object through us`);
      const take = this.#keeper.takes.get(`${cert.giver}:${cert.nonce}`);
      if (take?.vref) return take.vref;
      fail('bad-handoff', take?.error ?? `handoff from ${cert.giver} was not taken`);
    }
    if (!isWireRef(wire))
      throw new ProtocolError('malformed', `malformed ref ${String(wire)} from ${peer}`);
    const ours = flip(wire);
    const clist = this.#keeper.clist(peer);
    const known = clist.vrefOf(ours);
    if (isAllocatedBySelf(ours)) {
      // An index we allocated: the peer may only name what we gave it.
      if (known === undefined)
        throw new ProtocolError('unknown-ref', `unknown c-list index ${wire} from ${peer}`);
      if (role === 'result')
        throw new ProtocolError('not-fresh', `result promise ${wire} is not fresh`);
      return known;
    }
    if (role === 'target' && isObjectRef(ours)) {
      throw new ProtocolError('not-decider', `${peer} sent a message to its own object ${wire}`);
    }
    if (known !== undefined) {
      if (role === 'result')
        throw new ProtocolError('not-fresh', `result promise ${wire} is not fresh`);
      return known;
    }
    if (role === 'target')
      throw new ProtocolError('unknown-ref', `unknown c-list index ${wire} from ${peer}`);
    const vref = isObjectRef(ours)
      ? `o-${this.#keeper.next('nextImport')}`
      : `p-${this.#keeper.next('nextPromise')}`;
    clist.add(ours, vref);
    if (isObjectRef(ours)) this.#keeper.addImport(vref, peer, ours);
    else this.#keeper.addPromise(vref, newPromise(role === 'result' ? null : peer));
    return vref;
  }

  capDataFrom(peer: VatId, data: CapData): CapData {
    return { body: data.body, slots: data.slots.map((s) => this.importFrom(peer, s, 'arg')) };
  }

  /**
   * Our capdata → the peer's. A settled promise travels as a fresh promise, settled right
   * after (`settled`: old vref → fresh vref): its own index may be retired on either side
   * already (retirement.ts settledBy), and a fresh one is never ambiguous.
   */
  capDataTo(peer: VatId, data: CapData, settled: Map<VRef, VRef>): CapData {
    const slots = data.slots.map((vref) => {
      const res = isPromiseRef(vref) ? this.#keeper.promises.get(vref)?.resolution : null;
      if (!res) return this.exportTo(peer, vref);
      let fresh = settled.get(vref);
      if (fresh === undefined) {
        fresh = `p-${this.#keeper.next('nextPromise')}`;
        this.#keeper.addPromise(fresh, newPromise(null));
        this.#hooks.setResolution(fresh, res);
        settled.set(vref, fresh);
      }
      return this.#keeper.clist(peer).export(fresh);
    });
    return { body: data.body, slots };
  }
}

function fail(code: ProtocolErrorCode, message: string): never {
  throw new ProtocolError(code, message);
}
