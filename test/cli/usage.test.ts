/**
 * Every invalid flag or variable the command line can be given, as a user would type it: each
 * gets ONE plain line on stderr that names the flag or variable, nothing on stdout, no stack
 * trace, and exit 2, before anything starts. Help and version exit 0 without running anything
 * (`demo --help` does not run the demo).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTRACTS, linesOf, pool, runCli } from './cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'qv-usage-'));
const file = join(dir, 'a-file');
writeFileSync(file, 'x');
const mint = join(CONTRACTS, 'mint.js');
const node = ['node', '--data-dir', join(dir, 'd'), '--contract', mint];
const VAT = '12D3KooWJbcmw12rPAiZPKmLGEEP2XW4xximC3W1KcH7MpGfrLLr';
const SECRET = 'A'.repeat(43);
const ref = `quorumvat://${VAT}/s/${SECRET}?addr=${encodeURIComponent(`/ip4/127.0.0.1/tcp/9/p2p/${VAT}`)}`;
const noHint = `quorumvat://${VAT}/s/${SECRET}`;

interface Case {
  readonly args: string[];
  readonly env?: Record<string, string>;
  /** What the one line must mention (the flag, the variable, the mistake). */
  readonly says: RegExp;
}

const cases: Case[] = [
  // commands
  { args: [], says: /missing command/ },
  { args: ['frob'], says: /unknown command 'frob'/ },
  { args: ['nodes'], says: /unknown command 'nodes'.*node/ },
  { args: ['--frob'], says: /unknown option '--frob'/ },
  // node: required options, unknown options, positionals
  { args: ['node'], says: /missing --data-dir \(or QUORUMVAT_DATA_DIR\)/ },
  { args: ['node', '--data-dir', dir], says: /missing --contract/ },
  { args: [...node, '--gass', '5'], says: /unknown option '--gass'.*--gas/ },
  { args: [...node, '-x'], says: /unknown option '-x'/ },
  { args: [...node, 'extra'], says: /too many arguments|unknown command/ },
  { args: [...node, '--gas'], says: /--gas <units>' argument missing/ },
  // node: numbers
  ...['abc', '0', '1.5', '-5', '1e6', '0x10', '10abc', '99999999999999999999', ' '].map(
    (v): Case => ({ args: [...node, '--gas', v], says: /--gas: expected a whole number/ }),
  ),
  { args: node, env: { QUORUMVAT_GAS: 'abc' }, says: /QUORUMVAT_GAS: expected a whole number/ },
  { args: node, env: { QUORUMVAT_GAS: '0' }, says: /QUORUMVAT_GAS: .*from 1 to/ },
  ...['0', '-1s', '5y', 'abc', '1.5.2s', '30d'].map(
    (v): Case => ({ args: [...node, '--give-up', v], says: /--give-up: expected a duration/ }),
  ),
  ...['abc', '0', '-1'].map(
    (v): Case => ({ args: [...node, '--stop-grace', v], says: /--stop-grace: / }),
  ),
  { args: node, env: { QUORUMVAT_STOP_GRACE: 'soon' }, says: /QUORUMVAT_STOP_GRACE: / },
  // node: memory of the vat worker
  ...['abc', '0', '15', '1.5', '-64', '65537'].map(
    (v): Case => ({ args: [...node, '--heap-mb', v], says: /--heap-mb: expected a whole number/ }),
  ),
  ...['abc', '0', '31', '200000'].map(
    (v): Case => ({ args: [...node, '--rss-mb', v], says: /--rss-mb: expected a whole number/ }),
  ),
  ...['0', 'abc', '-5s', '5y'].map(
    (v): Case => ({ args: [...node, '--crank-timeout', v], says: /--crank-timeout: / }),
  ),
  { args: node, env: { QUORUMVAT_CRANK_TIMEOUT: 'never' }, says: /QUORUMVAT_CRANK_TIMEOUT: / },
  { args: node, env: { QUORUMVAT_HEAP_MB: 'lots' }, says: /QUORUMVAT_HEAP_MB: expected a whole/ },
  { args: node, env: { QUORUMVAT_RSS_MB: '-1' }, says: /QUORUMVAT_RSS_MB: expected a whole/ },
  {
    args: [...node, '--heap-mb', '512', '--rss-mb', '512'],
    says: /--rss-mb \(512\) must exceed --heap-mb \(512\)/,
  },
  {
    args: node,
    env: { QUORUMVAT_HEAP_MB: '1024', QUORUMVAT_RSS_MB: '600' },
    says: /--rss-mb \(600\) must exceed --heap-mb \(1024\)/,
  },
  { args: node, env: { QUORUMVAT_GIVE_UP: '0ms' }, says: /QUORUMVAT_GIVE_UP: expected a duration/ },
  // node: addresses
  ...[
    '127.0.0.1:99999',
    '127.0.0.1:-1',
    '127.0.0.1:',
    '127.0.0.1:abc',
    'localhost:4000',
    'garbage',
    '/ip4/1.2.3/tcp/1',
    '/ip4/127.0.0.1/udp/5',
    '/ip4/127.0.0.1/tcp/70000',
    '/ip4/127.0.0.1',
    '/dns4/example.test/tcp/4000',
    `/ip4/127.0.0.1/tcp/4000/p2p/${VAT}`,
  ].map((v): Case => ({ args: [...node, '--listen', v], says: /--listen: / })),
  {
    args: node,
    env: { QUORUMVAT_LISTEN: '127.0.0.1:4000,,' },
    says: /QUORUMVAT_LISTEN: empty item/,
  },
  { args: node, env: { QUORUMVAT_LISTEN: 'nope' }, says: /QUORUMVAT_LISTEN: expected a multiaddr/ },
  ...[
    '0.0.0.0:4000',
    '[::]:4000',
    '10.0.0.1:0',
    '/ip4/0.0.0.0/tcp/4000',
    `/ip4/10.0.0.1/tcp/1/p2p/${VAT}`,
  ].map((v): Case => ({ args: [...node, '--announce', v], says: /--announce: / })),
  {
    args: node,
    env: { QUORUMVAT_ANNOUNCE: '0.0.0.0:1' },
    says: /QUORUMVAT_ANNOUNCE: 0\.0\.0\.0 is not/,
  },
  ...['/dns4/x/tcp/1/p2p/notapeer', 'a,,b', 'host', '/ip4/127.0.0.1/tcp/0', '0.0.0.0:4000'].map(
    (v): Case => ({ args: [...node, '--bootstrap', v], says: /--bootstrap: / }),
  ),
  { args: node, env: { QUORUMVAT_BOOTSTRAP: 'x:y' }, says: /QUORUMVAT_BOOTSTRAP: bad port/ },
  ...['99999', 'abc:80', '127.0.0.1:99999', 'on', ':'].map(
    (v): Case => ({ args: [...node, '--http', v], says: /--http: / }),
  ),
  { args: node, env: { QUORUMVAT_HTTP: ':70000' }, says: /QUORUMVAT_HTTP: port 70000/ },
  // node: the rest
  { args: [...node, '--log-level', 'loud'], says: /--log-level: expected one of/ },
  {
    args: node,
    env: { QUORUMVAT_LOG_LEVEL: 'verbose' },
    says: /QUORUMVAT_LOG_LEVEL: expected one of/,
  },
  { args: [...node, '--name', 'bad name!'], says: /--name: expected 1-63/ },
  {
    args: ['node', '--data-dir', dir, '--contract', '/nonexistent.js'],
    says: /--contract: cannot read/,
  },
  { args: ['node', '--data-dir', dir, '--contract', dir], says: /--contract: .* is not a file/ },
  {
    args: ['node', '--data-dir', file, '--contract', mint],
    says: /--data-dir: .* is not a directory/,
  },
  {
    args: ['node', '--data-dir', '', '--contract', mint],
    says: /--data-dir: expected a directory/,
  },
  {
    args: ['node', '--contract', mint],
    env: { QUORUMVAT_DATA_DIR: file },
    says: /QUORUMVAT_DATA_DIR: /,
  },
  // send
  { args: ['send'], says: /missing required argument 'sturdyref'/ },
  { args: ['send', ref], says: /missing required argument 'method'/ },
  { args: ['send', 'not-a-ref', 'm'], says: /STURDYREF: not a sturdyref/ },
  { args: ['send', `quorumvat://${VAT}/s/short`, 'm'], says: /STURDYREF: a sturdyref looks like/ },
  { args: ['send', noHint, 'm'], says: /no address hint.*--bootstrap/ },
  { args: ['send', ref, 'bad method'], says: /METHOD must be a method name/ },
  { args: ['send', ref, 'm', 'gold'], says: /ARG 1 is not JSON: gold/ },
  { args: ['send', ref, 'm', '1', '{'], says: /ARG 2 is not JSON/ },
  { args: ['send', ref, 'm', '@garbage'], says: /ARG 1: not a sturdyref/ },
  ...['0', 'abc', '-1', '1w'].map(
    (v): Case => ({
      args: ['send', '--timeout', v, ref, 'm'],
      says: /--timeout: expected a duration/,
    }),
  ),
  { args: ['send', ref, 'm'], env: { QUORUMVAT_TIMEOUT: 'soon' }, says: /QUORUMVAT_TIMEOUT: / },
  { args: ['send', '--bootstrap', 'x', ref, 'm'], says: /--bootstrap: / },
  { args: ['send', '--gas', '5', ref, 'm'], says: /unknown option '--gas'/ },
  // verify, demo
  { args: ['verify'], says: /missing --data-dir/ },
  { args: ['verify', '--data-dir', dir, '--contract', mint], says: /unknown option '--contract'/ },
  { args: ['verify', '--data-dir', dir, '--log-level', 'x'], says: /--log-level: expected one of/ },
  { args: ['demo', '--keep=yes'], says: /--keep/ },
  { args: ['demo', 'now'], says: /too many arguments|unknown command/ },
];

test(`${cases.length} invalid command lines: one line on stderr naming the mistake, exit 2`, async (t) => {
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const runs = await pool(cases.map((c) => () => runCli(c.args, { env: c.env })));
  const failures: string[] = [];
  runs.forEach((r, i) => {
    const c = cases[i]!;
    const what = `${JSON.stringify(c.args.slice(0, 1).concat(c.args.slice(5)))} ${JSON.stringify(c.env ?? {})}`;
    const lines = linesOf(r.stderr);
    if (r.code !== 2) failures.push(`${what}: exit ${r.code}, want 2 (${r.stderr}${r.stdout})`);
    else if (lines.length !== 1)
      failures.push(`${what}: ${lines.length} lines on stderr: ${r.stderr}`);
    else if (!c.says.test(lines[0]!))
      failures.push(`${what}: "${lines[0]}" does not match ${c.says}`);
    else if (r.stdout !== '') failures.push(`${what}: printed on stdout: ${r.stdout}`);
    else if (/\n\s+at |Error:/.test(r.stderr)) failures.push(`${what}: a stack trace or raw error`);
    else if (!/^quorumvat( \w+)?: .* \(see: quorumvat( \w+)? --help\)$/.test(lines[0]!)) {
      failures.push(`${what}: not the one-line format: ${lines[0]}`);
    }
  });
  assert.deepEqual(failures, []);
});

test('help and version: exit 0 on stdout, nothing started (demo --help runs no demo)', async () => {
  const asks: [string[], RegExp][] = [
    [['--help'], /^Usage: quorumvat \[options\] \[command\]/],
    [['-h'], /Commands:\n\s+node/],
    [['node', '--help'], /--announce <addr>[^-]*QUORUMVAT_ANNOUNCE/],
    [['node', '-h'], /--gas <units>[^-]*QUORUMVAT_GAS; default: 10000000/],
    [['send', '--help'], /@quorumvat:/],
    [['verify', '--help'], /Usage: quorumvat verify/],
    [['demo', '--help'], /^Usage: quorumvat demo/],
    [['demo', '-h', '--keep'], /^Usage: quorumvat demo/],
    [['--version'], /^\d+\.\d+\.\d+\n$/],
    [['-V'], /^\d+\.\d+\.\d+\n$/],
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
    assert.equal(r.stderr, '', args.join(' '));
    assert.match(r.stdout, want, args.join(' '));
    assert.doesNotMatch(r.stdout, /quorumvat demo: \d+ vat nodes/, 'the demo did not run');
  });
});
