// Helpers for tests on the real test cluster (npm run test:e2e): kubectl and helm v1.35 / v4
// from the cluster's tool cache, unique namespaces, polling. Not a test file itself.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../vat-node/src/node/free-port.ts';

export const repoRoot = join(import.meta.dirname, '../..');
const toolsDir =
  process.env['QUORUMVAT_KUBE_TOOLS'] ?? '/var/cache/quorumvat/kubectl-layer/current';
export const kubeconfig =
  process.env['KUBECONFIG'] ?? '/var/lib/quorumvat-cluster/admin.kubeconfig';

export class CommandError extends Error {
  readonly stderr: string;
  constructor(message: string, stderr: string) {
    super(message);
    this.stderr = stderr;
  }
}

export function run(
  tool: 'kubectl' | 'helm',
  args: string[],
  input?: string,
  timeoutMs = 180_000,
): string {
  try {
    return execFileSync(join(toolsDir, tool), ['--kubeconfig', kubeconfig, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    const stderr = e.stderr || e.stdout || e.message;
    throw new CommandError(`${tool} ${args.join(' ')} failed: ${stderr}`, stderr);
  }
}

export const kubectl = (...args: string[]): string => run('kubectl', args);
export const helm = (...args: string[]): string => run('helm', args);

/** kubectl apply -f - of a manifest (object or YAML text); returns stdout or throws. */
export function apply(ns: string, manifest: object | string, ...extra: string[]): string {
  const text = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return run('kubectl', ['-n', ns, 'apply', '-f', '-', ...extra], text);
}

/** The stderr of a command that must fail. */
export function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CommandError) return err.stderr;
    throw err;
  }
  throw new Error('expected the API server to refuse this, but it was accepted');
}

export function clusterReachable(): boolean {
  if (!existsSync(kubeconfig)) return false;
  try {
    kubectl('get', '--raw', '/readyz');
    return true;
  } catch {
    return false;
  }
}

export function uniqueNamespace(prefix: string): string {
  const ns = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  kubectl('create', 'namespace', ns);
  return ns;
}

export async function eventually<T>(
  what: string,
  timeoutMs: number,
  fn: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
  );
}

const crdNames = ['vats.quorumvat.dev', 'quorumvats.quorumvat.dev'];

/**
 * Makes sure the CRDs are installed: from crds/ when absent (and then the returned cleanup
 * removes them again, so a later helm install owns them); CRDs already there (a chart install,
 * kept on uninstall) are left as they are, never co-owned by another field manager (helm's
 * server-side apply would then conflict).
 */
export function ensureCrds(): () => void {
  const existing = kubectl('get', 'crd', '-o', 'name');
  const created = crdNames.every((n) => !existing.includes(`/${n}`));
  if (created) {
    kubectl(
      'apply',
      '--server-side',
      '--field-manager=quorumvat-crd-test',
      '-f',
      join(repoRoot, 'crds'),
    );
  }
  kubectl(
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...crdNames.map((n) => `crd/${n}`),
  );
  return () => {
    if (created) kubectl('delete', 'crd', ...crdNames, '--wait=true', '--timeout=120s');
  };
}

/** Whether the CRDs are installed now. */
export const crdsInstalled = (): boolean => {
  const existing = kubectl('get', 'crd', '-o', 'name');
  return crdNames.every((n) => existing.includes(`/${n}`));
};

export const deleteCrds = (): void => {
  kubectl('delete', 'crd', ...crdNames, '--ignore-not-found', '--wait=true', '--timeout=120s');
};

/**
 * A Job running `quorumvat send <the sturdyref in Secret sturdyRefSecret> method ...args` with
 * the image under test (the e2e tests' in-cluster client).
 */
export function sendJob(
  name: string,
  image: string,
  sturdyRefSecret: string,
  timeout: string,
  method: string,
  args: readonly string[],
  argSecrets: Readonly<Record<string, string>> = {},
): object {
  // argSecrets: env var → a Secret holding a sturdyref (key sturdyref), for args like "@$(VAR)".
  const argEnv = Object.entries(argSecrets).map(([env, secret]) => ({
    name: env,
    valueFrom: { secretKeyRef: { name: secret, key: 'sturdyref' } },
  }));
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 600,
      template: {
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 1000 },
          containers: [
            {
              name: 'client',
              image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                {
                  name: 'STURDYREF',
                  valueFrom: { secretKeyRef: { name: sturdyRefSecret, key: 'sturdyref' } },
                },
                { name: 'QUORUMVAT_TIMEOUT', value: timeout },
                ...argEnv,
              ],
              args: ['send', '$(STURDYREF)', method, ...args],
            },
          ],
        },
      },
    },
  };
}

/** Where a send-loop Job looks for its stop file (an emptyDir, written by `kubectl exec`). */
export const STOP_DIR = '/stop';

/**
 * A Job that calls `quorumvat send <sturdyref> method "<prefix>N"` for N = 1, 2, … one call
 * after another (each a fresh client, as a user's would be) until a file appears in STOP_DIR
 * (stopSendLoop) or `max` calls were made. One JSON line per call: {n, result, start, end}
 * (ms since the epoch); the Job fails at the first call that fails (nothing is retried: a retry
 * could hide a lost or a doubled call). The e2e tests' "calls flowing during …" client.
 */
export function sendLoopJob(
  name: string,
  image: string,
  sturdyRefSecret: string,
  method: string,
  prefix: string,
  max = 1000,
): object {
  const script = `
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
let n = 0;
while (n < ${max} && !existsSync('${STOP_DIR}/now')) {
  n++;
  const start = Date.now();
  const out = execFileSync(process.execPath, ['/app/vat-node/src/cli/main.ts', 'send', process.env.STURDYREF, ${JSON.stringify(method)}, JSON.stringify(${JSON.stringify(prefix)} + n)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  console.log(JSON.stringify({ n, result: out.trim().split('\\n').at(-1), start, end: Date.now() }));
}
console.log(JSON.stringify({ done: n }));
`;
  const job = sendJob(name, image, sturdyRefSecret, '120s', method, []) as {
    spec: { template: { spec: { containers: Record<string, unknown>[]; volumes?: unknown[] } } };
  };
  const pod = job.spec.template.spec;
  pod.containers[0] = {
    ...pod.containers[0],
    command: ['node', '-e', script],
    args: [],
    volumeMounts: [{ name: 'stop', mountPath: STOP_DIR }],
  };
  pod.volumes = [{ name: 'stop', emptyDir: {} }];
  return job;
}

/** Tells a send-loop Job to finish after its current call. */
export function stopSendLoop(ns: string, job: string): void {
  kubectl(
    '-n',
    ns,
    'exec',
    `job/${job}`,
    '--',
    'node',
    '-e',
    `require('node:fs').writeFileSync('${STOP_DIR}/now', '')`,
  );
}

/** A send-loop Job's calls, once it finished (it fails the test if the Job failed). */
export function sendLoopResults(
  ns: string,
  job: string,
): { n: number; result: string; start: number; end: number }[] {
  const lines = kubectl('-n', ns, 'logs', `job/${job}`)
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return lines.filter((l) => typeof l['n'] === 'number') as never;
}

/**
 * `kubectl port-forward` of a pod's port to 127.0.0.1:PORT (PORT chosen here, free), kept up:
 * kubectl exits when a forwarded connection fails (the pod's listener not there yet, a reset),
 * and every later connection to PORT would then be refused, so it is started again on the same
 * PORT (addresses handed out stay valid) until `close()`. Resolves once it forwards.
 */
export async function portForward(
  ns: string,
  pod: string,
  remotePort: number,
  timeoutMs = 60_000,
): Promise<{ port: number; close: () => void }> {
  const port = await freePort();
  let child: ReturnType<typeof spawn> | undefined;
  let closed = false;
  let out = '';
  let forwarding: (() => void) | undefined;
  const start = () => {
    const c = spawn(
      join(toolsDir, 'kubectl'),
      [
        '--kubeconfig',
        kubeconfig,
        '-n',
        ns,
        'port-forward',
        '--address',
        '127.0.0.1',
        `pod/${pod}`,
        `${port}:${remotePort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    const look = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-4096);
      if (/Forwarding from 127\.0\.0\.1:\d+ ->/.test(out)) forwarding?.();
    };
    c.stdout!.on('data', look);
    c.stderr!.on('data', look);
    c.on('exit', () => {
      if (!closed) setTimeout(() => !closed && start(), 500);
    });
  };
  const close = () => {
    closed = true;
    if (child !== undefined && child.exitCode === null) child.kill('SIGTERM');
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      close();
      reject(
        new Error(`port-forward to ${pod}:${remotePort}: no port after ${timeoutMs} ms: ${out}`),
      );
    }, timeoutMs);
    forwarding = () => {
      clearTimeout(timer);
      forwarding = undefined;
      resolve();
    };
    start();
  });
  return { port, close };
}
