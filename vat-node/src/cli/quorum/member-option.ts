/**
 * `quorumvat node --quorum-genesis FILE [--quorum-chain FILE]`: the quorum a member node runs,
 * checked before anything starts. The genesis was checked when the flag was read; here the
 * chain must verify from it, this node's VatID (the key in --data-dir) must be a member or a
 * learner of the configuration the chain leads to, and its contract and gas limit must be the
 * ones the genesis pins, if it pins them. Every refusal is one UsageError line
 * naming the flag (exit 2): a node that is no member must not start as one.
 */
import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ChainError, type ChainRecord, ConfigChain } from '../../quorum/chain.ts';
import {
  type Genesis,
  isLearner,
  isMember,
  quorumVatIdOf,
  vatPinProblem,
} from '../../quorum/config.ts';
import { readChainDocument } from '../../quorum/status.ts';
import { KEY_FILE, loadOrCreateIdentity } from '../../vattp/identity.ts';
import type { Config } from '../config.ts';
import { UsageError } from '../parse.ts';

export interface MemberQuorum {
  readonly genesis: Genesis;
  readonly records: readonly ChainRecord[];
}

export async function memberQuorum(config: Config<'node'>): Promise<MemberQuorum | undefined> {
  const genesis = config.quorumGenesis;
  if (genesis === undefined) {
    if (config.quorumChain !== undefined) {
      throw new UsageError('--quorum-chain: only with --quorum-genesis', 'node');
    }
    return undefined;
  }
  const quorum = quorumVatIdOf(genesis);
  checkVatPin(config, genesis);
  let chain = new ConfigChain(quorum, genesis);
  if (config.quorumChain !== undefined) {
    try {
      chain = readChainDocument(config.quorumChain.text, quorum);
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      throw new UsageError(
        `--quorum-chain: ${config.quorumChain.path} does not verify from the genesis: ${e.message}`,
        'node',
      );
    }
  }
  const keyFile = join(config.dataDir, KEY_FILE);
  const current = chain.current;
  const noMember = (who: string) =>
    new UsageError(
      `--quorum-genesis: ${who} is neither a member nor a learner of quorum ${current.name} (${quorum}) at epoch ${current.epoch}`,
      'node',
    );
  try {
    await access(keyFile);
  } catch {
    throw noMember(
      `this node has no key in ${config.dataDir} yet, so it (run quorumvat identity --data-dir ${config.dataDir} and list its VatID)`,
    );
  }
  let vatId: string;
  try {
    vatId = (await loadOrCreateIdentity(config.dataDir)).vatId;
  } catch {
    // An unusable key (readable by others, damaged): the node's start says why, as for a solo vat.
    return { genesis, records: chain.records };
  }
  if (!isMember(current, vatId) && !isLearner(current, vatId)) {
    throw noMember(`this node (VatID ${vatId})`);
  }
  return { genesis, records: chain.records };
}

/**
 * A genesis that pins the contract and gas limit (quorum genesis --contract): this node must run
 * exactly those, or it would end some delivery differently from the others and diverge.
 */
function checkVatPin(config: Config<'node'>, genesis: Genesis): void {
  if (genesis.vat === undefined) return;
  const problem = vatPinProblem(genesis, readFileSync(config.contract, 'utf8'), config.gas);
  if (problem === undefined) return;
  const flag = problem.startsWith('the contract') ? `--contract: ${config.contract}:` : '--gas:';
  throw new UsageError(`${flag} ${problem}`, 'node');
}
