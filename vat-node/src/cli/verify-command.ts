/**
 * `quorumvat verify --data-dir DIR`: prints one JSON report on stdout. Exit 0 when the
 * directory verifies, 3 when it does not (damaged or tampered with), 4 when it could not be
 * checked at all (a running node holds it, no store there, I/O error): "in use" is not
 * "tampered".
 */

import { verifyVatDataDir } from '../node/verify-vat.ts';
import { VerifyFailed } from '../store/verify.ts';
import { type Config, EXIT } from './config.ts';
import { createLogger } from './logging.ts';

/** Store reasons that say nothing about the directory's contents. */
const UNAVAILABLE = new Set(['busy', 'missing', 'io', 'read-only', 'disk-full', 'open']);

export async function runVerify(config: Config<'verify'>): Promise<number> {
  const log = createLogger(config.logLevel, 'stderr').child({ vat: null, component: 'verify' });
  try {
    const report = await verifyVatDataDir(config.dataDir);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof VerifyFailed)) throw e;
    const unavailable = UNAVAILABLE.has(e.reason);
    const message =
      e.reason === 'busy'
        ? `${config.dataDir} is in use by a running vat node: stop it first (nothing was checked)`
        : e.message;
    process.stdout.write(`${JSON.stringify({ ok: false, reason: e.reason, message })}\n`);
    log.error(
      { reason: e.reason, dataDir: config.dataDir },
      unavailable ? `not verified: ${message}` : `verification failed: ${message}`,
    );
    return unavailable ? EXIT.unavailable : EXIT.tampered;
  }
}
