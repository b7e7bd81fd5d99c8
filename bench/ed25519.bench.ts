// Ed25519 sign/verify rates: @noble/ed25519 3.x (sync API, sha512 from @noble/hashes) vs
// node:crypto, for a 200-byte message and a 64 KiB batch (one signature over 64 KiB).
// Before measuring, asserts both give byte-identical signatures and public keys for the same
// seed and that each verifies the other's signatures; exits 1 otherwise.
// No lockdown here: this measures the libraries alone.

import { strict as assert } from 'node:assert';
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { emit, measureSync, quick, round } from './lib.ts';

// noble 3.x: the sync API needs a sha512 in `hashes` (2.x used `etc.sha512Sync`).
ed.hashes.sha512 = sha512;

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function nodeKeys(seed: Uint8Array): { priv: KeyObject; pub: KeyObject; pubRaw: Uint8Array } {
  const priv = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const pub = createPublicKey(priv);
  const spki = pub.export({ format: 'der', type: 'spki' });
  return { priv, pub, pubRaw: new Uint8Array(spki.subarray(spki.length - 32)) };
}

const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

function crossCheck(seed: Uint8Array, msg: Uint8Array): void {
  const k = nodeKeys(seed);
  const noblePub = ed.getPublicKey(seed);
  assert.ok(eq(noblePub, k.pubRaw), 'public keys differ between noble and node:crypto');
  const sigNoble = ed.sign(msg, seed);
  const sigNode = new Uint8Array(sign(null, msg, k.priv));
  assert.equal(sigNoble.length, 64);
  assert.ok(eq(sigNoble, sigNode), 'signatures differ between noble and node:crypto');
  assert.ok(verify(null, msg, k.pub, sigNoble), 'node:crypto rejects noble signature');
  assert.ok(ed.verify(sigNode, msg, noblePub), 'noble rejects node:crypto signature');
  // And both reject a tampered message.
  if (msg.length === 0) return;
  const bad = Uint8Array.from(msg);
  bad[0] = (bad[0] ?? 0) ^ 1;
  assert.ok(!verify(null, bad, k.pub, sigNoble), 'node:crypto accepts a tampered message');
  assert.ok(!ed.verify(sigNode, bad, noblePub), 'noble accepts a tampered message');
}

const SIZES = [200, 64 * 1024];

// Cross-check on a fixed RFC 8032 test vector (TEST 1, empty message) and random seeds/sizes.
{
  const seed = Buffer.from(
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'hex',
  );
  const expected =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
  assert.equal(Buffer.from(ed.sign(new Uint8Array(0), seed)).toString('hex'), expected);
  assert.equal(sign(null, Buffer.alloc(0), nodeKeys(seed).priv).toString('hex'), expected);
  for (let i = 0; i < quick(8, 2); i++) {
    for (const size of [0, 1, ...SIZES]) crossCheck(randomBytes(32), randomBytes(size));
  }
}

const seed = new Uint8Array(randomBytes(32));
const keys = nodeKeys(seed);
const noblePub = ed.getPublicKey(seed);

for (const msgBytes of SIZES) {
  const msg = new Uint8Array(randomBytes(msgBytes));
  const sig = ed.sign(msg, seed);
  const durationMs = quick(msgBytes > 1000 ? 1000 : 1500, 150);
  const warmupMs = quick(200, 30);
  const opts = { durationMs, warmupMs };

  const impls = [
    {
      impl: 'noble',
      doSign: () => ed.sign(msg, seed),
      doVerify: () => ed.verify(sig, msg, noblePub),
    },
    {
      impl: 'node-crypto',
      doSign: () => sign(null, msg, keys.priv),
      doVerify: () => verify(null, msg, keys.pub, sig),
    },
  ];
  for (const { impl, doSign, doVerify } of impls) {
    let bad = 0;
    const s = measureSync(() => {
      doSign();
    }, opts);
    const v = measureSync(() => {
      if (!doVerify()) bad++;
    }, opts);
    if (bad > 0) throw new Error(`${impl}: ${bad} verifications failed`);
    emit({
      bench: 'ed25519',
      impl,
      msg_bytes: msgBytes,
      sign_per_s: Math.round(s.perSecond),
      verify_per_s: Math.round(v.perSecond),
      sign_mb_per_s: round((s.perSecond * msgBytes) / 1e6, 3),
      verify_mb_per_s: round((v.perSecond * msgBytes) / 1e6, 3),
      sign_ops: s.ops,
      verify_ops: v.ops,
      cross_checked: true,
      lockdown: false,
    });
  }
}
