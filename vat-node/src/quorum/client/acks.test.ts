import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QuorumConfig } from '../config.ts';
import { makeTestMembers, makeTestQuorum } from '../testing.ts';
import { MemberAcks } from './acks.ts';

const q4 = await makeTestQuorum(4, 3);
const [a, b, c, d] = q4.config.members;
const [outsider] = await makeTestMembers(1);

test('the mark is the k-th highest ack among current members, and never goes down', () => {
  const acks = new MemberAcks(q4.config);
  assert.equal(acks.offer(a!, 10), undefined);
  assert.equal(acks.offer(b!, 7), undefined);
  assert.equal(acks.offer(c!, 5), 5, 'three members: the lowest of them');
  assert.equal(acks.offer(d!, 9), 7);
  assert.equal(acks.offer(d!, 3), undefined, 'an older ack changes nothing');
  assert.equal(acks.offer(c!, 8), 8);
  assert.equal(acks.certified, 8);
});

test('liars: one member lying high cannot certify alone; outsiders never count', () => {
  const acks = new MemberAcks(q4.config);
  assert.equal(acks.offer(d!, 1_000_000), undefined);
  assert.equal(acks.offer(outsider!.vatId, 1_000_000), undefined);
  assert.equal(acks.offer(a!, 4), undefined);
  assert.equal(acks.offer(b!, 4), 4, 'k-th highest is an honest value');
  assert.equal(acks.offer(a!, Number.NaN), undefined);
  assert.equal(acks.offer(a!, 2 ** 60), undefined, 'not a safe integer');
});

test('a forgotten (convicted) or removed member stops counting; a new config can raise the mark', () => {
  const acks = new MemberAcks(q4.config);
  acks.offer(a!, 5);
  acks.offer(b!, 5);
  acks.forget(a!);
  assert.equal(acks.offer(c!, 5), undefined, 'a no longer counts');
  const lower: QuorumConfig = { ...q4.config, epoch: 1, threshold: 2, members: [b!, c!, d!] };
  assert.equal(acks.setConfig(lower), 5);
  assert.equal(acks.setConfig(q4.config), undefined, 'an older configuration is ignored');
});
