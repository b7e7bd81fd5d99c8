import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assembleCertificate } from '../../quorum/certificate.ts';
import { ConfigChain, changeStatement, requestChange } from '../../quorum/chain.ts';
import { makeGenesis, quorumVatIdOf, vatPinOf } from '../../quorum/config.ts';
import { chainDocument } from '../../quorum/status.ts';
import { makeTestKey } from '../../quorum/testing.ts';
import { loadOrCreateIdentity } from '../../vattp/identity.ts';
import type { Config } from '../config.ts';
import { UsageError } from '../parse.ts';
import { memberQuorum } from './member-option.ts';

const root = mkdtempSync(join(tmpdir(), 'qv-member-opt-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

// Three member hosts with keys in their data directories, one host not yet in the quorum.
const dirs = ['m0', 'm1', 'm2', 'late', 'fresh'].map((d) => join(root, d));
const ids = await Promise.all(dirs.slice(0, 4).map((d) => loadOrCreateIdentity(d)));
const signer = new Map(ids.map((i) => [i.vatId, i.sign]));
const admin = makeTestKey();
const genesis = makeGenesis({
  name: 'bank',
  nonce: '12'.repeat(16),
  members: ids.slice(0, 3).map((i) => i.vatId),
  threshold: 2,
  admin: admin.publicKey,
});
const chain = new ConfigChain(quorumVatIdOf(genesis), genesis);
// The administrator admits the late host as a learner; members 0 and 1 certify it.
{
  const c = chain.current;
  const signed = requestChange(admin.sign, c, { op: 'add-learner', member: ids[3]!.vatId });
  const statement = changeStatement(signed.request, 4);
  const who = c.members.slice(0, 2);
  chain.append({
    ...signed,
    position: 4,
    certificate: assembleCertificate(
      c,
      who.map((m) => [m, signer.get(m)!(statement)] as const),
    ),
  });
}
const chainFile = { path: 'chain.json', text: JSON.stringify(chainDocument(chain)) };

const node = (dataDir: string, over: Partial<Config<'node'>> = {}) =>
  ({ dataDir, quorumGenesis: genesis, ...over }) as Config<'node'>;
const usage = (want: RegExp) => (e: unknown) => e instanceof UsageError && want.test(e.message);

test('a genesis member starts; the chain so far is passed on', async () => {
  for (const d of dirs.slice(0, 3)) {
    assert.deepEqual(await memberQuorum(node(d)), { genesis, records: [] });
  }
  const withChain = await memberQuorum(node(dirs[0]!, { quorumChain: chainFile }));
  assert.equal(withChain?.records.length, 1);
});

test('a host admitted later is a learner of the chain, not of the genesis alone', async () => {
  await assert.rejects(
    memberQuorum(node(dirs[3]!)),
    usage(
      /^--quorum-genesis: this node \(VatID 12D3KooW\w+\) is neither a member nor a learner of quorum bank \(quorum\w+\) at epoch 0$/,
    ),
  );
  const r = await memberQuorum(node(dirs[3]!, { quorumChain: chainFile }));
  assert.equal(r?.records.length, 1);
});

test('refused: no key yet, a chain of something else, a chain without a genesis; solo stays solo', async () => {
  await assert.rejects(
    memberQuorum(node(dirs[4]!)),
    usage(/has no key in .* yet.*quorumvat identity --data-dir/),
  );
  const tampered = JSON.parse(chainFile.text);
  tampered.records[0].position = 5;
  await assert.rejects(
    memberQuorum(
      node(dirs[0]!, { quorumChain: { path: 'x.json', text: JSON.stringify(tampered) } }),
    ),
    usage(/^--quorum-chain: x\.json does not verify from the genesis: record 0: certificate/),
  );
  const other = makeGenesis({ ...genesis, nonce: '34'.repeat(16) });
  await assert.rejects(
    memberQuorum(node(dirs[0]!, { quorumGenesis: other, quorumChain: chainFile })),
    usage(/^--quorum-chain: .*chain document of quorum\w+, not quorum\w+/),
  );
  await assert.rejects(
    memberQuorum(node(dirs[0]!, { quorumGenesis: undefined, quorumChain: chainFile })),
    usage(/^--quorum-chain: only with --quorum-genesis/),
  );
  assert.equal(await memberQuorum(node(dirs[0]!, { quorumGenesis: undefined })), undefined);
});

test('a genesis that pins the contract and gas: a node with another contract or gas limit is refused, naming the flag', async (t) => {
  const dir = mkdtempSync(join(root, 'pin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const contract = join(dir, 'bank.js');
  const other = join(dir, 'other.js');
  writeFileSync(contract, 'export function buildRootObject() { return harden({}); }\n');
  writeFileSync(other, 'export function buildRootObject() { return harden({ x: 1 }); }\n');
  const pinned = makeGenesis({
    ...genesis,
    vat: vatPinOf(readFileSync(contract, 'utf8'), 5_000_000),
  });
  const at = (over: Partial<Config<'node'>>) =>
    memberQuorum(node(dirs[0]!, { quorumGenesis: pinned, contract, gas: 5_000_000, ...over }));
  assert.deepEqual(await at({}), { genesis: pinned, records: [] });
  await assert.rejects(
    at({ contract: other }),
    usage(
      /^--contract: .*other\.js: the contract \(sha256 [0-9a-f]{64}\) is not the one the quorum's genesis pins \(sha256 [0-9a-f]{64}\): every member runs the same code$/,
    ),
  );
  await assert.rejects(
    at({ gas: 5_000_001 }),
    usage(/^--gas: the gas limit 5000001 is not the one the quorum's genesis pins \(5000000\)/),
  );
  // Without a pin any contract and gas start (as before).
  assert.deepEqual(await memberQuorum(node(dirs[0]!, { contract: other, gas: 1 })), {
    genesis,
    records: [],
  });
});
