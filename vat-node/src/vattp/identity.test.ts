import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { ProtocolError } from '../protocol/errors.ts';
import { ephemeralIdentity, KEY_FILE, loadOrCreateIdentity, publicKeyOfVatId } from './identity.ts';
import { verifySignature } from './signing.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vattp-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('creates the key once (mode 0600, nothing left over) and loads the same identity after', async (t) => {
  const dir = join(tempDir(t), 'data');
  const first = await loadOrCreateIdentity(dir);
  assert.match(first.vatId, /^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/);
  assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), [KEY_FILE]);
  const second = await loadOrCreateIdentity(dir);
  assert.equal(second.vatId, first.vatId);
  assert.deepEqual(second.publicKey, first.publicKey);
  const msg = new TextEncoder().encode('hello');
  assert.ok(verifySignature(first.publicKey, msg, second.sign(msg)));
});

test('concurrent first starts on one data directory agree on one key', async (t) => {
  const dir = join(tempDir(t), 'data');
  const ids = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateIdentity(dir)));
  assert.equal(new Set(ids.map((id) => id.vatId)).size, 1);
  assert.deepEqual(readdirSync(dir), [KEY_FILE]);
  assert.equal((await loadOrCreateIdentity(dir)).vatId, ids[0]?.vatId);
});

test('refuses a key file that others can read', async (t) => {
  const dir = tempDir(t);
  await loadOrCreateIdentity(dir);
  chmodSync(join(dir, KEY_FILE), 0o644);
  await assert.rejects(loadOrCreateIdentity(dir), /readable by others/);
});

test('the key never shows in JSON or inspect output', async () => {
  const id = await ephemeralIdentity();
  const seedHex = Buffer.from(id.privateKey.raw.subarray(0, 32)).toString('hex');
  const seedB64 = Buffer.from(id.privateKey.raw.subarray(0, 32)).toString('base64');
  for (const text of [
    JSON.stringify(id),
    inspect(id, { showHidden: true }),
    String(Object.keys(id)),
  ]) {
    assert.ok(!text.includes(seedHex) && !text.includes(seedB64), text);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(id)), { vatId: id.vatId });
});

test('a VatID names its raw public key; anything else is a ProtocolError', async () => {
  const id = await ephemeralIdentity();
  assert.deepEqual(publicKeyOfVatId(id.vatId), id.publicKey);
  assert.equal(publicKeyOfVatId(id.vatId).length, 32);
  for (const bad of [
    '',
    'hello',
    `${id.vatId}x`,
    id.vatId.slice(0, -1),
    'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
  ]) {
    assert.throws(() => publicKeyOfVatId(bad), ProtocolError, bad);
  }
});
