import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTestQuorum } from '../../quorum/testing.ts';
import { ConfigError } from '../values.ts';
import { newKeyPair, writeKeyFile } from './key-file.ts';
import {
  adminPublicKey,
  genesisFile,
  memberEndpoint,
  memberHint,
  memberVatId,
  newFile,
  publicKeyHex,
} from './options.ts';

const dir = mkdtempSync(join(tmpdir(), 'qv-qopts-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const VAT = '12D3KooWJbcmw12rPAiZPKmLGEEP2XW4xximC3W1KcH7MpGfrLLr';

const refuses = (f: (s: string) => unknown, raw: string, want: RegExp) =>
  assert.throws(
    () => f(raw),
    (e: unknown) => e instanceof ConfigError && want.test(e.message),
    raw,
  );

test('member endpoints: http(s)://HOST:PORT or HOST:PORT, nothing else', () => {
  assert.equal(memberEndpoint('127.0.0.1:9090'), 'http://127.0.0.1:9090');
  assert.equal(memberEndpoint('http://m-0.members:9090/'), 'http://m-0.members:9090');
  assert.equal(memberEndpoint('https://[::1]:9443'), 'https://[::1]:9443');
  for (const raw of [
    '127.0.0.1',
    'http://x',
    'ftp://x:1',
    'http://x:1/readyz',
    'http://x:1/?a=1',
    'x:99999',
    ':::',
    'http://u:p@x:1',
  ]) {
    refuses(memberEndpoint, raw, /expected/);
  }
});

test('VatIDs, keys, hints, new files', () => {
  assert.equal(memberVatId(` ${VAT} `), VAT);
  for (const raw of [
    '',
    'abc',
    VAT.slice(0, -1),
    'quorum2j1n5GzWCANHyXbRYeJLFyPsLcWgtP4yuXY99A5RAdAT',
    'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
  ]) {
    refuses(memberVatId, raw, /expected a member's VatID/);
  }
  assert.equal(publicKeyHex('AB'.repeat(32)), 'ab'.repeat(32));
  for (const raw of ['ab', 'g'.repeat(64), 'a'.repeat(65)])
    refuses(publicKeyHex, raw, /64 hex digits/);
  assert.equal(
    memberHint(`/ip4/127.0.0.1/tcp/4001/p2p/${VAT}`),
    `/ip4/127.0.0.1/tcp/4001/p2p/${VAT}`,
  );
  refuses(memberHint, '/ip4/127.0.0.1/tcp/4001', /ending in \/p2p\/VATID/);
  refuses(memberHint, '/ip4/127.0.0.1/tcp/4001/p2p/nope', /not a VatID/);
  const exists = join(dir, 'exists');
  writeFileSync(exists, 'x');
  refuses(newFile, exists, /exists \(it is never overwritten\)/);
  refuses(newFile, join(dir, 'no', 'such'), /no directory/);
  refuses(newFile, '', /empty/);
  assert.equal(newFile(join(dir, 'fresh')), join(dir, 'fresh'));
});

test('the administrator: a public key, or the key file (only its public key is taken)', () => {
  const key = newKeyPair('admin');
  const file = join(dir, 'admin.key');
  writeKeyFile(file, key);
  assert.equal(adminPublicKey(file), key.publicKey);
  assert.equal(adminPublicKey(key.publicKey.toUpperCase()), key.publicKey);
  refuses(adminPublicKey, 'abc', /public key \(64 hex digits\) or its key file/);
  const sturdy = join(dir, 'sturdy.key');
  writeKeyFile(sturdy, newKeyPair('sturdy'));
  refuses(adminPublicKey, sturdy, /not a quorumvat-admin-key file/);
});

test('genesis files: checked in full when read', async () => {
  const q = await makeTestQuorum(3, 2);
  const good = join(dir, 'genesis.json');
  writeFileSync(good, JSON.stringify(q.genesis));
  assert.deepEqual(genesisFile(good), q.genesis);
  const bad: [string, unknown, RegExp][] = [
    ['k', { ...q.genesis, threshold: 1 }, /2k ≤ n/],
    ['extra', { ...q.genesis, x: 1 }, /keys must be exactly/],
    ['unsorted', { ...q.genesis, members: [...q.genesis.members].reverse() }, /sorted/],
    ['admin', { ...q.genesis, admin: 'x' }, /genesis\.admin/],
  ];
  for (const [name, doc, want] of bad) {
    const f = join(dir, `g-${name}.json`);
    writeFileSync(f, JSON.stringify(doc));
    refuses(genesisFile, f, new RegExp(`is not a valid genesis: .*${want.source}`));
  }
  const notJson = join(dir, 'g.txt');
  writeFileSync(notJson, '{');
  refuses(genesisFile, notJson, /is not JSON/);
  refuses(genesisFile, join(dir, 'none.json'), /cannot read/);
});
