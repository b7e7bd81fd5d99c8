/**
 * A quorum member as a process, for the multi-process tests: a vat node started with the
 * `quorum` option (what `quorumvat node --quorum-genesis FILE` does), logging pino lines on
 * stdout, 'vat node ready' once it serves, a graceful stop on SIGTERM. Argument: one JSON
 * object {dataDir, contract, genesisFile, listen, bootstrap, viewTimeoutMs?, logLevel?,
 * chainFile? (a chain document: the records so far), keepDecided?, httpPort? (the node's HTTP endpoint, as
 * `quorumvat node --http` serves it: /readyz, GET /quorum/chain, POST /quorum/changes)}.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { NodeEndpoint } from '../../vat-node/src/node/http/endpoint.ts';
import { memberProvider } from '../../vat-node/src/node/http/member-provider.ts';
import { VatNode } from '../../vat-node/src/node/vat-node.ts';
import type { ChainRecord } from '../../vat-node/src/quorum/chain.ts';
import { checkGenesis } from '../../vat-node/src/quorum/config.ts';

interface Args {
  readonly dataDir: string;
  readonly contract: string;
  readonly genesisFile: string;
  readonly listen: string[];
  readonly bootstrap: string[];
  readonly logLevel?: string;
  readonly crankTimeoutMs?: number;
  readonly chainFile?: string;
  readonly httpPort?: number;
  readonly keepDecided?: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const logger = pino({ level: args.logLevel ?? 'info', base: null });
const genesis = checkGenesis(JSON.parse(readFileSync(args.genesisFile, 'utf8')));
const records =
  args.chainFile === undefined
    ? undefined
    : (JSON.parse(readFileSync(args.chainFile, 'utf8')) as { records: ChainRecord[] }).records;
try {
  const endpoint =
    args.httpPort === undefined
      ? undefined
      : await NodeEndpoint.start({ host: '127.0.0.1', port: args.httpPort }, logger);
  const node = await VatNode.start({
    dataDir: args.dataDir,
    contractSource: readFileSync(args.contract, 'utf8'),
    vatName: genesis.name,
    listen: args.listen,
    bootstrap: args.bootstrap,
    logger,
    quorum: {
      genesis,
      ...(records !== undefined ? { records } : {}),
      ...(args.keepDecided !== undefined ? { keepDecided: args.keepDecided } : {}),
    },
    ...(args.crankTimeoutMs
      ? { limits: { heapMb: 256, rssMb: 512, crankTimeoutMs: args.crankTimeoutMs } }
      : {}),
  });
  endpoint?.attach(node, args.dataDir, node.member && memberProvider(node.member));
  const log = logger.child({ vat: node.vatId, component: 'node' });
  log.info({ quorum: node.member?.quorum, addrs: node.multiaddrs() }, 'vat node ready');
  // SIGUSR2: one line with where this member stands (the tests compare members with it).
  process.on('SIGUSR2', () => {
    const member = node.member;
    const status = member?.status();
    log.info(
      {
        height: member?.executed.height,
        hash: member?.executed.hash,
        ordering: status && {
          height: status.height,
          round: status.round,
          leader: status.leader,
          stalled: member?.stalled,
          pendingInputs: status.pendingInputs,
        },
        halted: member?.halted,
        restoredFrom: member?.restoredFrom,
        served: member?.servedCheckpoint,
      },
      'member status',
    );
  });
  process.once('SIGTERM', async () => {
    const outcome = await node.stop(5_000);
    log.info({ outcome }, 'vat node stopped');
    process.exit(0);
  });
} catch (err) {
  logger.fatal({ err: String(err) }, 'vat node failed to start');
  process.exit(1);
}
