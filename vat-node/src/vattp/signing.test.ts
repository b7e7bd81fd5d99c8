import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as noble from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { makeSigner, verifySignature } from './signing.ts';

noble.hashes.sha512 = sha512;

test('node:crypto and @noble/ed25519 make byte-identical signatures and accept each other', () => {
  for (let i = 0; i < 20; i++) {
    const seed = new Uint8Array(randomBytes(32));
    const publicKey = noble.getPublicKey(seed);
    const message = new Uint8Array(randomBytes(i * 37));
    const ours = makeSigner(seed, publicKey)(message);
    const theirs = noble.sign(message, seed);
    assert.deepEqual(ours, theirs);
    assert.ok(noble.verify(ours, message, publicKey));
    assert.ok(verifySignature(publicKey, message, theirs));
  }
});

test('verification fails (without throwing) on any change or bad input', () => {
  const seed = new Uint8Array(randomBytes(32));
  const publicKey = noble.getPublicKey(seed);
  const message = new TextEncoder().encode('quorumvat');
  const sig = makeSigner(seed, publicKey)(message);
  assert.ok(verifySignature(publicKey, message, sig));
  const flipped = sig.slice();
  flipped[5] = (flipped[5] ?? 0) ^ 1;
  assert.equal(verifySignature(publicKey, message, flipped), false);
  assert.equal(verifySignature(publicKey, new TextEncoder().encode('quorumvaT'), sig), false);
  assert.equal(verifySignature(noble.getPublicKey(new Uint8Array(32)), message, sig), false);
  assert.equal(verifySignature(publicKey, message, sig.subarray(1)), false);
  assert.equal(verifySignature(new Uint8Array(31), message, sig), false);
  assert.equal(verifySignature(new Uint8Array(32).fill(0xff), message, sig), false);
});
