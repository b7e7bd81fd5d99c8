// Runs in a QuorumVat member's pod, before its vat node (two init containers; plain JavaScript
// with no dependencies: the operator mounts this file from a ConfigMap).
//
//   node member-agent.mjs identity        makes the member's key on its own volume (if it has
//       none yet) and reports ONLY its VatID, as this container's termination message, which
//       the kubelet puts in the pod's status (status.initContainerStatuses[].state.terminated).
//       The operator reads it from there: it needs no network path to the pod, no exec, and no
//       right for the pod to write its own Pod object; the key never leaves the volume.
//   node member-agent.mjs await-genesis   waits until the operator has written the quorum's
//       genesis (ConfigMap NAME-genesis, made once the first members' VatIDs are known) and
//       copies it, and the configuration chain the operator has seen (NAME-chain), into the
//       pod's /quorum directory, from which the node starts as a member (--quorum-genesis),
//       once that chain names this member (a pod added by a scale-up waits to be admitted as
//       a learner: its node never starts outside the configuration).
//       Reads through the API server with the pod's own ServiceAccount, whose Role allows `get`
//       on those two ConfigMaps and nothing else.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';

const env = process.env;
const log = (level, msg, extra = {}) =>
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...extra })}\n`);

const VATID = /\b(12D3KooW[1-9A-HJ-NP-Za-km-z]{40,60})\b/;

async function identity() {
  const dataDir = env.QUORUMVAT_DATA_DIR ?? '/data';
  const app = env.QUORUMVAT_APP ?? '/app/vat-node/src';
  let out;
  try {
    out = execFileSync(
      process.execPath,
      [`${app}/cli/main.ts`, 'identity', '--data-dir', dataDir],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (err) {
    // An image whose CLI has no `identity` command yet: the node's own key code, directly.
    if (!/unknown (command|subcommand)|usage/i.test(`${err.stderr ?? ''}${err.stdout ?? ''}`)) {
      process.stderr.write(`${err.stderr ?? ''}`);
      log('error', `quorumvat identity --data-dir ${dataDir} failed`, { err: String(err.message) });
      process.exit(1);
    }
    const { loadOrCreateIdentity } = await import(`${app}/vattp/identity.ts`);
    out = JSON.stringify({ vatId: (await loadOrCreateIdentity(dataDir)).vatId });
  }
  let vatId;
  try {
    const parsed = JSON.parse(out);
    vatId = typeof parsed === 'string' ? parsed : parsed.vatId;
  } catch {
    vatId = VATID.exec(out)?.[1];
  }
  if (typeof vatId !== 'string' || !VATID.test(vatId)) {
    log('error', 'quorumvat identity printed no VatID', { out: out.slice(0, 300) });
    process.exit(1);
  }
  writeFileSync(env.TERMINATION_LOG ?? '/dev/termination-log', JSON.stringify({ vatId }));
  // For the next step (which never sees the key): who this member is.
  if (env.QUORUM_DIR) writeFileSync(`${env.QUORUM_DIR}/vatid`, vatId);
  log('info', 'member identity', { vatId });
}

const sa = env.SERVICEACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';

function getConfigMap(name) {
  const namespace = readFileSync(`${sa}/namespace`, 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: env.KUBERNETES_SERVICE_HOST,
        port: env.KUBERNETES_SERVICE_PORT ?? '443',
        path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
        ca: readFileSync(`${sa}/ca.crt`),
        headers: { authorization: `Bearer ${readFileSync(`${sa}/token`, 'utf8').trim()}` },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
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
}

/**
 * Members and learners of the configuration in force, replaying the chain's changes (the node
 * verifies every signature when it starts; here only "am I in it yet?" is asked).
 */
export function membership(doc) {
  const members = new Set(doc.genesis.members);
  const learners = new Set();
  for (const r of doc.records ?? []) {
    const c = r.request.change;
    if (c.op === 'add') {
      members.add(c.member);
      learners.delete(c.member);
    } else if (c.op === 'remove') members.delete(c.member);
    else if (c.op === 'add-learner') learners.add(c.member);
    else if (c.op === 'remove-learner') learners.delete(c.member);
  }
  return { members, learners };
}

async function awaitGenesis() {
  const dir = env.QUORUM_DIR ?? '/quorum';
  const genesisName = env.GENESIS_CONFIGMAP;
  const chainName = env.CHAIN_CONFIGMAP;
  const pollMs = Number(env.POLL_MS ?? 1000);
  const vatId = readFileSync(`${dir}/vatid`, 'utf8').trim();
  let said;
  const once = (what, msg, extra) => {
    if (said !== what) log('info', msg, extra);
    said = what;
  };
  for (;;) {
    try {
      const cm = await getConfigMap(genesisName);
      const genesis = cm?.data?.['genesis.json'];
      if (!genesis) {
        once('genesis', `waiting for the genesis (ConfigMap ${genesisName})`);
      } else {
        // The chain as the operator last saw it; the genesis alone when it has none yet.
        const chain =
          (await getConfigMap(chainName))?.data?.['chain.json'] ??
          JSON.stringify({ quorum: cm.data.quorum, genesis: JSON.parse(genesis), records: [] });
        const { members, learners } = membership(JSON.parse(chain));
        // A pod added by a scale-up starts its node only once the chain admits it (as a
        // learner): a node is started only as a member or learner of the configuration.
        if (members.has(vatId) || learners.has(vatId)) {
          writeFileSync(`${dir}/genesis.json`, genesis);
          writeFileSync(`${dir}/chain.json`, chain);
          log('info', 'genesis received', {
            quorum: cm.data.quorum,
            role: members.has(vatId) ? 'member' : 'learner',
          });
          return;
        }
        once('admission', 'waiting to be admitted to the quorum', {
          vatId,
          quorum: cm.data.quorum,
        });
      }
    } catch (err) {
      // One line per distinct problem, not one per retry.
      if (said !== String(err))
        log('error', 'cannot read the genesis (retrying)', { err: String(err) });
      said = String(err);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const mode = process.argv[2];
if (mode === 'identity') await identity();
else if (mode === 'await-genesis') await awaitGenesis();
else if (process.argv[1]?.endsWith('member-agent.mjs')) {
  log('error', `usage: member-agent.mjs identity | await-genesis (got ${mode})`);
  process.exit(2);
}
