// End to end on the real test cluster: clients of the vats, in the cluster and on the host
// (npm run test:e2e). helm install → a QuorumVat (examples/quorumvat.yaml) and a solo Vat whose
// contract takes a reference and calls it → a client Job runs
// `quorumvat send <vat sturdyref> relay @<quorum sturdyref> ENTRY`: the client redeems the
// quorum's sturdyref, hands the reference to the solo vat, and the vat pod calls the quorum's
// members across pods; the answers come back in order. Then the CLI on the host, through
// `kubectl port-forward` of the vat pod's (and each member pod's) VatTP port, with the
// sturdyrefs' address hints rewritten to the forwarded ports (VatID and secret unchanged).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { formatSturdyRef, parseSturdyRef } from '../../vat-node/src/kernel/sturdyref.ts';
import {
  apply,
  clusterReachable,
  eventually,
  kubectl,
  portForward,
  repoRoot,
  sendJob,
} from '../operator/kube.ts';
import { image, installRelease, uninstallRelease } from './release.ts';

const ns = `e2e-clients-${Date.now().toString(36)}`;
const P2P_PORT = 4001; // the vat pods' VatTP port (operator PORTS.p2p)
// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const getJson = (...args: string[]): any =>
  JSON.parse(kubectl('-n', ns, 'get', ...args, '-o', 'json'));
// biome-ignore lint/suspicious/noExplicitAny: conditions
const cond = (o: any, type: string) => o.status?.conditions?.find((c: any) => c.type === type);
const sturdyrefOf = (secret: string): string =>
  Buffer.from(getJson('secret', secret).data.sturdyref, 'base64').toString();

// A solo vat that is handed a reference and calls it: the other side of a cross-pod call.
const relayVat = {
  apiVersion: 'quorumvat.dev/v1alpha1',
  kind: 'Vat',
  metadata: { name: 'relay' },
  spec: {
    contract: {
      source: `import { E, Far } from '@endo/far';
export function buildRootObject({ baggage }) {
  if (!baggage.has('count')) baggage.init('count', 0);
  return Far('relay', {
    // Calls the register it is handed (a reference from the client) and returns its answer.
    relay: (register, entry) => E(register).append(entry),
    incr: () => {
      baggage.set('count', baggage.get('count') + 1);
      return baggage.get('count');
    },
  });
}
`,
    },
    storage: { size: '256Mi' },
    resources: { requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '768Mi' } },
  },
};

// The steps build on each other: after the first failure the rest are skipped, not timed out.
let broken = false;
function step(name: string, timeout: number, fn: () => Promise<void>): void {
  test(name, { timeout }, async (t) => {
    if (broken) {
      t.skip('an earlier step failed');
      return;
    }
    const started = Date.now();
    try {
      await fn();
    } catch (err) {
      broken = true;
      throw err;
    }
    t.diagnostic(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}

let crdsBefore = false;
const forwards: { close: () => void }[] = [];

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  crdsBefore = installRelease();
  kubectl('create', 'namespace', ns);
});

after(() => {
  for (const f of forwards) f.close();
  uninstallRelease(ns, crdsBefore);
});

/** A `quorumvat send` Job (sturdyrefs from Secrets, args may say "@$(ENV)"); its last line. */
async function sendFromJob(
  name: string,
  secret: string,
  method: string,
  args: string[],
  argSecrets: Record<string, string> = {},
  expect: 'succeeded' | 'failed' = 'succeeded',
): Promise<string> {
  apply(ns, sendJob(name, image, secret, '120s', method, args, argSecrets));
  await eventually(`Job ${name} to finish`, 300_000, () => {
    const j = getJson('job', name);
    const logs = () => kubectl('-n', ns, 'logs', `job/${name}`);
    if (j.status.failed && expect === 'succeeded') throw new Error(`Job ${name} failed: ${logs()}`);
    if (j.status.succeeded && expect === 'failed')
      throw new Error(`Job ${name} succeeded: ${logs()}`);
    return j.status[expect] ? true : undefined;
  });
  return kubectl('-n', ns, 'logs', `job/${name}`).trim().split('\n').at(-1)!;
}

step('a QuorumVat (examples/quorumvat.yaml) and a solo Vat become Ready', 600_000, async () => {
  kubectl('-n', ns, 'apply', '-f', join(repoRoot, 'examples/quorumvat.yaml'));
  apply(ns, relayVat);
  await eventually('escrow and relay Ready', 480_000, () =>
    cond(getJson('qvat', 'escrow'), 'Ready')?.status === 'True' &&
    cond(getJson('vat', 'relay'), 'Ready')?.status === 'True'
      ? true
      : undefined,
  );
  assert.equal(parseSturdyRef(sturdyrefOf('escrow-sturdyref')).hints.length, 3);
  assert.ok(parseSturdyRef(sturdyrefOf('relay-sturdyref')).hints.length >= 1);
});

step(
  'a client Job hands the quorum vat to the solo vat pod, which calls it across pods: answers in order',
  900_000,
  async () => {
    // send <relay> relay @<escrow> "via-relay-N": the relay pod calls escrow's members.
    const viaRelay = (n: number) =>
      sendFromJob(`relay-${n}`, 'relay-sturdyref', 'relay', ['@$(ESCROW)', `"via-relay-${n}"`], {
        ESCROW: 'escrow-sturdyref',
      });
    assert.equal(await viaRelay(1), '1');
    assert.equal(await viaRelay(2), '2', 'the second call: the next count');
    assert.equal(await viaRelay(3), '3');
    // A rejection by the quorum comes back across both pods to the client: one line, exit 1.
    const refused = await sendFromJob(
      'relay-bad',
      'relay-sturdyref',
      'relay',
      ['@$(ESCROW)', '42'],
      { ESCROW: 'escrow-sturdyref' },
      'failed',
    );
    assert.deepEqual(JSON.parse(refused), {
      error: 'entry: a string up to 1000 characters',
      name: 'TypeError',
    });
    // The quorum itself holds the entries, in the order they were relayed.
    assert.equal(
      await sendFromJob('escrow-read', 'escrow-sturdyref', 'read', []),
      '["via-relay-1","via-relay-2","via-relay-3"]',
    );
  },
);

/**
 * The sturdyref with its /dns4/POD.…/tcp/PORT hints pointed at POD's forwarded local port
 * (other hints, such as pod IPs, dropped: the host cannot reach them); VatID and secret kept.
 */
function throughForwards(uri: string, localPort: Map<string, number>): string {
  const ref = parseSturdyRef(uri);
  const hints = ref.hints.flatMap((h) => {
    const m = /^\/dns4\/([^./]+)[^/]*\/tcp\/\d+(\/.*)?$/.exec(h);
    const port = m && localPort.get(m[1]!);
    return port ? [`/ip4/127.0.0.1/tcp/${port}${m[2] ?? ''}`] : [];
  });
  assert.equal(hints.length, localPort.size, `a hint for each forwarded pod in ${uri}`);
  const local = formatSturdyRef({ ...ref, hints });
  assert.equal(parseSturdyRef(local).vatId, ref.vatId);
  return local;
}

const execFileP = promisify(execFile);
let relayLocal = '';
let escrowLocal = '';
/** `quorumvat send` on the host (the pinned Node running this test); its last line. */
async function sendFromHost(uri: string, method: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(
    process.execPath,
    [join(repoRoot, 'vat-node/src/cli/main.ts'), 'send', '--timeout', '120s', uri, method, ...args],
    { encoding: 'utf8', timeout: 240_000 },
  );
  return stdout.trim().split('\n').at(-1)!;
}

step('the CLI on the host calls the solo vat through kubectl port-forward', 600_000, async () => {
  const pf = await portForward(ns, 'relay-0', P2P_PORT);
  forwards.push(pf);
  const uri = throughForwards(sturdyrefOf('relay-sturdyref'), new Map([['relay-0', pf.port]]));
  assert.equal(await sendFromHost(uri, 'incr'), '1');
  assert.equal(await sendFromHost(uri, 'incr'), '2', 'the next count');
  relayLocal = uri;
});

step(
  'the CLI on the host calls the quorum vat through a port-forward to each member',
  600_000,
  async () => {
    const ports = new Map<string, number>();
    for (const pod of ['escrow-0', 'escrow-1', 'escrow-2']) {
      const pf = await portForward(ns, pod, P2P_PORT);
      forwards.push(pf);
      ports.set(pod, pf.port);
    }
    const uri = throughForwards(sturdyrefOf('escrow-sturdyref'), ports);
    assert.equal(await sendFromHost(uri, 'append', '"from-host"'), '4');
    assert.equal(
      await sendFromHost(uri, 'read'),
      '["via-relay-1","via-relay-2","via-relay-3","from-host"]',
    );
    escrowLocal = uri;
  },
);

// The reference the host hands over carries 127.0.0.1 hints that mean nothing in the relay pod;
// the call still arrives because the pod already holds connections to the members (since the
// Job step) or finds them by VatID through the DHT: this step does not tell which.
step(
  'the CLI on the host hands the quorum vat to the solo vat, both through port-forwards',
  600_000,
  async () => {
    assert.equal(
      await sendFromHost(relayLocal, 'relay', `@${escrowLocal}`, '"host-via-relay"'),
      '5',
    );
  },
);

step(
  'kubectl logs -l quorumvat.dev/vat=escrow --prefix: every member pod, readable JSON lines',
  120_000,
  async () => {
    const out = kubectl(
      '-n',
      ns,
      'logs',
      '-l',
      'quorumvat.dev/vat=escrow',
      '--prefix',
      '--tail=-1',
    );
    const lines = out.split('\n').filter(Boolean);
    const serving = new Set<string>();
    for (const line of lines) {
      const m = /^\[pod\/(escrow-\d)\/[\w-]+\] (\{.*\})$/.exec(line);
      assert.ok(m, `not a prefixed JSON line: ${line}`);
      const rec = JSON.parse(m[2]!);
      assert.ok(rec.level !== undefined && typeof rec.msg === 'string', line);
      if (rec.msg === 'serving as a member of a quorum vat') serving.add(m[1]!);
    }
    // Each member says once what it serves (n, k and both tolerances); healthy traffic is quiet.
    assert.deepEqual([...serving].sort(), ['escrow-0', 'escrow-1', 'escrow-2']);
  },
);
