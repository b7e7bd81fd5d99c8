// Runs beside a vat node in its pod (container "sturdyref-publisher", plain JavaScript with no
// dependencies: the operator mounts this file from a ConfigMap). It waits for the node to write
// root.sturdyref in the data directory (mounted read-only here) and copies it into the vat's
// Secret through the API server, with the pod's own ServiceAccount, whose Role allows `get` and
// `patch` on that one Secret and nothing else. So the sturdyref goes from the pod to the Secret
// directly: the operator never reads it, never execs into pods, and the node's key stays on its
// volume.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const file = process.env.STURDYREF_FILE ?? '/data/root.sturdyref';
const secret = process.env.STURDYREF_SECRET;
const key = process.env.STURDYREF_KEY ?? 'sturdyref';
const sa = process.env.SERVICEACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';
const namespace = readFileSync(`${sa}/namespace`, 'utf8').trim();
const host = process.env.KUBERNETES_SERVICE_HOST;
const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';

function log(level, msg, extra = {}) {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, secret, ...extra })}\n`);
}

function patchSecret(value) {
  const body = JSON.stringify({ data: { [key]: Buffer.from(value).toString('base64') } });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method: 'PATCH',
        path: `/api/v1/namespaces/${namespace}/secrets/${secret}?fieldManager=quorumvat-sturdyref-publisher`,
        ca: readFileSync(`${sa}/ca.crt`),
        headers: {
          authorization: `Bearer ${readFileSync(`${sa}/token`, 'utf8').trim()}`,
          'content-type': 'application/merge-patch+json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function readSturdyref() {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

let published;
let failing = false;
async function tick() {
  const value = readSturdyref();
  if (value === undefined || value === published) return;
  try {
    await patchSecret(value);
    published = value;
    failing = false;
    log('info', 'sturdyref published');
  } catch (err) {
    if (!failing) log('error', 'could not publish the sturdyref (retrying)', { err: String(err) });
    failing = true;
  }
}

if (!secret || !host) {
  log('fatal', 'STURDYREF_SECRET and an in-cluster API server are required');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
for (;;) {
  await tick();
  await new Promise((r) => setTimeout(r, published ? 30_000 : 1000));
}
