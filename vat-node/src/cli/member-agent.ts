/**
 * `quorumvat member-agent …`: the two steps a QuorumVat member's pod runs before its node (the
 * operator puts them in the pod as init containers; nobody else needs them).
 *
 *   member-agent identity        makes the member's key on its own volume (if it has none yet)
 *       and reports ONLY its VatID, as the container's termination message, which the kubelet
 *       puts in the pod's status. The operator reads it from there: it needs no network path to
 *       the pod, no exec, and no right for the pod to write its own Pod object; the key never
 *       leaves the volume. The VatID also goes to QUORUM_DIR/vatid for the next step.
 *   member-agent await-genesis   waits until the operator has written the quorum's genesis
 *       (ConfigMap NAME-genesis, made once the first members' VatIDs are known) and until the
 *       configuration chain the operator has seen (NAME-chain) names this member (a pod added by
 *       a scale-up waits to be admitted as a learner: its node never starts outside the
 *       configuration); then copies both into QUORUM_DIR, from which the node starts
 *       (--quorum-genesis, --quorum-chain). Reads through the API server with the pod's own
 *       ServiceAccount, whose Role allows `get` on those two ConfigMaps and nothing else.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadOrCreateIdentity } from '../vattp/identity.ts';
import { type Config, EXIT } from './config.ts';
import { createLogger } from './logging.ts';

/** Who is in the configuration in force, replaying the chain's changes from the genesis. */
export interface Membership {
  members: Set<string>;
  learners: Set<string>;
}

interface ChainDoc {
  quorum?: string;
  genesis: { members: string[] };
  records?: { request: { change: { op: string; member?: string } } }[];
}

/**
 * Members and learners of the configuration in force (the node verifies every signature when it
 * starts; here only "am I in it yet?" is asked).
 */
export function membership(doc: ChainDoc): Membership {
  const members = new Set(doc.genesis.members);
  const learners = new Set<string>();
  for (const r of doc.records ?? []) {
    const c = r.request.change;
    if (c.member === undefined) continue;
    if (c.op === 'add') {
      members.add(c.member);
      learners.delete(c.member);
    } else if (c.op === 'remove') members.delete(c.member);
    else if (c.op === 'add-learner') learners.add(c.member);
    else if (c.op === 'remove-learner') learners.delete(c.member);
  }
  return { members, learners };
}

export async function runMemberIdentity(config: Config<'member-agent identity'>): Promise<number> {
  const log = createLogger('info').child({ vat: null, component: 'member-agent' });
  let vatId: string;
  try {
    vatId = (await loadOrCreateIdentity(config.dataDir)).vatId;
  } catch (err) {
    log.error(
      { dataDir: config.dataDir, err: { message: (err as Error).message } },
      `no member identity in ${config.dataDir}: ${(err as Error).message}`,
    );
    return EXIT.failure;
  }
  writeFileSync(config.terminationLog, JSON.stringify({ vatId }));
  writeFileSync(join(config.quorumDir, 'vatid'), vatId);
  log.info({ vatId }, 'member identity');
  return EXIT.ok;
}

/** The pod's own view of the API server (its ServiceAccount), for the two ConfigMaps. */
export interface ConfigMapReader {
  get(name: string): Promise<{ data?: Record<string, string> } | undefined>;
}

export function serviceAccountReader(
  saDir = '/var/run/secrets/kubernetes.io/serviceaccount',
  env: NodeJS.ProcessEnv = process.env,
): ConfigMapReader {
  return {
    get(name) {
      const namespace = readFileSync(join(saDir, 'namespace'), 'utf8').trim();
      return new Promise((resolve, reject) => {
        const req = request(
          {
            host: env['KUBERNETES_SERVICE_HOST'],
            port: env['KUBERNETES_SERVICE_PORT'] ?? '443',
            path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
            ca: readFileSync(join(saDir, 'ca.crt')),
            headers: {
              authorization: `Bearer ${readFileSync(join(saDir, 'token'), 'utf8').trim()}`,
            },
            timeout: 10_000,
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              text += c;
            });
            res.on('end', () => {
              if (res.statusCode === 200) resolve(JSON.parse(text));
              else if (res.statusCode === 404) resolve(undefined);
              else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    },
  };
}

export async function runAwaitGenesis(
  config: Config<'member-agent await-genesis'>,
  reader: ConfigMapReader = serviceAccountReader(),
  signal?: AbortSignal,
): Promise<number> {
  const log = createLogger('info').child({ vat: null, component: 'member-agent' });
  const vatId = readFileSync(join(config.quorumDir, 'vatid'), 'utf8').trim();
  // One line per distinct state or problem, not one per poll.
  let said: string | undefined;
  const once = (what: string, write: () => void) => {
    if (said !== what) write();
    said = what;
  };
  while (!signal?.aborted) {
    try {
      const cm = await reader.get(config.genesisConfigmap);
      const genesis = cm?.data?.['genesis.json'];
      if (!genesis) {
        once('genesis', () =>
          log.info(`waiting for the genesis (ConfigMap ${config.genesisConfigmap})`),
        );
      } else {
        // The chain as the operator last saw it; the genesis alone when it has none yet.
        const chain =
          (await reader.get(config.chainConfigmap))?.data?.['chain.json'] ??
          JSON.stringify({
            quorum: cm.data?.['quorum'],
            genesis: JSON.parse(genesis),
            records: [],
          });
        const { members, learners } = membership(JSON.parse(chain) as ChainDoc);
        if (members.has(vatId) || learners.has(vatId)) {
          writeFileSync(join(config.quorumDir, 'genesis.json'), genesis);
          writeFileSync(join(config.quorumDir, 'chain.json'), chain);
          log.info(
            { quorum: cm.data?.['quorum'], role: members.has(vatId) ? 'member' : 'learner' },
            'genesis received',
          );
          return EXIT.ok;
        }
        once('admission', () =>
          log.info({ vatId, quorum: cm.data?.['quorum'] }, 'waiting to be admitted to the quorum'),
        );
      }
    } catch (err) {
      const why = String(err);
      once(why, () => log.error({ err: why }, 'cannot read the genesis (retrying)'));
    }
    await sleep(config.poll, undefined, { signal }).catch(() => {});
  }
  return EXIT.failure;
}
