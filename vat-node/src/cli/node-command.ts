/**
 * `quorumvat node`: one vat behind one libp2p host until SIGTERM/SIGINT. Its root sturdyref
 * is written to DIR/root.sturdyref (SIGHUP revokes it and writes a new one).
 */
import { readFileSync } from 'node:fs';
import { VatNode } from '../node/vat-node.ts';
import { type Config, EXIT } from './config.ts';
import { createLogger } from './logging.ts';
import { describeStartFailure } from './start-failure.ts';

export async function runNode(config: Config<'node'>): Promise<number> {
  const root = createLogger(config.logLevel, 'stdout');
  let vat: VatNode;
  try {
    vat = await VatNode.start({
      dataDir: config.dataDir,
      contractSource: readFileSync(config.contract, 'utf8'),
      vatName: config.name,
      listen: config.listen,
      announce: config.announce,
      bootstrap: config.bootstrap,
      gasLimit: config.gas,
      giveUpMs: config.giveUp,
      logger: root,
    });
  } catch (err) {
    root.fatal(
      { vat: null, component: 'node', name: config.name },
      `vat node failed to start: ${describeStartFailure(err, config.dataDir)}`,
    );
    return EXIT.failure;
  }
  const log = root.child({ vat: vat.vatId, component: 'node' });
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
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await vat.close();
  log.info('vat node stopped');
  return EXIT.ok;
}
