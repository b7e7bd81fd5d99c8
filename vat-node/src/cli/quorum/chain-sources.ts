/**
 * The newest configuration chain a command can verify: the genesis alone, a chain document
 * file, and what each member serves (GET /quorum/chain). Every document is verified from the
 * genesis (status.ts readChainDocument: it must be about this quorum VatID, every record
 * certified by k members of its epoch); the longest wins. Two verified chains that are not
 * prefixes of one another would mean more than f Byzantine members: reported, never merged.
 */
import type { VatId } from '../../protocol/identity.ts';
import { ChainError, ConfigChain, sameChange } from '../../quorum/chain.ts';
import { type Genesis, quorumVatIdOf } from '../../quorum/config.ts';
import { readChainDocument } from '../../quorum/status.ts';
import { request, Unreachable } from './member-http.ts';

export interface ChainSource {
  /** The file or member endpoint. */
  readonly source: string;
  /** Records in its verified chain (undefined: none, see problem). */
  readonly records?: number;
  /** Could not be fetched or read (not the chain's fault). */
  readonly unavailable?: string;
  /** Fetched, and it does not verify from the genesis (damaged, tampered, another quorum). */
  readonly invalid?: string;
}

export interface ChainView {
  readonly quorum: VatId;
  /** The longest verified chain (the genesis alone when nothing else verified). */
  readonly chain: ConfigChain;
  readonly sources: readonly ChainSource[];
  /** Two verified chains that disagree: which ones, and where. */
  readonly conflict?: string;
}

/** Every change of `short` is in `long` at the same place (certificates may differ: any k). */
function isPrefix(short: ConfigChain, long: ConfigChain): boolean {
  return short.records.every((r, i) => {
    const other = long.records[i];
    return other !== undefined && sameChange(r, other);
  });
}

export async function newestChain(
  genesis: Genesis,
  file: { path: string; text: string } | undefined,
  members: readonly string[],
  timeoutMs: number,
): Promise<ChainView> {
  const quorum = quorumVatIdOf(genesis);
  const verified: { source: string; chain: ConfigChain }[] = [];
  const sources: ChainSource[] = [];
  const take = (source: string, text: string) => {
    try {
      const chain = readChainDocument(text, quorum);
      verified.push({ source, chain });
      sources.push({ source, records: chain.records.length });
    } catch (e) {
      if (!(e instanceof ChainError)) throw e;
      // Another quorum's chain is a wrong address, not a tampered chain.
      if (e.reason === 'wrong-quorum') sources.push({ source, unavailable: e.message });
      else sources.push({ source, invalid: e.message });
    }
  };
  if (file) take(file.path, file.text);
  const answers = await Promise.all(
    members.map(async (m) => {
      try {
        return { m, answer: await request(m, '/quorum/chain', { timeoutMs }) };
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
        return { m, unavailable: e.message };
      }
    }),
  );
  for (const { m, answer, unavailable } of answers) {
    if (unavailable !== undefined) sources.push({ source: m, unavailable });
    else if (answer!.status === 404) {
      sources.push({ source: m, unavailable: 'serves no quorum chain (a solo vat node?)' });
    } else if (answer!.status !== 200) {
      sources.push({ source: m, unavailable: `GET /quorum/chain answered ${answer!.status}` });
    } else take(m, JSON.stringify(answer!.body));
  }
  let best = { source: 'genesis', chain: new ConfigChain(quorum, genesis) };
  for (const v of verified) if (v.chain.records.length > best.chain.records.length) best = v;
  const disagree = verified.find((v) => !isPrefix(v.chain, best.chain));
  return {
    quorum,
    chain: best.chain,
    sources,
    conflict: disagree
      ? `the chains of ${disagree.source} and ${best.source} differ (more than f members signed conflicting changes)`
      : undefined,
  };
}
