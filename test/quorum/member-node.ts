/**
 * A quorum member as a process, for the multi-process tests: a vat node started with the
 * `quorum` option (what `quorumvat node --quorum-genesis FILE` does), logging pino lines on
 * stdout, 'vat node ready' once it serves, a graceful stop on SIGTERM. Argument: one JSON
 * object {dataDir, contract, genesisFile, listen, bootstrap, viewTimeoutMs?, logLevel?}.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { VatNode } from '../../vat-node/src/node/vat-node.ts';
import { checkGenesis } from '../../vat-node/src/quorum/config.ts';

interface Args {
  readonly dataDir: string;
  readonly contract: string;
  readonly genesisFile: string;
  readonly listen: string[];
  readonly bootstrap: string[];
  readonly logLevel?: string;
  readonly crankTimeoutMs?: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const logger = pino({ level: args.logLevel ?? 'info', base: null });
const genesis = checkGenesis(JSON.parse(readFileSync(args.genesisFile, 'utf8')));
try {
  const node = await VatNode.start({
    dataDir: args.dataDir,
    contractSource: readFileSync(args.contract, 'utf8'),
    vatName: genesis.name,
    listen: args.listen,
    bootstrap: args.bootstrap,
    logger,
    quorum: { genesis },
    ...(args.crankTimeoutMs
      ? { limits: { heapMb: 256, rssMb: 512, crankTimeoutMs: args.crankTimeoutMs } }
      : {}),
  });
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
