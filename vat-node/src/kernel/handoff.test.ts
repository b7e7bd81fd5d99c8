import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HandoffError,
  handoffSlotMaxChars,
  LocalIdentities,
  MAX_HINTS,
  makeHandoffSlot,
  readHandoffSlot,
} from './handoff.ts';

const ids = new LocalIdentities();
const giver = ids.identity('A');
const recipient = ids.identity('B');
const terms = { exporter: 'C', ref: 'o+4', recipient: 'B', nonce: 7 };
const tcp = (port: number) => `/ip4/127.0.0.1/tcp/${port}/p2p/C`;

function parts(slot: string): unknown[] {
  return JSON.parse(Buffer.from(slot.slice(2), 'base64url').toString()) as unknown[];
}
function slotOf(p: unknown[]): string {
  return `h:${Buffer.from(JSON.stringify(p)).toString('base64url')}`;
}

test('a certificate carries the exporter’s address hints, signed with the rest', () => {
  const hints = [tcp(4001), '/ip6/::1/tcp/4001/p2p/C'];
  const slot = makeHandoffSlot(giver, { ...terms, hints });
  const cert = readHandoffSlot(recipient, slot);
  assert.deepEqual(cert.hints, hints);
  assert.equal(cert.exporter, 'C');
  // Hints changed on the way (another address, one left out, reordered): the signature fails.
  for (const other of [[tcp(6666), hints[1]], [hints[0]], [hints[1], hints[0]]]) {
    const p = parts(slot);
    p[6] = other;
    assert.throws(() => readHandoffSlot(recipient, slotOf(p)), /not signed by A/);
  }
  // Removed altogether: the signature covered them too.
  assert.throws(() => readHandoffSlot(recipient, slotOf(parts(slot).slice(0, 6))), /not signed/);
});

test('without hints the certificate is the six-part form it always was', () => {
  for (const hints of [undefined, [], ['not a multiaddr', '', 'x'.repeat(300)]]) {
    const slot = makeHandoffSlot(giver, { ...terms, ...(hints && { hints }) });
    assert.equal(parts(slot).length, 6);
    assert.deepEqual(readHandoffSlot(recipient, slot).hints, []);
  }
});

test('hints are bounded: valid ones only, at most MAX_HINTS, and the certificate stays in size', () => {
  const many = Array.from({ length: 10 }, (_, i) => tcp(4000 + i));
  const slot = makeHandoffSlot(giver, { ...terms, hints: ['bad hint', ...many, many[0]!] });
  assert.deepEqual(readHandoffSlot(recipient, slot).hints, many.slice(0, MAX_HINTS));
  // Long ones (within the per-hint limit) and long VatIDs: only what fits 2048 characters.
  const long = Array.from({ length: 4 }, (_, i) => `/dns4/${'h'.repeat(243)}${i}/tcp/1`);
  const bigIds = { exporter: 'E'.repeat(128), ref: 'o+1', recipient: 'R'.repeat(128), nonce: 1 };
  const big = makeHandoffSlot(ids.identity('G'.repeat(128)), { ...bigIds, hints: long });
  assert.ok(big.length <= 2048, `${big.length}`);
  const kept = readHandoffSlot(ids.identity('R'.repeat(128)), big).hints;
  assert.ok(kept.length < long.length && kept.length > 0, `${kept.length}`);
  // The size bound the kernel checks messages against covers the slot it then writes.
  assert.ok(
    big.length <= handoffSlotMaxChars(bigIds.exporter, 'G'.repeat(128), bigIds.recipient, long),
  );
  const small = makeHandoffSlot(giver, { ...terms, hints: many });
  assert.ok(small.length <= handoffSlotMaxChars('C', 'A', 'B', many));
});

test('a reader refuses malformed hints', () => {
  const good = parts(makeHandoffSlot(giver, { ...terms, hints: [tcp(1)] }));
  const bad: unknown[] = [[], 'x', [1], ['no slash'], ['/a b'], Array(MAX_HINTS + 1).fill(tcp(1))];
  for (const hints of bad) {
    const p = [...good];
    p[6] = hints;
    assert.throws(() => readHandoffSlot(recipient, slotOf(p)), HandoffError, JSON.stringify(hints));
  }
  assert.throws(() => readHandoffSlot(recipient, slotOf([...good, 'eighth'])), /malformed/);
});
