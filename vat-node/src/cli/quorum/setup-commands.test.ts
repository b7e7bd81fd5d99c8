import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRedeemProof, parseSturdyRef, redeemProof } from '../../kernel/sturdyref.ts';
import { DEFAULT_GAS_LIMIT } from '../../liveslots/defaults.ts';
import { contractSha256, faultTolerance, quorumVatIdOf } from '../../quorum/config.ts';
import { makeTestKey, makeTestMembers } from '../../quorum/testing.ts';
import type { Config } from '../config.ts';
import { UsageError } from '../parse.ts';
import { newKeyPair } from './key-file.ts';
import { genesisFromConfig, sturdyRefOf } from './setup-commands.ts';

const pool = (await makeTestMembers(8)).map((m) => m.vatId);
const admin = makeTestKey().publicKey;

const genesisOf = (over: Partial<Config<'quorum genesis'>>) =>
  genesisFromConfig({
    member: pool.slice(0, 3),
    threshold: 2,
    admin,
    sturdyKey: [],
    quorumName: 'bank',
    nonce: 'ab'.repeat(16),
    viewTimeout: 2000,
    gas: DEFAULT_GAS_LIMIT,
    out: '/unused',
    ...over,
  } as Config<'quorum genesis'>);

const usage = (want: RegExp) => (e: unknown) => e instanceof UsageError && want.test(e.message);

test('every (n, k) up to n = 8: accepted exactly when 2k > n and k ≤ n, else refused naming --threshold and why', () => {
  for (let n = 1; n <= 8; n++) {
    for (let k = 1; k <= n + 1; k++) {
      const over = { member: pool.slice(0, n), threshold: k };
      if (2 * k > n && k <= n) {
        const g = genesisOf(over);
        assert.equal(g.threshold, k);
        assert.deepEqual(g.members, [...pool.slice(0, n)].sort());
        assert.deepEqual(
          [faultTolerance(n, k).byzantine, faultTolerance(n, k).crashes],
          [Math.min(2 * k - n - 1, n - k), n - k],
        );
      } else {
        assert.throws(
          () => genesisOf(over),
          usage(
            k > n
              ? /^--threshold: refused: .*nothing could ever be decided/
              : /^--threshold: refused: .*2k ≤ n/,
          ),
          `n=${n} k=${k}`,
        );
      }
    }
  }
});

test('the same flags make the same quorum VatID; another nonce or name another one', () => {
  const a = quorumVatIdOf(genesisOf({}));
  assert.equal(
    quorumVatIdOf(genesisOf({ member: pool.slice(0, 3).reverse() })),
    a,
    'member order does not matter',
  );
  assert.notEqual(quorumVatIdOf(genesisOf({ nonce: 'cd'.repeat(16) })), a);
  assert.notEqual(quorumVatIdOf(genesisOf({ quorumName: 'bank2' })), a);
});

test('refusals name their flag', () => {
  assert.throws(
    () => genesisOf({ member: [pool[0]!, pool[0]!, pool[1]!] }),
    usage(/^--member: .* given twice/),
  );
  const key = newKeyPair('sturdy').publicKey;
  assert.throws(() => genesisOf({ sturdyKey: [key, key] }), usage(/^--sturdy-key: .* given twice/));
  assert.throws(
    () => genesisOf({ viewTimeout: 10 }),
    usage(/^--view-timeout: refused: must be, in ms, an integer in \[50, 600000\]/),
  );
  const many = Array.from({ length: 65 }, (_, i) => pool[i % 8]!);
  assert.throws(() => genesisOf({ member: many, threshold: 40 }), usage(/^--member: /));
});

test('--contract pins the contract (sha256) and --gas in the genesis; --gas alone is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qv-genesis-pin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bank.js');
  const source = 'export function buildRootObject() { return harden({}); }\n';
  writeFileSync(file, source);
  assert.equal(genesisOf({}).vat, undefined, 'no --contract: nothing pinned');
  assert.deepEqual(genesisOf({ contract: file }).vat, {
    contractSha256: contractSha256(source),
    gasLimit: DEFAULT_GAS_LIMIT,
  });
  assert.deepEqual(genesisOf({ contract: file, gas: 123_456 }).vat, {
    contractSha256: contractSha256(source),
    gasLimit: 123_456,
  });
  assert.notEqual(quorumVatIdOf(genesisOf({ contract: file })), quorumVatIdOf(genesisOf({})));
  assert.throws(
    () => genesisOf({ gas: 123_456 }),
    usage(/^--gas: only with --contract \(the genesis pins both\)$/),
  );
});

test('sturdyref: the URI of a genesis sturdy key opens the quorum VatID, with the member hints given', () => {
  const key = newKeyPair('sturdy');
  const genesis = genesisOf({ sturdyKey: [key.publicKey] });
  const hints = [
    `/ip4/127.0.0.1/tcp/4001/p2p/${genesis.members[0]}`,
    `/dns4/m-1/tcp/4001/p2p/${genesis.members[1]}`,
  ];
  const uri = sturdyRefOf({
    sturdyKeyFile: key,
    genesis,
    hint: hints,
  } as Config<'quorum sturdyref'>);
  const ref = parseSturdyRef(uri);
  const quorum = quorumVatIdOf(genesis);
  assert.equal(ref.vatId, quorum);
  assert.deepEqual(ref.hints, hints);
  // What a member checks when the holder redeems it: the key of the genesis, bound to the quorum.
  const proof = redeemProof(ref.secret, quorum, pool[7]!);
  assert.ok(checkRedeemProof(genesis.sturdyKeys[0]!, proof, quorum, pool[7]!));
  const other = newKeyPair('sturdy');
  assert.throws(
    () =>
      sturdyRefOf({
        sturdyKeyFile: other,
        genesis,
        hint: [],
      } as unknown as Config<'quorum sturdyref'>),
    usage(/^--key: .* is not among the genesis's sturdy keys/),
  );
});
