/**
 * The quorum vat command line as a user runs it (real `quorumvat` processes): collecting the
 * members' VatIDs (`identity`), the administrator and sturdyref keys, the genesis, the sturdyref
 * URI, `quorum status` and `quorum change`, and `node --quorum-genesis` refusing what it must.
 * Every mistake is ONE line on stderr naming the flag, with the documented exit code.
 *
 * `status` and `change` talk to a member's HTTP endpoint: here a real NodeEndpoint over a real
 * vat node, answering through a small provider whose chain is real (records certified by the
 * members' keys from their data directories); the member runtime behind the endpoint is the
 * "quorum" part's, tested in test/quorum/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { readKeyFile, signerOf } from '../../vat-node/src/cli/quorum/key-file.ts';
import { parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import { NodeEndpoint } from '../../vat-node/src/node/http/endpoint.ts';
import { TestQuorumProvider } from '../../vat-node/src/node/http/quorum-testing.ts';
import { VatNode } from '../../vat-node/src/node/vat-node.ts';
import { checkSignedRequest } from '../../vat-node/src/quorum/chain.ts';
import { checkGenesis, genesisConfig, quorumVatIdOf } from '../../vat-node/src/quorum/config.ts';
import { readChainDocument } from '../../vat-node/src/quorum/status.ts';
import { loadOrCreateIdentity } from '../../vat-node/src/vattp/identity.ts';
import { CONTRACTS, FIXTURES, freePort, linesOf, pool, runCli, startTestNode } from './cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'qv-quorum-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const mint = join(CONTRACTS, 'mint.js');
const json = (text: string) => JSON.parse(linesOf(text)[0]!) as Record<string, unknown>;

/** Polls an async condition every 250 ms until it holds, or fails after `ms`. */
async function until(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Exit 0, stderr empty. */
async function ok(args: string[]) {
  const r = await runCli(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  assert.equal(r.stderr, '', args.join(' '));
  return r.stdout;
}

// ---------------------------------------------------------------- making a quorum

const vatIds: string[] = [];
let genesisFile = '';
let quorum = '';

test('identity, keys, genesis and sturdyref, as a user runs them', async () => {
  // Each member host's VatID, collected before any node runs; the key is the node's own.
  for (const m of ['m0', 'm1', 'm2', 'm3']) {
    const first = json(await ok(['identity', '--data-dir', at(m)]));
    assert.match(String(first.vatId), /^12D3KooW\w+$/);
    assert.deepEqual(
      json(await ok(['identity', '--data-dir', at(m)])),
      first,
      'same key next time',
    );
    assert.equal(statSync(join(at(m), 'vat-key.pb')).mode & 0o777, 0o600);
    assert.equal((await loadOrCreateIdentity(at(m))).vatId, first.vatId, "the node's key");
    vatIds.push(String(first.vatId));
  }
  const admin = json(await ok(['quorum', 'admin-key', '--out', at('admin.key')]));
  assert.equal(statSync(at('admin.key')).mode & 0o777, 0o600);
  assert.equal(admin.admin, readKeyFile(at('admin.key'), 'admin').publicKey);
  const sturdy = json(await ok(['quorum', 'sturdy-key', '--out', at('sturdy.key')]));
  assert.match(String(sturdy.sturdyKey), /^[0-9a-f]{64}$/);

  genesisFile = at('genesis.json');
  const made = json(
    await ok([
      'quorum',
      'genesis',
      '--name',
      'bank',
      '--member',
      vatIds[0]!,
      '--member',
      `${vatIds[1]},${vatIds[2]}`,
      '--threshold',
      '2',
      '--admin',
      at('admin.key'),
      '--sturdy-key',
      String(sturdy.sturdyKey),
      '--out',
      genesisFile,
    ]),
  );
  const genesis = checkGenesis(JSON.parse(readFileSync(genesisFile, 'utf8')));
  quorum = quorumVatIdOf(genesis);
  assert.deepEqual(made, {
    quorum,
    name: 'bank',
    members: 3,
    threshold: 2,
    byzantine: 0,
    crashes: 1,
    summary: '3 members, threshold 2: tolerates 0 Byzantine and 1 crashed (quorums intersect in 1)',
    genesis: genesisFile,
  });
  assert.equal(genesis.admin, admin.admin);
  assert.doesNotMatch(
    readFileSync(genesisFile, 'utf8'),
    new RegExp(Buffer.from(readKeyFile(at('admin.key'), 'admin').secret).toString('hex')),
    'no secret in the genesis',
  );

  const hint = `/ip4/127.0.0.1/tcp/4001/p2p/${vatIds[0]}`;
  const uri = (
    await ok([
      'quorum',
      'sturdyref',
      '--key',
      at('sturdy.key'),
      '--genesis',
      genesisFile,
      '--hint',
      hint,
    ])
  ).trim();
  const ref = parseSturdyRef(uri);
  assert.equal(ref.vatId, quorum);
  assert.deepEqual(ref.hints, [hint]);
});

// ---------------------------------------------------------------- every mistake: one line

interface Case {
  readonly args: string[];
  readonly env?: Record<string, string>;
  readonly says: RegExp;
  readonly exit?: number;
}

test('every mistake: one line on stderr naming the flag, nothing on stdout, exit 2', async () => {
  assert.ok(genesisFile, 'the first test made the genesis');
  const file = at('a-file');
  writeFileSync(file, 'x');
  writeFileSync(at('bad.json'), '{');
  const g = JSON.parse(readFileSync(genesisFile, 'utf8'));
  writeFileSync(at('k1.json'), JSON.stringify({ ...g, threshold: 1 }));
  // Genesis files that pin another contract, or this contract with another gas limit.
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  writeFileSync(
    at('pin-other.json'),
    JSON.stringify({ ...g, vat: { contractSha256: sha('other'), gasLimit: 10_000_000 } }),
  );
  writeFileSync(
    at('pin-gas.json'),
    JSON.stringify({ ...g, vat: { contractSha256: sha(readFileSync(mint, 'utf8')), gasLimit: 5 } }),
  );
  writeFileSync(at('open.key'), readFileSync(at('admin.key')), { mode: 0o644 });
  chmodSync(at('open.key'), 0o644);
  const [a, b, c, d] = vatIds as [string, string, string, string];
  const gen = [
    'quorum',
    'genesis',
    '--name',
    'x',
    '--admin',
    at('admin.key'),
    '--out',
    at('new.json'),
  ];
  const change = ['quorum', 'change', '--admin-key', at('admin.key'), '--genesis', genesisFile];
  const node = ['node', '--data-dir', at('m0'), '--contract', mint];
  const cases: Case[] = [
    { args: ['identity'], says: /^quorumvat identity: missing --data-dir/ },
    { args: ['identity', '--data-dir', file], says: /--data-dir: .* is not a directory/ },
    { args: ['identity', '--data-dir', at('m0'), '--x'], says: /unknown option '--x'/ },
    {
      args: ['quorum'],
      says: /^quorumvat quorum: missing subcommand \(admin-key, sturdy-key, genesis, sturdyref, status, change, submit\)/,
    },
    { args: ['quorum', 'genesys'], says: /unknown command 'genesys'.*genesis/ },
    { args: ['quorum', 'admin-key'], says: /^quorumvat quorum admin-key: missing --out/ },
    {
      args: ['quorum', 'admin-key', '--out', at('admin.key')],
      says: /--out: .*admin\.key exists \(it is never overwritten\)/,
    },
    { args: ['quorum', 'sturdy-key', '--out', join(dir, 'no', 'k')], says: /--out: no directory/ },
    // genesis
    { args: [...gen, '--threshold', '2'], says: /^quorumvat quorum genesis: missing --member/ },
    { args: [...gen, '--member', a], says: /missing --threshold/ },
    {
      args: [...gen, '--member', 'nope', '--threshold', '1'],
      says: /--member: expected a member's VatID/,
    },
    { args: [...gen, '--member', `${a},,${b}`, '--threshold', '1'], says: /--member: empty item/ },
    {
      args: [...gen, '--member', quorum, '--threshold', '1'],
      says: /--member: expected a member's VatID/,
    },
    {
      args: [...gen, '--member', a, '--member', a, '--threshold', '1'],
      says: /--member: .* given twice/,
    },
    ...['abc', '0', '1.5', '-1', '65'].map(
      (k): Case => ({
        args: [...gen, '--member', a, '--threshold', k],
        says: /--threshold: expected a whole number/,
      }),
    ),
    {
      args: [...gen, '--member', `${a},${b}`, '--threshold', '1'],
      says: /--threshold: refused: threshold k = 1 of n = 2: 2k ≤ n/,
    },
    {
      args: [...gen, '--member', `${a},${b},${c},${d}`, '--threshold', '2'],
      says: /--threshold: refused: .*2k ≤ n.*k ≥ 3/,
    },
    {
      args: [...gen, '--member', `${a},${b}`, '--threshold', '3'],
      says: /--threshold: refused: threshold k = 3 > n = 2/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--admin', 'abc'],
      says: /--admin: expected the administrator's public key/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--admin', at('open.key')],
      says: /--admin: .* is readable by others \(mode 644\): chmod 600 it/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--admin', at('sturdy.key')],
      says: /--admin: .* is a quorumvat-sturdy-key file, not a quorumvat-admin-key file/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--name', 'Bank!'],
      says: /--name: expected 1-64 of a-z/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--nonce', 'xyz'],
      says: /--nonce: expected 32 hex digits/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--sturdy-key', 'abc'],
      says: /--sturdy-key: expected a public key of 64 hex digits/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--view-timeout', '10ms'],
      says: /--view-timeout: refused: must be, in ms, an integer in \[50, 600000\]/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--view-timeout', 'soon'],
      says: /--view-timeout: expected a duration/,
    },
    {
      args: [...gen.slice(0, -1), genesisFile, '--member', a, '--threshold', '1'],
      says: /--out: .* exists/,
    },
    // sturdyref
    {
      args: ['quorum', 'sturdyref', '--key', at('none'), '--genesis', genesisFile],
      says: /--key: cannot read .* \(ENOENT\)/,
    },
    {
      args: ['quorum', 'sturdyref', '--key', at('admin.key'), '--genesis', genesisFile],
      says: /--key: .* is a quorumvat-admin-key file, not a quorumvat-sturdy-key file/,
    },
    {
      args: ['quorum', 'sturdyref', '--key', at('sturdy.key'), '--genesis', at('bad.json')],
      says: /--genesis: .*bad\.json is not JSON/,
    },
    {
      args: [
        'quorum',
        'sturdyref',
        '--key',
        at('sturdy.key'),
        '--genesis',
        genesisFile,
        '--hint',
        '127.0.0.1:4001',
      ],
      says: /--hint: expected a member's address ending in \/p2p\/VATID/,
    },
    // status, change
    { args: ['quorum', 'status'], says: /^quorumvat quorum status: missing --genesis/ },
    {
      args: ['quorum', 'status', '--genesis', at('k1.json')],
      says: /--genesis: .*k1\.json is not a valid genesis: threshold k = 1 of n = 3: 2k ≤ n/,
    },
    {
      args: ['quorum', 'status', '--genesis', genesisFile, '--member', 'ftp://x:1'],
      says: /--member: expected http:\/\/HOST:PORT/,
    },
    {
      args: ['quorum', 'status', '--genesis', genesisFile, '--member', 'x:1/readyz'],
      says: /--member: expected only http:\/\/HOST:PORT/,
    },
    {
      args: ['quorum', 'status', '--genesis', genesisFile, '--chain', at('bad.json')],
      says: /--chain: .* is not JSON/,
    },
    {
      args: ['quorum', 'status', '--genesis', genesisFile, '--timeout', '0'],
      says: /--timeout: expected a duration/,
    },
    {
      args: ['quorum', 'change', '--genesis', genesisFile, '--add', d],
      says: /^quorumvat quorum change: missing --admin-key/,
    },
    {
      args: change,
      says: /missing the change: --add, --remove, --add-learner, --remove-learner or --threshold/,
    },
    { args: [...change, '--add', 'nope'], says: /--add: expected a member's VatID/ },
    {
      args: [...change, '--add', d, '--remove', a],
      says: /--add and --remove: one change at a time/,
    },
    {
      args: [...change, '--add', d],
      says: /--add: threshold k = 2 of n = 4: 2k ≤ n.*\(k stays 2 unless --threshold K is given\)/,
    },
    {
      args: [...change, '--add', a, '--threshold', '3'],
      says: /--threshold: .* is already a member/,
    },
    { args: [...change, '--remove', d], says: /--remove: .* is not a member/ },
    {
      args: [...change, '--threshold', '1'],
      says: /--threshold: threshold k = 1 of n = 3: 2k ≤ n/,
    },
    {
      args: [...change, '--add-learner', d, '--threshold', '3'],
      says: /--threshold: a learner change keeps k/,
    },
    {
      args: [...change.slice(0, 3), at('open.key'), ...change.slice(4), '--threshold', '3'],
      says: /--admin-key: .* is readable by others/,
    },
    {
      args: ['quorum', 'submit', '--member', '127.0.0.1:1'],
      says: /^quorumvat quorum submit: missing --request/,
    },
    { args: ['quorum', 'submit', '--request', genesisFile], says: /missing --member/ },
    {
      args: ['quorum', 'submit', '--request', genesisFile, '--member', '127.0.0.1:1'],
      says: /--request: .* is not a signed change request \(quorum change --out\): body: keys must be exactly request, admin/,
    },
    // genesis: pinning the contract
    {
      args: [...gen, '--member', a, '--threshold', '1', '--gas', '5'],
      says: /--gas: only with --contract \(the genesis pins both\)/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--contract', at('none.js')],
      says: /--contract: cannot read .*none\.js/,
    },
    {
      args: [...gen, '--member', a, '--threshold', '1', '--contract', mint, '--gas', '0'],
      says: /--gas: /,
    },
    // node --quorum-genesis
    {
      args: [...node, '--quorum-genesis', at('pin-other.json')],
      says: /--contract: .*mint\.js: the contract \(sha256 [0-9a-f]{64}\) is not the one the quorum's genesis pins \(sha256 [0-9a-f]{64}\): every member runs the same code/,
    },
    {
      args: [...node, '--quorum-genesis', at('pin-gas.json')],
      says: /--gas: the gas limit 10000000 is not the one the quorum's genesis pins \(5\)/,
    },
    {
      args: [...node, '--quorum-genesis', at('none.json')],
      says: /^quorumvat node: --quorum-genesis: cannot read/,
    },
    {
      args: [...node, '--quorum-genesis', at('k1.json')],
      says: /--quorum-genesis: .* is not a valid genesis: .*2k ≤ n/,
    },
    {
      args: node,
      env: { QUORUMVAT_QUORUM_GENESIS: at('bad.json') },
      says: /QUORUMVAT_QUORUM_GENESIS: .* is not JSON/,
    },
    {
      args: ['node', '--data-dir', at('m3'), '--contract', mint, '--quorum-genesis', genesisFile],
      says: /--quorum-genesis: this node \(VatID 12D3KooW\w+\) is neither a member nor a learner of quorum bank \(quorum\w+\) at epoch 0/,
    },
    {
      args: [
        'node',
        '--data-dir',
        at('fresh'),
        '--contract',
        mint,
        '--quorum-genesis',
        genesisFile,
      ],
      says: /--quorum-genesis: this node has no key in .* yet.*quorumvat identity --data-dir/,
    },
    {
      args: [...node, '--quorum-chain', genesisFile],
      says: /--quorum-chain: only with --quorum-genesis/,
    },
    {
      args: [...node, '--quorum-genesis', genesisFile, '--quorum-chain', at('bad.json')],
      says: /--quorum-chain: .* is not JSON/,
    },
  ];
  const runs = await pool(cases.map((c) => () => runCli(c.args, { env: c.env })));
  const failures: string[] = [];
  runs.forEach((r, i) => {
    const c = cases[i]!;
    const what = `${c.args.slice(0, 2).join(' ')} … ${c.args.slice(-2).join(' ')} ${JSON.stringify(c.env ?? {})}`;
    const lines = linesOf(r.stderr);
    if (r.code !== (c.exit ?? 2)) failures.push(`${what}: exit ${r.code} (${r.stderr}${r.stdout})`);
    else if (lines.length !== 1) failures.push(`${what}: ${lines.length} lines: ${r.stderr}`);
    else if (!c.says.test(lines[0]!))
      failures.push(`${what}: "${lines[0]}" does not match ${c.says}`);
    else if (r.stdout !== '') failures.push(`${what}: printed on stdout: ${r.stdout}`);
    else if (!/^quorumvat( [\w-]+)*: .* \(see: quorumvat( [\w-]+)* --help\)$/.test(lines[0]!)) {
      failures.push(`${what}: not the one-line format: ${lines[0]}`);
    }
  });
  assert.deepEqual(failures, []);
  assert.equal(readKeyFile(at('admin.key'), 'admin').publicKey, g.admin, 'nothing overwritten');
});

test('identity refuses a key others can read, as the node does: one line, exit 1', async () => {
  const d = at('leaky');
  await ok(['identity', '--data-dir', d]);
  chmodSync(join(d, 'vat-key.pb'), 0o644);
  const r = await runCli(['identity', '--data-dir', d]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = linesOf(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    String(JSON.parse(lines[0]!).msg),
    /vat key .* is readable by others \(mode 644\): chmod 600 it/,
  );
});

// ---------------------------------------------------------------- status and change

test('status and change against a member endpoint: health, a change decided, the chain verified, and the exits', async (t) => {
  assert.ok(genesisFile, 'the first test made the genesis');
  const genesis = checkGenesis(JSON.parse(readFileSync(genesisFile, 'utf8')));
  const ids = await Promise.all(['m0', 'm1', 'm2'].map((m) => loadOrCreateIdentity(at(m))));
  const adminKey = readKeyFile(at('admin.key'), 'admin');
  const provider = new TestQuorumProvider(
    {
      genesis,
      config: genesisConfig(genesis),
      members: ids.map((i) => ({ vatId: i.vatId, sign: i.sign })),
      admin: { publicKey: adminKey.publicKey, sign: signerOf(adminKey) },
      signerOf: new Map(ids.map((i) => [i.vatId, i.sign])),
    },
    ids[0]!.vatId,
  );
  const silent = pino({ level: 'silent' });
  const vat = await VatNode.start({
    dataDir: at('endpoint-vat'),
    contractSource: readFileSync(mint, 'utf8'),
    logger: silent,
  });
  const member = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  const solo = await NodeEndpoint.start({ host: '127.0.0.1', port: 0 }, silent);
  t.after(async () => {
    await Promise.all([member.close(), solo.close()]);
    await vat.close();
  });
  member.attach(vat, at('endpoint-vat'), provider);
  solo.attach(vat, at('endpoint-vat'));
  const url = `http://127.0.0.1:${member.address().port}`;
  const soloUrl = `127.0.0.1:${solo.address().port}`;
  const [, , , newcomer] = vatIds as [string, string, string, string];

  let out = await ok(['quorum', 'status', '--genesis', genesisFile, '--member', url]);
  assert.match(
    out,
    /^quorum bank quorum\w+\nepoch 0 .*\n3 members, threshold 2: tolerates 0 Byzantine and 1 crashed/,
  );
  assert.match(out, new RegExp(`chain from ${url}: verified, 0 records`));
  assert.match(
    out,
    new RegExp(`member ${url}: ready, member 12D3KooW\\w+, epoch 0, height 0, round 1, leader`),
  );

  const decided = json(
    await ok([
      'quorum',
      'change',
      '--admin-key',
      at('admin.key'),
      '--genesis',
      genesisFile,
      '--member',
      url,
      '--add',
      newcomer,
      '--threshold',
      '3',
    ]),
  );
  assert.deepEqual(decided, { state: 'decided', epoch: 1, position: 1, member: url });

  out = await ok(['quorum', 'status', '--genesis', genesisFile, '--member', url]);
  assert.match(
    out,
    /epoch 1 \(since order position 2, 1 change since genesis\)\n4 members, threshold 3: tolerates 1 Byzantine and 1 crashed \(quorums intersect in 2\)/,
  );
  assert.match(out, new RegExp(`member 3 ${newcomer}|member \\d ${newcomer}`));

  // --json is a chain document: kept as a file, it works as --chain (offline, no member).
  const doc = await ok(['quorum', 'status', '--genesis', genesisFile, '--member', url, '--json']);
  writeFileSync(at('chain.json'), doc);
  assert.equal(readChainDocument(doc, quorum).current.epoch, 1);
  const report = JSON.parse(doc);
  assert.equal(report.status.tolerance.byzantine, 1);
  assert.equal(report.members[0].quorum.epoch, 1);
  const offline = await ok([
    'quorum',
    'status',
    '--genesis',
    genesisFile,
    '--chain',
    at('chain.json'),
  ]);
  assert.match(offline, /epoch 1 /);
  const signed = JSON.parse(
    await ok([
      'quorum',
      'change',
      '--admin-key',
      at('admin.key'),
      '--genesis',
      genesisFile,
      '--chain',
      at('chain.json'),
      '--remove',
      vatIds[0]!,
    ]),
  );
  assert.equal(
    checkSignedRequest(provider.chainNow.current, signed.request, signed.admin, 9).epoch,
    2,
  );

  // Signed offline (--out), carried later by someone without the key (quorum submit).
  await ok([
    'quorum',
    'change',
    '--admin-key',
    at('admin.key'),
    '--genesis',
    genesisFile,
    '--chain',
    at('chain.json'),
    '--add-learner',
    String(json(await ok(['identity', '--data-dir', at('m4')])).vatId),
    '--out',
    at('learner.change'),
  ]);
  const carried = json(
    await ok(['quorum', 'submit', '--request', at('learner.change'), '--member', url]),
  );
  assert.deepEqual(carried, { state: 'decided', epoch: 2, position: 2, member: url });
  assert.equal(provider.chainNow.current.epoch, 2);
  // The same request again: stale, refused before ordering, said once, exit 1.
  const again = await runCli([
    'quorum',
    'submit',
    '--request',
    at('learner.change'),
    '--member',
    url,
  ]);
  assert.equal(again.code, 1);
  assert.match(
    linesOf(again.stderr)[0]!,
    /change not submitted: .*400 .*epoch 1, already at epoch 2/,
  );

  // A tampered chain document: exit 3, and the line says which source.
  const tampered = JSON.parse(doc);
  tampered.records[0].position = 7;
  writeFileSync(at('tampered.json'), JSON.stringify(tampered));
  let r = await runCli([
    'quorum',
    'status',
    '--genesis',
    genesisFile,
    '--chain',
    at('tampered.json'),
  ]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /chain from .*tampered\.json: DOES NOT VERIFY: record 0: certificate/);
  assert.equal(linesOf(r.stderr).length, 1);
  r = await runCli([
    'quorum',
    'change',
    '--admin-key',
    at('admin.key'),
    '--genesis',
    genesisFile,
    '--chain',
    at('tampered.json'),
    '--threshold',
    '4',
  ]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '');

  // A member not reachable, a solo node, a halted member: exit 1, the report still printed.
  const closed = await freePort();
  r = await runCli([
    'quorum',
    'status',
    '--genesis',
    genesisFile,
    '--member',
    url,
    '--member',
    `127.0.0.1:${closed}`,
    '--member',
    soloUrl,
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(`member http://127.0.0.1:${closed}: unreachable \\(ECONNREFUSED\\)`),
  );
  assert.match(r.stdout, /member http:\/\/127\.0\.0\.1:\d+: not a quorum member/);
  provider.halted = 'transcript hash diverged at height 1';
  provider.stalled = true;
  r = await runCli(['quorum', 'status', '--genesis', genesisFile, '--member', url]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    /NOT READY \(quorum member halted: transcript hash diverged at height 1\).*STALLED \(3 inputs waiting\), HALTED/,
  );
  provider.halted = null;
  provider.stalled = false;

  // Submitting: to a solo node (refused), to a quorum that does not decide in time (exit 5).
  r = await runCli([
    'quorum',
    'change',
    '--admin-key',
    at('admin.key'),
    '--genesis',
    genesisFile,
    '--member',
    soloUrl,
    '--threshold',
    '3',
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(linesOf(r.stderr).join('\n'), /change not submitted: .*405/);
  provider.mode = 'hold';
  const submitted = provider.submitted;
  r = await runCli([
    'quorum',
    'change',
    '--admin-key',
    at('admin.key'),
    '--genesis',
    genesisFile,
    '--member',
    url,
    '--threshold',
    '4',
    '--timeout',
    '1s',
  ]);
  assert.equal(r.code, 5, r.stderr);
  assert.deepEqual(json(r.stdout), { state: 'submitted', epoch: 2 });
  assert.match(linesOf(r.stderr)[0]!, /not decided within 1000 ms/);
  assert.equal(provider.submitted, submitted + 1);
  assert.equal(provider.chainNow.current.epoch, 2, 'nothing decided');
});

// ---------------------------------------------------------------- real member processes

test('three `quorumvat node --quorum-genesis` members: ready with their quorum fields, quorum status sees them, quorumvat send calls the quorum vat by its sturdyref (also with one member down)', async (t) => {
  const names = ['r0', 'r1', 'r2'];
  const ids: string[] = [];
  for (const m of names) ids.push(String(json(await ok(['identity', '--data-dir', at(m)])).vatId));
  const g = at('members-genesis.json');
  await ok(['quorum', 'admin-key', '--out', at('members-admin.key')]);
  const sturdyKey = json(await ok(['quorum', 'sturdy-key', '--out', at('members.sturdy')]));
  const made = json(
    await ok([
      'quorum',
      'genesis',
      '--name',
      'counter',
      '--member',
      ids.join(','),
      '--threshold',
      '2',
      '--admin',
      at('members-admin.key'),
      '--sturdy-key',
      String(sturdyKey.sturdyKey),
      '--view-timeout',
      '1s',
      '--out',
      g,
    ]),
  );
  const ports = await Promise.all(names.map(() => freePort()));
  const http = await Promise.all(names.map(() => freePort()));
  const addr = (i: number) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${ids[i]}`;
  const members = await Promise.all(
    names.map((m, i) =>
      startTestNode(t, {
        dataDir: at(m),
        contract: join(FIXTURES, 'forwarder.js'),
        listen: [`/ip4/127.0.0.1/tcp/${ports[i]}`],
        extraArgs: [
          '--quorum-genesis',
          g,
          '--http',
          `127.0.0.1:${http[i]}`,
          ...names.flatMap((_, j) => (j === i ? [] : ['--bootstrap', addr(j)])),
        ],
      }),
    ),
  );
  const urls = http.map((p) => `http://127.0.0.1:${p}`);
  const status = () =>
    runCli(['quorum', 'status', '--genesis', g, ...urls.flatMap((u) => ['--member', u])]);
  let out = '';
  await until(
    'all three members ready',
    async () => {
      const r = await status();
      out = r.stdout;
      return r.code === 0;
    },
    60_000,
  );
  for (const [i, u] of urls.entries()) {
    assert.match(
      out,
      new RegExp(`member ${u}: ready, member ${ids[i]}, epoch 0, height \\d+, round \\d+`),
    );
  }
  assert.match(out, /3 members, threshold 2: tolerates 0 Byzantine and 1 crashed/);
  assert.match(
    out,
    /3 of the 3 members asked are ready voting members: at least k = 2, the quorum can make progress/,
  );
  const identity = (await (await fetch(`${urls[0]}/identity`)).json()) as Record<string, unknown>;
  assert.equal(identity.vatId, ids[0]);
  assert.deepEqual(identity.quorum, {
    quorum: made.quorum,
    name: 'counter',
    epoch: 0,
    members: 3,
    threshold: 2,
    byzantine: 0,
    crashes: 1,
    role: 'member',
  });
  const metrics = await (await fetch(`${urls[1]}/metrics`)).text();
  assert.match(metrics, /^quorumvat_quorum_members 3$/m);
  assert.match(metrics, /^quorumvat_quorum_crashes_tolerated 1$/m);
  // No member minted a sturdyref of its own.
  for (const m of members) assert.equal(existsSync(join(m.dataDir, 'root.sturdyref')), false);
  assert.deepEqual(
    members.map((m) => m.vatId),
    ids,
  );

  // A solo client redeems the quorum's sturdyref (made outside, hints to every member) and calls it.
  const uri = (
    await ok([
      'quorum',
      'sturdyref',
      '--key',
      at('members.sturdy'),
      '--genesis',
      g,
      ...names.flatMap((_, i) => ['--hint', addr(i)]),
    ])
  ).trim();
  assert.equal(parseSturdyRef(uri).vatId, made.quorum);
  for (const want of ['1', '2']) {
    assert.equal((await ok(['send', '--timeout', '60s', uri, 'count'])).trim(), want);
  }

  // A membership change through the members (the administrator admits a learner): decided,
  // certified by the members, and status shows the new epoch from every member's chain.
  const learner = String(json(await ok(['identity', '--data-dir', at('r3')])).vatId);
  const changed = json(
    await ok([
      'quorum',
      'change',
      '--admin-key',
      at('members-admin.key'),
      '--genesis',
      g,
      ...urls.flatMap((u) => ['--member', u]),
      '--add-learner',
      learner,
      '--timeout',
      '60s',
    ]),
  );
  assert.equal(changed.state, 'decided');
  assert.equal(changed.epoch, 1);
  // The answer came from the first member to certify it; the others hold the record a moment later.
  let after = '';
  await until(
    'every member serves the record',
    async () => {
      const r = await status();
      after = r.stdout;
      return r.code === 0 && (after.match(/verified, 1 record/g) ?? []).length === 3;
    },
    30_000,
  );
  for (const [i, u] of urls.entries()) {
    assert.match(after, new RegExp(`member ${u}: ready, member ${ids[i]}, epoch 1, `));
    assert.match(after, new RegExp(`chain from ${u}: verified, 1 record`));
  }
  // The quorum vat serves on in the new epoch.
  assert.equal((await ok(['send', '--timeout', '60s', uri, 'count'])).trim(), '3');

  // One member down: status says which, and exits 1; the quorum (n − k = 1) still answers.
  await members[2]!.stop('SIGTERM');
  const r = await status();
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`member ${urls[2]}: unreachable \\(ECONNREFUSED\\)`));
  assert.match(r.stdout, /2 of the 3 members asked are ready voting members: at least k = 2/);
  assert.equal((await ok(['send', '--timeout', '60s', uri, 'count'])).trim(), '4');
});

test('help lists the quorum commands; each has its own, generated from the option table', async () => {
  const asks: [string[], RegExp][] = [
    [['--help'], /identity .*\n[\s\S]*quorum .*quorum vats/],
    [
      ['quorum', '--help'],
      /admin-key[\s\S]*sturdy-key[\s\S]*genesis[\s\S]*sturdyref[\s\S]*status[\s\S]*change/,
    ],
    [
      ['quorum', 'genesis', '--help'],
      /--threshold <k>[\s\S]*\(2k >\s+n\)[\s\S]*--view-timeout <duration>[\s\S]*default: 2s/,
    ],
    [
      ['quorum', 'change', '-h'],
      /--add <vatId>[\s\S]*--remove-learner <vatId>[\s\S]*decided \(exit 0\)/,
    ],
    [['quorum', 'status', '--help'], /--member <url>[\s\S]*3: a chain does not verify/],
    [['node', '--help'], /--quorum-genesis <file>[^-]*QUORUMVAT_QUORUM_GENESIS/],
    [['identity', '--help'], /Usage: quorumvat identity/],
  ];
  const runs = await pool(
    asks.map(
      ([args]) =>
        () =>
          runCli(args, { timeoutMs: 20_000 }),
    ),
  );
  runs.forEach((r, i) => {
    const [args, want] = asks[i]!;
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, want, args.join(' '));
  });
});
