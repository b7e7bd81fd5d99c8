import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from './errors.ts';
import {
  flip,
  isAllocatedBySelf,
  isDurableRef,
  isExportRef,
  isHandoffSlot,
  isImportRef,
  isObjectRef,
  isPromiseRef,
  isPromiseWireRef,
  isVRef,
  isWellFormedHandoffSlot,
  isWireRef,
  makeRef,
  parseVRef,
  parseWireRef,
  ROOT_VREF,
} from './refs.ts';

test('flip swaps the point of view; wire refs are validated strictly', () => {
  assert.equal(flip('o+3'), 'o-3');
  assert.equal(flip('p-12'), 'p+12');
  for (const ok of ['o+1', 'p-999', 'o-123456789012345']) assert.ok(isWireRef(ok), ok);
  for (const bad of ['o+0', 'o+01', 'x+1', 'o1', 'o+', 'o+1 ', 'o+1234567890123456', 7, null]) {
    assert.ok(!isWireRef(bad), String(bad));
  }
});

test('every wire ref form parses to {kind, allocatedBy, id}, and makeRef writes it back', () => {
  const cases = [
    ['o+1', 'object', 'self', 1],
    ['o-7', 'object', 'other', 7],
    ['p+3', 'promise', 'self', 3],
    ['p-42', 'promise', 'other', 42],
    ['o+999999999999999', 'object', 'self', 999_999_999_999_999],
  ] as const;
  for (const [ref, kind, allocatedBy, id] of cases) {
    assert.deepEqual(parseWireRef(ref), { kind, allocatedBy, id }, ref);
    assert.equal(makeRef(kind, allocatedBy, id), ref);
    assert.equal(isPromiseRef(ref), kind === 'promise', ref);
    assert.equal(isObjectRef(ref), kind === 'object', ref);
    assert.equal(isAllocatedBySelf(ref), allocatedBy === 'self', ref);
    assert.equal(isExportRef(ref), kind === 'object' && allocatedBy === 'self', ref);
    assert.equal(isImportRef(ref), kind === 'object' && allocatedBy === 'other', ref);
    assert.equal(isPromiseWireRef(ref), kind === 'promise', ref);
    assert.equal(flip(flip(ref)), ref);
    assert.equal(parseWireRef(flip(ref)).allocatedBy, allocatedBy === 'self' ? 'other' : 'self');
  }
});

test('malformed wire refs are refused with ProtocolError code malformed, whatever their form', () => {
  const bad: unknown[] = [
    'o+0', // index 0 is never on the wire
    'o+01', // leading zero
    'p-007',
    'x+1',
    'O+1',
    'o*1',
    'o1',
    'o+',
    'p-',
    '+1',
    '',
    'o+1 ',
    ' o+1',
    'o+1\n',
    'o+-1',
    'o+1.0',
    'o+1e3',
    'o+0x1',
    'o+１', // a full-width digit
    'o+d1/2', // a durable vref is not a wire ref
    'h:abc', // a handoff slot is not a ref
    'o+1234567890123456', // 16 digits: beyond the grammar
    `o+${'9'.repeat(400)}`,
    7,
    null,
    undefined,
    {},
    ['o+1'],
  ];
  for (const s of bad) {
    assert.equal(isWireRef(s), false, String(s));
    assert.throws(
      () => parseWireRef(s),
      (e: unknown) => e instanceof ProtocolError && e.code === 'malformed',
      String(s),
    );
  }
});

test('vrefs: root, exports, durable objects, imports and promises; bad ones refused', () => {
  assert.deepEqual(parseVRef(ROOT_VREF), { kind: 'object', allocatedBy: 'self', id: 0 });
  assert.deepEqual(parseVRef('o+12'), { kind: 'object', allocatedBy: 'self', id: 12 });
  assert.deepEqual(parseVRef('o-3'), { kind: 'object', allocatedBy: 'other', id: 3 });
  assert.deepEqual(parseVRef('p+0'), { kind: 'promise', allocatedBy: 'self', id: 0 });
  assert.deepEqual(parseVRef('p-9'), { kind: 'promise', allocatedBy: 'other', id: 9 });
  assert.deepEqual(parseVRef('o+d2/15'), {
    kind: 'object',
    allocatedBy: 'self',
    id: 15,
    durableKind: 2,
  });
  assert.ok(isDurableRef('o+d2/15') && isExportRef('o+d2/15') && !isDurableRef('o+2'));
  for (const bad of [
    'o-d1/2',
    'p+d1/2',
    'o+d1',
    'o+d/2',
    'o+d01/2',
    'o+d1/02',
    'o+00',
    'q+1',
    'o+',
    5,
  ]) {
    assert.equal(isVRef(bad), false, String(bad));
    assert.throws(
      () => parseVRef(bad),
      (e: unknown) => e instanceof ProtocolError && e.code === 'malformed',
      String(bad),
    );
  }
});

test('handoff slots are told apart from refs; only the wire form is well-formed', () => {
  assert.ok(isHandoffSlot('h:abc') && isWellFormedHandoffSlot('h:abc_-0'));
  assert.ok(!isHandoffSlot('o+1') && !isWellFormedHandoffSlot('o+1'));
  for (const bad of ['h:', 'h:a b', 'h:a=', `h:${'a'.repeat(2049)}`, 'H:abc', 3]) {
    assert.equal(isWellFormedHandoffSlot(bad), false, String(bad));
  }
});
