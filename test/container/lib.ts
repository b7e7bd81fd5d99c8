// Helpers for the container tests: vat node containers (testcontainers) on a user-defined
// Docker network, reached from the test at their address on that network (nothing is published
// on the host), and a cleanup that removes every container, network and volume a run made,
// found by the run's label, even after a failure.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const here = fileURLToPath(new URL('.', import.meta.url));
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Ryuk (testcontainers' reaper) pulls its image from a registry: off; we clean up ourselves. */
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
const tc = await import('testcontainers');
export const { GenericContainer, Network, Wait } = tc;
export type StartedNetwork = Awaited<ReturnType<InstanceType<typeof Network>['start']>>;

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** docker, with its exit status instead of a throw. */
export async function dockerStatus(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    return { code: 0, out: await docker(...args) };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : 1,
      out: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    };
  }
}

/** Installs and starts the engine if needed; builds the image. Returns the tag. */
export async function buildImage(): Promise<{ tag: string; buildMs: number }> {
  await run(`${here}docker.sh`, []);
  const start = performance.now();
  const { stdout } = await run(
    `${here}build-image.sh`,
    ['--tag', 'quorumvat.local/quorumvat:test'],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return { tag: stdout.trim().split('\n').pop()!, buildMs: performance.now() - start };
}

/** A test run: unique names, one label on everything, and a cleanup that finds it all. */
export class Run {
  readonly id = `qvt-${randomBytes(4).toString('hex')}`;
  readonly label = { 'quorumvat.test': this.id };
  readonly #volumes = new Set<string>();
  readonly #immutable = new Set<string>();

  name(what: string): string {
    return `${this.id}-${what}`;
  }

  async volume(what: string): Promise<string> {
    const name = this.name(what);
    await docker('volume', 'create', '--label', `quorumvat.test=${this.id}`, name);
    this.#volumes.add(name);
    return name;
  }

  /** Where a volume's files are on this host (to make them read-only from outside). */
  async volumePath(volume: string): Promise<string> {
    return docker('volume', 'inspect', '-f', '{{.Mountpoint}}', volume);
  }

  /** chattr +i on these paths (undone by cleanup if the test does not). */
  async immutable(paths: string[], on: boolean): Promise<void> {
    await run('chattr', [on ? '+i' : '-i', ...paths]);
    for (const p of paths) on ? this.#immutable.add(p) : this.#immutable.delete(p);
  }

  /** A user-defined network named after the run (testcontainers creates it). */
  network(): Promise<StartedNetwork> {
    return new Network({ nextUuid: () => this.name('net') }).start();
  }

  /** Containers first (a network with containers attached cannot go), then networks, volumes. */
  async cleanup(): Promise<void> {
    if (this.#immutable.size) await run('chattr', ['-i', ...this.#immutable]).catch(() => {});
    const filter = `label=quorumvat.test=${this.id}`;
    const containers = (await docker('ps', '-aq', '--filter', filter)).split('\n').filter(Boolean);
    if (containers.length) await dockerStatus('rm', '-f', '-v', ...containers);
    const networks = (await docker('network', 'ls', '-q', '--filter', `name=${this.id}-`))
      .split('\n')
      .filter(Boolean);
    if (networks.length) await dockerStatus('network', 'rm', ...networks);
    const volumes = (await docker('volume', 'ls', '-q', '--filter', filter))
      .split('\n')
      .filter(Boolean);
    for (const v of new Set([...volumes, ...this.#volumes]))
      await dockerStatus('volume', 'rm', '-f', v);
  }

  /** What is left of this run (the cleanup test checks it is nothing). */
  async leftovers(): Promise<string[]> {
    const filter = `label=quorumvat.test=${this.id}`;
    return [
      ...(await docker('ps', '-aq', '--filter', filter)).split('\n'),
      ...(await docker('network', 'ls', '-q', '--filter', `name=${this.id}-`)).split('\n'),
      ...(await docker('volume', 'ls', '-q', '--filter', filter)).split('\n'),
    ].filter(Boolean);
  }
}

export async function ipOf(container: string, network: string): Promise<string> {
  const ip = await docker(
    'inspect',
    '-f',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  );
  if (!ip) throw Error(`${container} has no address on ${network}`);
  return ip;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export async function httpGet(ip: string, path: string, port = 9090): Promise<HttpAnswer> {
  const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

/** Polls /readyz until 200; returns every answer seen (status, or 0: no connection yet). */
export async function waitReady(ip: string, timeoutMs = 60_000, everyMs = 20): Promise<number[]> {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let status = 0;
    try {
      status = (await httpGet(ip, '/readyz')).status;
    } catch {
      // not listening yet
    }
    if (seen.at(-1) !== status) seen.push(status);
    if (status === 200) return seen;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw Error(`${ip} not ready after ${timeoutMs} ms (answers: ${seen.join(' → ')})`);
}

/** Polls /readyz until it answers `status` with a reason matching `reason`. */
export async function waitReadiness(
  ip: string,
  status: number,
  reason: RegExp,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await httpGet(ip, '/readyz').catch((e: Error) => ({ status: 0, body: e.message }));
    last = `${r.status} ${r.body.trim()}`;
    if (r.status === status && reason.test(r.body)) return r.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw Error(`${ip}: /readyz never answered ${status} ${reason} (last: ${last})`);
}

/** Runs the quorumvat CLI inside a container (a client vat in that container). */
export async function cli(
  container: string,
  ...args: string[]
): Promise<{ code: number; out: string }> {
  return dockerStatus('exec', container, 'node', '/app/vat-node/src/cli/main.ts', ...args);
}

/** Reads a file inside a container (the image has no shell and no cat). */
export async function readInContainer(container: string, path: string): Promise<string> {
  return docker(
    'exec',
    container,
    'node',
    '-e',
    `process.stdout.write(require('fs').readFileSync(${JSON.stringify(path)}, 'utf8'))`,
  );
}
