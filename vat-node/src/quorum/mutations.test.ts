/**
 * Hostile input, mechanically: thousands of random mutations of valid records, certificates,
 * statements, handoff slots and registrations. Each must be refused with the module's own error
 * (or verify to false), never crash with another exception, and never be accepted unless it is
 * equal to the original.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../vattp/codec.ts';
import { assembleCertificate, verifyCertificate } from './certificate.ts';
import { ChainError, ConfigChain, changeStatement, requestChange, verifyChain } from './chain.ts';
import {
  formatQuorumHandoffSlot,
  QuorumHandoffError,
  readQuorumHandoffSlot,
  signHandoff,
} from './handoff.ts';
import { signOutbound } from './outbound.ts';
import { statementBytes } from './signatures.ts';
import { newSturdyKey, SturdyRegistrationError, verifySturdyRegistration } from './sturdyref.ts';
import { makeTestMembers, makeTestQuorum } from './testing.ts';
import { ackFromWire, outboundFromWire, outboundToWire, QuorumWireError } from './wire.ts';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES: unknown[] = [null, true, -1, 0, 1.5, 2 ** 53, '', 'x', [], {}, [1], { a: 1 }];

/** One random change somewhere inside a JSON value. */
function mutate(value: unknown, rnd: () => number): unknown {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  if (Array.isArray(value)) {
    const copy = [...value];
    const r = rnd();
    if (copy.length > 0 && r < 0.6) {
      const i = Math.floor(rnd() * copy.length);
      copy[i] = mutate(copy[i], rnd);
    } else if (r < 0.8) copy.push(pick(ODD_VALUES));
    else copy.pop();
    return copy;
  }
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = { ...value };
    const keys = Object.keys(copy);
    const r = rnd();
    if (keys.length > 0 && r < 0.7) {
      const k = pick(keys);
      copy[k] = mutate(copy[k], rnd);
    } else if (r < 0.85 && keys.length > 0) delete copy[pick(keys)];
    else copy[pick(['extra', 'members', 'secret', 'epoch'])] = pick(ODD_VALUES);
    return copy;
  }
  if (typeof value === 'string') {
    const r = rnd();
    if (value.length === 0 || r < 0.2) return pick(ODD_VALUES);
    const i = Math.floor(rnd() * value.length);
    const alphabet = '0123456789abcdefABCDEF_-xyzQ1';
    return value.slice(0, i) + pick([...alphabet]) + value.slice(i + 1);
  }
  if (typeof value === 'number') return pick([value + 1, value - 1, -value, 0, 1.5, '1', null]);
  return pick(ODD_VALUES);
}

const q = await makeTestQuorum(4, 3);
const [newcomer, recipient, exporter] = await makeTestMembers(3);
const RUNS = 400;

/** Equal as canonical data (a value that has no canonical form, like -0, is never equal). */
function same(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}

function expectRefusal(
  what: string,
  original: unknown,
  mutated: unknown,
  run: () => unknown,
  errorClass: new (...args: never[]) => Error,
): void {
  let threw: unknown;
  try {
    run();
  } catch (err) {
    threw = err;
  }
  if (threw === undefined) {
    assert.ok(same(mutated, original), `${what}: accepted ${JSON.stringify(mutated)}`);
  } else {
    assert.ok(
      threw instanceof errorClass,
      `${what}: threw ${String(threw)} for ${JSON.stringify(mutated)}`,
    );
  }
}

test('mutated chain records are refused with ChainError', () => {
  const { request, admin } = requestChange(q.admin.sign, q.config, {
    op: 'add',
    member: newcomer!.vatId,
    threshold: 4,
  });
  const statement = changeStatement(request, 10);
  const certificate = assembleCertificate(
    q.config,
    q.members.slice(0, 3).map((m) => [m.vatId, m.sign(statement)] as const),
  );
  const record = JSON.parse(JSON.stringify({ request, admin, position: 10, certificate }));
  assert.equal(verifyChain(q.config.quorum, q.genesis, [record]).length, 2);
  const rnd = prng(11);
  for (let i = 0; i < RUNS; i++) {
    const m = mutate(record, rnd);
    expectRefusal(
      'record',
      record,
      m,
      () => verifyChain(q.config.quorum, q.genesis, [m]),
      ChainError,
    );
    const g = mutate(JSON.parse(JSON.stringify(q.genesis)), rnd);
    expectRefusal('genesis', q.genesis, g, () => verifyChain(q.config.quorum, g, []), ChainError);
  }
});

test('mutated certificates never verify', () => {
  const statement = statementBytes('checkpoint', {
    quorum: q.config.quorum,
    position: 1,
    hash: 'ab',
  });
  const cert = assembleCertificate(
    q.config,
    q.members.slice(0, 3).map((m) => [m.vatId, m.sign(statement)] as const),
  );
  const rnd = prng(12);
  for (let i = 0; i < RUNS; i++) {
    const m = mutate(cert, rnd) as typeof cert;
    const check = verifyCertificate(q.config, statement, m);
    if (check.ok) assert.ok(same(m, cert), `accepted ${JSON.stringify(m)}`);
  }
});

test('mutated handoff slots are refused with QuorumHandoffError', () => {
  const chain = new ConfigChain(q.config.quorum, q.genesis);
  const chainOf = () => chain;
  const body = {
    exporter: exporter!.vatId,
    ref: 'o+7',
    giver: q.config.quorum,
    recipient: recipient!.vatId,
    nonce: 3,
  };
  const cert = assembleCertificate(
    q.config,
    q.members.slice(0, 3).map((m) => [m.vatId, signHandoff(m.sign, body)] as const),
  );
  const parts = [body.exporter, body.ref, body.giver, body.recipient, body.nonce, cert];
  const slotOf = (p: unknown) => `h:${Buffer.from(JSON.stringify(p)).toString('base64url')}`;
  assert.equal(slotOf(parts), formatQuorumHandoffSlot(body, cert));
  const rnd = prng(13);
  for (let i = 0; i < RUNS; i++) {
    // What travels is the slot text (JSON turns -0 into 0): compare slots, not values.
    const slot = slotOf(mutate(parts, rnd));
    expectRefusal(
      'handoff',
      slotOf(parts),
      slot,
      () => readQuorumHandoffSlot(slot, chainOf),
      QuorumHandoffError,
    );
  }
});

test('mutated sturdyref registrations and wire statements are refused with their own errors', () => {
  const { registration } = newSturdyKey(q.config.quorum, 'o+5');
  const member = q.members[0]!;
  const outbound = outboundToWire(
    signOutbound(member.sign, member.vatId, q.config.quorum, recipient!.vatId, [
      { seq: 1, msg: { op: 'echoed', token: 1 } },
    ]),
  );
  const rnd = prng(14);
  for (let i = 0; i < RUNS; i++) {
    const r = mutate(registration, rnd);
    expectRefusal(
      'registration',
      registration,
      r,
      () => verifySturdyRegistration(q.config.quorum, r),
      SturdyRegistrationError,
    );
    const o = mutate(outbound, rnd);
    let threw: unknown;
    try {
      outboundFromWire(o);
    } catch (err) {
      threw = err;
    }
    assert.ok(threw === undefined || threw instanceof QuorumWireError, String(threw));
    assert.throws(() => ackFromWire(mutate(outbound, rnd)), QuorumWireError);
  }
});
