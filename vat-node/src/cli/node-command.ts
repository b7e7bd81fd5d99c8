/**
 * `quorumvat node`: one vat behind one libp2p host until SIGTERM/SIGINT. Its root sturdyref
 * is written to DIR/root.sturdyref (SIGHUP revokes it and writes a new one).
 */
import { readFileSync } from 'node:fs';
import { NodeEndpoint } from '../node/http/endpoint.ts';
import { memberProvider } from '../node/http/member-provider.ts';
import { VatNode } from '../node/vat-node.ts';
import { type Config, EXIT } from './config.ts';
import { createLogger } from './logging.ts';
import { UsageError } from './parse.ts';
import { memberQuorum } from './quorum/member-option.ts';
import { describeStartFailure } from './start-failure.ts';

/** The worker's memory limits: the resident cap defaults to twice the heap (at least 512). */
export function workerMemory(config: Config<'node'>): { heapMb: number; rssMb: number } {
  const heapMb = config.heapMb;
  const rssMb = config.rssMb ?? Math.max(512, 2 * heapMb);
  if (rssMb <= heapMb) {
    throw new UsageError(
      `--rss-mb (${rssMb}) must exceed --heap-mb (${heapMb}): the heap is part of the resident memory`,
      'node',
    );
  }
  return { heapMb, rssMb };
}

export async function runNode(config: Config<'node'>): Promise<number> {
  const memory = workerMemory(config);
  const quorum = await memberQuorum(config);
  const root = createLogger(config.logLevel, 'stdout');
  let endpoint: NodeEndpoint | undefined;
  let vat: VatNode;
  try {
    // Up before the vat: a probe sees "starting" (503), not a refused connection.
    if (config.http) {
      endpoint = await NodeEndpoint.start(config.http, root.child({ vat: null }));
      root.info(
        { vat: null, component: 'http', http: endpoint.address() },
        'http endpoint listening',
      );
    }
    const commits = endpoint?.commitSeconds;
    vat = await VatNode.start({
      dataDir: config.dataDir,
      contractSource: readFileSync(config.contract, 'utf8'),
      vatName: config.name,
      listen: config.listen,
      announce: config.announce,
      bootstrap: config.bootstrap,
      gasLimit: config.gas,
      limits: { ...memory, crankTimeoutMs: config.crankTimeout },
      giveUpMs: config.giveUp,
      logger: root,
      onCommit: commits && ((ms) => commits.observe(ms / 1000)),
      ...(quorum && { quorum }),
    });
  } catch (err) {
    await endpoint?.close();
    root.fatal(
      { vat: null, component: 'node', name: config.name },
      `vat node failed to start: ${describeStartFailure(err, config.dataDir)}`,
    );
    return EXIT.failure;
  }
  // A member node's runtime answers the endpoint's quorum questions (node/http/quorum.ts).
  endpoint?.attach(vat, config.dataDir, vat.member && memberProvider(vat.member));
  // Listening for the stop signals BEFORE saying ready: whoever reads the ready line may signal
  // at once, and a signal with no listener yet kills the process without a clean stop.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const log = root.child({ vat: vat.vatId, component: 'node' });
  if (vat.member) {
    // A member mints no sturdyref: its quorum's keys are made outside (quorumvat quorum sturdy-key).
    process.on('SIGHUP', () => log.info('a quorum member has no root sturdyref to rotate'));
    log.info(
      { name: config.name, addrs: vat.multiaddrs(), quorum: vat.member.quorum },
      'vat node ready',
    );
  } else {
    const sturdyRefFile = VatNode.sturdyRefPath(config.dataDir);
    let rootRef = vat.rootSturdyRef(sturdyRefFile);
    // SIGHUP rotates the root sturdyref: the old one is revoked (live references stay live).
    process.on('SIGHUP', () => {
      try {
        vat.kernel.revokeSturdyRef(rootRef);
        rootRef = vat.mintRootSturdyRef();
        VatNode.writeSecret(sturdyRefFile, rootRef);
        log.info({ sturdyRefFile }, 'root sturdyref rotated');
      } catch (err) {
        log.error({ err: String(err) }, 'root sturdyref not rotated');
      }
    });
    log.info({ name: config.name, addrs: vat.multiaddrs(), sturdyRefFile }, 'vat node ready');
  }
  const signal = await stopSignal;
  // A second signal changes nothing: the stop is bounded by --stop-grace already.
  const again = () => log.info('already stopping');
  process.on('SIGTERM', again).on('SIGINT', again);
  const start = Date.now();
  endpoint?.stopping();
  const outcome = await vat.stop(config.stopGrace);
  await endpoint?.close();
  log.info({ signal, outcome, ms: Date.now() - start }, 'vat node stopped');
  return EXIT.ok;
}
