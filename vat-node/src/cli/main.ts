#!/usr/bin/env node
/**
 * The quorumvat command line.
 *   quorumvat demo                         the local demo (what `npm start` runs)
 *   quorumvat node --data-dir D --contract F [--listen MA]... [--bootstrap MA]...
 *   quorumvat send <sturdyref> <method> [json-arg]...
 *   quorumvat verify --data-dir D
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { runLocalDemo } from '../demo/local-demo.ts';
import { HostError, HostRef } from '../kernel/hostcaps.ts';
import { NodeEndpoint } from '../node/http/endpoint.ts';
import { VatNode } from '../node/vat-node.ts';
import { VerifyFailed } from '../store/verify.ts';
import { verifyVatDataDir } from '../store/verify-vat.ts';

const usage = `usage: quorumvat <command> [options]

commands:
  demo [--keep]             the local demo: vat node processes on 127.0.0.1 trading through
                            an escrow (--keep: leave them running afterwards)
  node --data-dir DIR --contract FILE [--listen MULTIADDR]... [--bootstrap MULTIADDR]...
       [--gas N] [--name NAME]
                            run a vat node; its root sturdyref is written to DIR/root.sturdyref
                            (SIGHUP revokes it and writes a new one)
  send STURDYREF METHOD [JSON-ARG]... [--bootstrap MULTIADDR]...
                            redeem STURDYREF and send it METHOD(args); prints the result as JSON
  verify --data-dir DIR     check a stopped node's data directory: the transcript's hash chain,
                            and a replay from the checkpoint to the state it holds (exit 3 if not)
`;

const logger = () => pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });

async function node(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-dir': { type: 'string' },
      contract: { type: 'string' },
      listen: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      gas: { type: 'string' },
      name: { type: 'string' },
      // TODO(cli): fold --http, --stop-grace and the QUORUMVAT_* fallbacks below into config.ts.
      http: { type: 'string' },
      'stop-grace': { type: 'string' },
    },
  });
  const env = process.env;
  const list = (v: string | undefined) => (v ? v.split(',').filter(Boolean) : undefined);
  const dataDir = values['data-dir'] ?? env.QUORUMVAT_DATA_DIR;
  const contract = values.contract ?? env.QUORUMVAT_CONTRACT;
  if (!dataDir || !contract) throw Error('node needs --data-dir and --contract');
  const httpAddr = httpAddress(values.http ?? env.QUORUMVAT_HTTP);
  const graceMs =
    seconds('--stop-grace', values['stop-grace'] ?? env.QUORUMVAT_STOP_GRACE ?? '8') * 1000;
  const log = logger();
  // Up before the vat: a probe sees "starting" (503), not a refused connection.
  const endpoint = httpAddr ? await NodeEndpoint.start(httpAddr, log) : undefined;
  if (endpoint) log.info({ http: endpoint.address() }, 'http endpoint listening');
  const vat = await VatNode.start({
    dataDir,
    contractSource: readFileSync(contract, 'utf8'),
    vatName: values.name ?? env.QUORUMVAT_NAME,
    listen: values.listen ?? list(env.QUORUMVAT_LISTEN) ?? ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: values.bootstrap ?? list(env.QUORUMVAT_BOOTSTRAP),
    gasLimit: values.gas ? Number(values.gas) : undefined,
    logger: log,
    onCommit: endpoint && ((ms) => endpoint.commitSeconds.observe(ms / 1000)),
  });
  endpoint?.attach(vat, dataDir);
  const sturdyRefFile = VatNode.sturdyRefPath(dataDir);
  let rootRef = vat.rootSturdyRef(sturdyRefFile);
  // SIGHUP rotates the root sturdyref: the old one is revoked (live references stay live).
  process.on('SIGHUP', () => {
    vat.kernel.revokeSturdyRef(rootRef);
    rootRef = vat.mintRootSturdyRef();
    VatNode.writeSecret(sturdyRefFile, rootRef);
    log.info({ sturdyRefFile }, 'root sturdyref rotated');
  });
  log.info({ vat: vat.vatId, addrs: vat.multiaddrs(), sturdyRefFile }, 'vat node ready');
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  // A second signal while stopping changes nothing: the stop is bounded by the grace period.
  const ignore = () => log.info('already stopping');
  process.on('SIGTERM', ignore).on('SIGINT', ignore);
  const start = Date.now();
  endpoint?.stopping();
  const outcome = await vat.stop(graceMs);
  await endpoint?.close();
  log.info({ vat: vat.vatId, signal, outcome, ms: Date.now() - start }, 'vat node stopped');
  return 0;
}

/** `host:port` or `off` (TODO(cli): config.ts httpAddress). */
function httpAddress(raw: string | undefined): { host: string; port: number } | undefined {
  if (raw === undefined || raw === '' || raw === 'off') return undefined;
  const m = /^(.*):(\d{1,5})$/.exec(raw);
  if (!m || Number(m[2]) > 65535) throw Error(`--http: expected host:port or off, got "${raw}"`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

function seconds(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(n > 0))
    throw Error(`${flag}: expected seconds, got "${raw}"`);
  return n;
}

async function send(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { bootstrap: { type: 'string', multiple: true } },
  });
  const [uri, method, ...jsonArgs] = positionals;
  if (!uri || !method) throw Error('send needs STURDYREF and METHOD');
  const args = jsonArgs.map((a) => {
    try {
      return JSON.parse(a) as unknown;
    } catch {
      throw Error(`argument is not JSON: ${a}`);
    }
  });
  // A throw-away client vat with an ephemeral identity.
  const dataDir = mkdtempSync(join(tmpdir(), 'quorumvat-client-'));
  const client = await VatNode.start({
    dataDir,
    ephemeral: true,
    contractSource: readFileSync(new URL('../../contracts/client.js', import.meta.url), 'utf8'),
    vatName: 'client',
    bootstrap: values.bootstrap,
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  try {
    const target = await client.kernel.redeem(uri);
    const r = await client.kernel.call(target, method, args);
    const value = r.value instanceof HostError ? { error: r.value.message } : r.value;
    process.stdout.write(
      `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof HostRef ? `<ref ${v.iface}>` : v))}\n`,
    );
    return r.rejected ? 1 : 0;
  } finally {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function verify(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } } });
  const dataDir = values['data-dir'];
  if (!dataDir) throw Error('verify needs --data-dir');
  try {
    const report = await verifyVatDataDir(dataDir);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof VerifyFailed)) throw e;
    process.stdout.write(
      `${JSON.stringify({ ok: false, reason: e.reason, message: e.message })}\n`,
    );
    process.stderr.write(`quorumvat verify: ${e.message}\n`);
    return 3;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      await runLocalDemo({ keep: rest.includes('--keep') });
      return 0;
    case 'node':
      return node(rest);
    case 'send':
      return send(rest);
    case 'verify':
      return verify(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`quorumvat: unknown command ${command}\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`quorumvat: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
