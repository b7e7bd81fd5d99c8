// The operator process: `node operator/src/main.ts` (in the image: the chart's Deployment).
// Configuration from the environment (the chart sets it); KUBECONFIG or in-cluster credentials.
// Serves /healthz and /readyz on :8081; acts only while it holds the Lease.
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Operator } from './operator.ts';
import { LeaderElector } from './runtime/lease.ts';

const env = process.env;
const log = pino({
  level: env['QUORUMVAT_LOG_LEVEL'] ?? 'info',
  base: { component: 'quorumvat-operator' },
});

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    log.fatal(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const pullPolicy = env['QUORUMVAT_OPERATOR_VAT_IMAGE_PULL_POLICY'] ?? 'IfNotPresent';
if (!['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) {
  log.fatal(
    `QUORUMVAT_OPERATOR_VAT_IMAGE_PULL_POLICY must be Always, IfNotPresent or Never, got "${pullPolicy}"`,
  );
  process.exit(2);
}
const settings = {
  vatImage: env['QUORUMVAT_OPERATOR_VAT_IMAGE'] ?? 'quorumvat.local/quorumvat:dev',
  imagePullPolicy: pullPolicy as 'Always' | 'IfNotPresent' | 'Never',
  volumePermissionsInit: env['QUORUMVAT_OPERATOR_VOLUME_PERMISSIONS_INIT'] === 'true',
};
const identity = env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
const leaseNamespace = env['POD_NAMESPACE'] ?? 'default';
const leaseName = env['QUORUMVAT_OPERATOR_LEASE'] ?? 'quorumvat-operator-leader';
const leaseDurationS = intEnv('QUORUMVAT_OPERATOR_LEASE_DURATION_S', 15, 5, 300);
const workers = intEnv('QUORUMVAT_OPERATOR_WORKERS', 4, 1, 64);
const httpPort = intEnv('QUORUMVAT_OPERATOR_HTTP_PORT', 8081, 0, 65535);

const kc = new KubeConfig();
kc.loadFromDefault();

let operator: Operator | undefined;
let state: 'standby' | 'starting' | 'leading' | 'stopping' = 'standby';

const podUid = env['POD_UID'];
const elector = new LeaderElector(kc, {
  namespace: leaseNamespace,
  name: leaseName,
  identity,
  ...(env['POD_NAME'] && podUid ? { owner: { podName: env['POD_NAME'], podUid } } : {}),
  leaseDurationS,
  renewDeadlineMs: Math.floor(leaseDurationS * 1000 * (2 / 3)),
  retryMs: Math.max(1000, Math.floor((leaseDurationS * 1000) / 5)),
  onStartedLeading: () => {
    log.info({ identity, lease: `${leaseNamespace}/${leaseName}` }, 'leading');
    state = 'starting';
    operator = new Operator({ kc, settings, log, workers });
    operator.start().then(
      () => {
        if (state === 'starting') state = 'leading';
      },
      (err) => {
        log.fatal({ err }, 'operator failed to start');
        process.exit(1);
      },
    );
  },
  onStoppedLeading: () => {
    if (state === 'stopping') return;
    // Another replica may act now: this one must not, not even for one more reconcile.
    log.error({ identity }, 'lost the lease; exiting so that only the new leader acts');
    process.exit(1);
  },
  onProblem: (what, err) => log.warn({ err: err instanceof Error ? err.message : err }, what),
});

const server = createServer((req, res) => {
  const ok =
    req.url === '/healthz' ||
    (req.url === '/readyz' && state !== 'starting' && state !== 'stopping');
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
  res.end(ok ? 'ok\n' : `${state}\n`);
});
server.listen(httpPort);

elector.start();
log.info({ identity, vatImage: settings.vatImage }, 'operator up; waiting for the lease');

async function shutdown(signal: string): Promise<void> {
  if (state === 'stopping') return;
  state = 'stopping';
  log.info({ signal }, 'shutting down');
  await operator?.stop();
  await elector.stop();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
