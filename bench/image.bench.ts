// The container image: its size next to the base image's, how long a build from scratch takes
// (--no-cache; production dependencies prepared), and a container's start-to-ready time (docker
// run until /readyz answers 200, reached at the container's address on Docker's bridge; nothing
// is published on the host). Needs root and the Docker engine (test/container/docker.sh starts
// it). Prints {"bench":"image","bytes":…,"base_bytes":…,…}.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { emit, QUICK, quick } from './lib.ts';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('../test/container/', import.meta.url));
const docker = async (...args: string[]) => (await run('docker', args)).stdout.trim();

await run(`${dir}docker.sh`, []);
const tag = 'quorumvat.local/quorumvat:bench';
const t0 = performance.now();
// BENCH_QUICK: a cached build (seconds), not one from scratch.
await run(`${dir}build-image.sh`, ['--tag', tag, ...(QUICK ? [] : ['--no-cache'])]);
const buildS = (performance.now() - t0) / 1000;
const bytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', tag));
const baseTag = `quorumvat.local/node-base:${process.versions.node}`;
const baseBytes = Number(await docker('image', 'inspect', '-f', '{{.Size}}', baseTag));

async function startToReady(): Promise<number> {
  const start = performance.now();
  const id = await docker(
    'run',
    '-d',
    '--label',
    'quorumvat.bench=image',
    tag,
    'node',
    '--contract',
    '/app/vat-node/contracts/mint.js',
  );
  try {
    const ip = await docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', id);
    for (;;) {
      const ok = await fetch(`http://${ip}:9090/readyz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return performance.now() - start;
      if (performance.now() - start > 120_000) throw Error('not ready after 120 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await docker('rm', '-f', '-v', id);
  }
}
const times: number[] = [];
for (let i = 0; i < quick(5, 2); i++) times.push(await startToReady());
times.sort((a, b) => a - b);
await docker('rmi', tag).catch(() => {});
emit({
  bench: 'image',
  bytes,
  base_bytes: baseBytes,
  base: baseTag,
  build_s: Number(buildS.toFixed(1)),
  build_no_cache: !QUICK,
  start_to_ready_ms_median: Math.round(times[Math.floor(times.length / 2)]!),
  start_to_ready_ms_max: Math.round(times.at(-1)!),
  runs: times.length,
});
