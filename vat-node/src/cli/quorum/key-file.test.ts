import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifySignature } from '../../vattp/signing.ts';
import { KeyFileError, newKeyPair, readKeyFile, signerOf, writeKeyFile } from './key-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'qv-keyfile-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a key file is written 0600, read back, and signs for its public key', () => {
  const file = join(dir, 'admin.key');
  const key = newKeyPair('admin');
  writeKeyFile(file, key);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const back = readKeyFile(file, 'admin');
  assert.equal(back.publicKey, key.publicKey);
  const msg = Buffer.from('change');
  assert.ok(verifySignature(Buffer.from(key.publicKey, 'hex'), msg, signerOf(back)(msg)));
  assert.throws(() => writeKeyFile(file, newKeyPair('admin')), /exists \(not overwritten\)/);
  assert.equal(readKeyFile(file, 'admin').publicKey, key.publicKey, 'the old key is kept');
});

test('refused: readable by others, the other kind, not JSON, damaged, missing', () => {
  const good = join(dir, 'sturdy.key');
  writeKeyFile(good, newKeyPair('sturdy'));
  const text = readFileSync(good, 'utf8');
  const doc = JSON.parse(text) as Record<string, string>;
  const cases: [string, string, RegExp][] = [
    ['kind', text, /is a quorumvat-sturdy-key file, not a quorumvat-admin-key file/],
    ['json', 'nope', /not JSON/],
    ['type', JSON.stringify({ ...doc, type: 'x' }), /not a key file/],
    ['secret', JSON.stringify({ ...doc, secret: 'ab' }), /secret is not 64 hex digits/],
    ['pub', JSON.stringify({ ...doc, publicKey: '0'.repeat(64) }), /does not belong to its secret/],
  ];
  for (const [name, content, want] of cases) {
    const f = join(dir, `bad-${name}`);
    writeFileSync(f, content, { mode: 0o600 });
    assert.throws(
      () => readKeyFile(f, name === 'kind' ? 'admin' : 'sturdy'),
      (e: unknown) => e instanceof KeyFileError && want.test(e.message),
      name,
    );
  }
  const open = join(dir, 'open.key');
  writeKeyFile(open, newKeyPair('admin'));
  for (const mode of [0o640, 0o604, 0o644]) {
    chmodSync(open, mode);
    assert.throws(
      () => readKeyFile(open, 'admin'),
      /readable by others \(mode 6\d\d\): chmod 600 it/,
    );
  }
  assert.throws(() => readKeyFile(join(dir, 'none'), 'admin'), /cannot read .* \(ENOENT\)/);
  assert.throws(() => readKeyFile(dir, 'admin'), /is not a file/);
});
