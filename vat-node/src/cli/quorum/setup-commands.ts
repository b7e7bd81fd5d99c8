/**
 * Making a quorum vat, before any member runs:
 *   quorumvat identity --data-dir D        each member host's VatID (its key is created as the
 *                                          node creates it)
 *   quorumvat quorum admin-key --out F     the administrator key pair (public key printed)
 *   quorumvat quorum sturdy-key --out F    a sturdyref key pair, if the quorum vat's first
 *                                          reference should be a sturdyref (public key printed)
 *   quorumvat quorum genesis …             the genesis: prints the quorum VatID and what it
 *                                          tolerates
 *   quorumvat quorum sturdyref --key F …   the sturdyref URI its holder redeems
 * Each prints one line on stdout; a mistake is a UsageError naming the flag (exit 2).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatSturdyRef } from '../../kernel/sturdyref.ts';
import { DEFAULT_GAS_LIMIT } from '../../liveslots/defaults.ts';
import {
  describeFaultTolerance,
  type Genesis,
  genesisConfig,
  makeGenesis,
  QuorumConfigError,
  quorumVatIdOf,
  toleranceOf,
  vatPinOf,
} from '../../quorum/config.ts';
import { loadOrCreateIdentity } from '../../vattp/identity.ts';
import { type Config, EXIT } from '../config.ts';
import { createLogger } from '../logging.ts';
import { UsageError } from '../parse.ts';
import { KeyFileError, newKeyPair, writeKeyFile, writeNewFile } from './key-file.ts';

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const FS_CODES: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'not a directory',
  ENOSPC: 'disk full',
};

export async function runIdentity(config: Config<'identity'>): Promise<number> {
  try {
    const identity = await loadOrCreateIdentity(config.dataDir);
    print({ vatId: identity.vatId });
    return EXIT.ok;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code && e.code in FS_CODES
        ? `${FS_CODES[e.code]} (${e.path ?? config.dataDir})`
        : e.message;
    createLogger('info', 'stderr')
      .child({ vat: null, component: 'identity' })
      .error({ dataDir: config.dataDir }, `no identity in ${config.dataDir} (--data-dir): ${why}`);
    return EXIT.failure;
  }
}

function writeKey(kind: 'admin' | 'sturdy', out: string, command: string): string {
  const key = newKeyPair(kind);
  try {
    writeKeyFile(out, key);
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`--out: ${e.message}`, command);
    throw e;
  }
  return key.publicKey;
}

export function runAdminKey(config: Config<'quorum admin-key'>): number {
  print({ admin: writeKey('admin', config.out, 'quorum admin-key') });
  return EXIT.ok;
}

export function runSturdyKey(config: Config<'quorum sturdy-key'>): number {
  print({ sturdyKey: writeKey('sturdy', config.out, 'quorum sturdy-key') });
  return EXIT.ok;
}

/** Which flag a refused genesis is the fault of. */
const FLAG_OF_REASON: Partial<Record<QuorumConfigError['reason'], string>> = {
  'no-members': '--member',
  'too-many-members': '--member',
  'duplicate-member': '--member',
  'not-a-member-vatid': '--member',
  'threshold-below-one': '--threshold',
  'threshold-above-members': '--threshold',
  'no-intersection': '--threshold',
  'bad-admin-key': '--admin',
  'bad-params': '--view-timeout',
  'bad-sturdy-key': '--sturdy-key',
};

/** The genesis the flags describe; every refusal names its flag and says why. */
export function genesisFromConfig(config: Config<'quorum genesis'>): Genesis {
  const command = 'quorum genesis';
  const twice = (values: readonly string[]) => values.find((v, i) => values.indexOf(v) !== i);
  const dupMember = twice(config.member);
  if (dupMember) throw new UsageError(`--member: ${dupMember} given twice`, command);
  const dupKey = twice(config.sturdyKey);
  if (dupKey) throw new UsageError(`--sturdy-key: ${dupKey} given twice`, command);
  if (config.contract === undefined && config.gas !== DEFAULT_GAS_LIMIT) {
    throw new UsageError('--gas: only with --contract (the genesis pins both)', command);
  }
  const vat =
    config.contract === undefined
      ? undefined
      : vatPinOf(readFileSync(config.contract, 'utf8'), config.gas);
  try {
    return makeGenesis({
      name: config.quorumName,
      nonce: config.nonce ?? randomBytes(16).toString('hex'),
      members: config.member,
      threshold: config.threshold!,
      admin: config.admin,
      params: { viewTimeoutMs: config.viewTimeout },
      sturdyKeys: config.sturdyKey,
      ...(vat !== undefined ? { vat } : {}),
    });
  } catch (e) {
    if (!(e instanceof QuorumConfigError)) throw e;
    const flag = FLAG_OF_REASON[e.reason] ?? '--member';
    const message =
      e.reason === 'bad-params'
        ? e.message.replace(/^params\.viewTimeoutMs: must be/, 'must be, in ms,')
        : e.message;
    throw new UsageError(`${flag}: refused: ${message}`, command);
  }
}

export function runGenesis(config: Config<'quorum genesis'>): number {
  const genesis = genesisFromConfig(config);
  try {
    writeNewFile(config.out, `${JSON.stringify(genesis, null, 2)}\n`, 0o644);
  } catch (e) {
    if (e instanceof KeyFileError) throw new UsageError(`--out: ${e.message}`, 'quorum genesis');
    throw e;
  }
  const tolerance = toleranceOf(genesisConfig(genesis));
  print({
    quorum: quorumVatIdOf(genesis),
    name: genesis.name,
    members: tolerance.members,
    threshold: tolerance.threshold,
    byzantine: tolerance.byzantine,
    crashes: tolerance.crashes,
    summary: describeFaultTolerance(tolerance),
    genesis: config.out,
  });
  return EXIT.ok;
}

/** The sturdyref URI of a genesis sturdy key: quorumvat://QUORUM/s/SECRET?addr=MEMBER… */
export function sturdyRefOf(config: Config<'quorum sturdyref'>): string {
  const key = config.sturdyKeyFile;
  if (!config.genesis.sturdyKeys.includes(key.publicKey)) {
    throw new UsageError(
      `--key: its public key ${key.publicKey} is not among the genesis's sturdy keys: the quorum vat would not honour it`,
      'quorum sturdyref',
    );
  }
  return formatSturdyRef({
    vatId: quorumVatIdOf(config.genesis),
    secret: key.secret,
    hints: config.hint,
  });
}

export function runSturdyRef(config: Config<'quorum sturdyref'>): number {
  process.stdout.write(`${sturdyRefOf(config)}\n`);
  return EXIT.ok;
}
