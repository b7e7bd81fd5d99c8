// npm run bench:cluster: the operator on the real test cluster (brought up if needed; not part
// of npm run bench). Installs the chart, then applies N Vats at once and measures until every
// one is Ready (pod running, VatID known, sturdyref published), for N = 1 and 20:
//   {"bench":"operator","vats":N,"ready_s":…}
//   {"bench":"operator-quorum","members":3,"ready_s":…}  (a QuorumVat applied until Ready)
//   {"bench":"operator-scale","from":3,"to":5,"s":…}     (kubectl scale of a QuorumVat, below)
// BENCH_VATS=1,20 (default) the Vat counts; QUORUMVAT_IMAGE=REPO:TAG an image already in the
// cluster instead of building one from this checkout.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  apply,
  clusterReachable,
  eventually,
  helm,
  kubectl,
  repoRoot,
} from '../../test/operator/kube.ts';

const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sizes = (process.env['BENCH_VATS'] ?? '1,20')
  .split(',')
  .map(Number)
  .filter((n) => n > 0); // BENCH_VATS= (empty): only the QuorumVat scale bench

if (!clusterReachable()) {
  execFileSync(join(repoRoot, 'tools/with-node.sh'), [join(repoRoot, 'test/cluster/up.sh')], {
    stdio: 'inherit',
  });
}
// QUORUMVAT_IMAGE=REPO:TAG: an image already in the cluster's containerd (not built here).
const image = process.env['QUORUMVAT_IMAGE'];
if (!image) {
  // Docker first, without a descriptor of the heavy-test lock (test/e2e/docker-unlocked.sh).
  execFileSync(join(repoRoot, 'test/e2e/docker-unlocked.sh'), [], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  execFileSync(join(repoRoot, 'test/container/build-image.sh'), ['--into-cluster'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
const [repository, tag] = (image ?? '').split(/:(?=[^:]+$)/);
helm(
  'upgrade',
  '--install',
  'quorumvat',
  join(repoRoot, 'charts/quorumvat'),
  '-n',
  'quorumvat-system',
  '--create-namespace',
  ...(image ? ['--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`] : []),
  '--wait',
  '--timeout',
  '180s',
);

const contract =
  'import { Far } from "@endo/far";\nexport function buildRootObject() { return Far("root", { ping: () => "pong" }); }\n';
for (const n of sizes) {
  const ns = `bench-op-${n}-${Date.now().toString(36)}`;
  kubectl('create', 'namespace', ns);
  try {
    const start = Date.now();
    const items = Array.from({ length: n }, (_, i) => ({
      apiVersion: 'quorumvat.dev/v1alpha1',
      kind: 'Vat',
      metadata: { name: `v${i}` },
      spec: { contract: { source: contract }, storage: { size: '64Mi', retention: 'Delete' } },
    }));
    apply(ns, { apiVersion: 'v1', kind: 'List', items });
    await eventually(`${n} Vats Ready`, 900_000, () => {
      const list = JSON.parse(kubectl('-n', ns, 'get', 'vats', '-o', 'json')).items as {
        status?: { conditions?: { type: string; status: string }[] };
      }[];
      const ready = list.filter((v) =>
        v.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === n ? true : undefined;
    });
    emit({ bench: 'operator', vats: n, ready_s: Number(((Date.now() - start) / 1000).toFixed(1)) });
  } finally {
    kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=300s');
  }
}
// The QuorumVat scale bench: 3 members Ready, then kubectl scale to 5, timed until 5 voting
// members are in status with no change pending (one learner admission and one vote-in per new
// member). Without a member runtime in the image the quorum never becomes Ready: it says why
// instead of printing a number that was not measured.
{
  const ns = `bench-op-scale-${Date.now().toString(36)}`;
  kubectl('create', 'namespace', ns);
  type Q = {
    status?: {
      replicas?: number;
      pendingChange?: unknown;
      conditions?: { type: string; status: string; reason: string; message: string }[];
    };
  };
  const get = (): Q => JSON.parse(kubectl('-n', ns, 'get', 'qvat', 'q', '-o', 'json'));
  const ready = (q: Q) => q.status?.conditions?.find((c) => c.type === 'Ready');
  try {
    apply(ns, {
      apiVersion: 'quorumvat.dev/v1alpha1',
      kind: 'QuorumVat',
      metadata: { name: 'q' },
      spec: {
        replicas: 3,
        contract: { source: contract },
        storage: { size: '64Mi', retention: 'Delete' },
      },
    });
    let formed = true;
    const applied = Date.now();
    try {
      await eventually('QuorumVat q Ready', 300_000, () => {
        const q = get();
        const failing = q.status?.conditions?.find(
          (c) => c.type === 'Degraded' && c.status === 'True' && c.reason === 'MemberFailing',
        );
        if (failing) throw new Error(failing.message);
        return ready(q)?.status === 'True' ? true : undefined;
      });
      // Forming: pods, their VatIDs, the genesis, the members running it and reporting ready.
      emit({
        bench: 'operator-quorum',
        members: 3,
        ready_s: Number(((Date.now() - applied) / 1000).toFixed(1)),
      });
    } catch (err) {
      formed = false;
      const r = ready(get());
      emit({
        bench: 'operator-scale',
        from: 3,
        to: 5,
        error: `not measured: the 3-member quorum did not become Ready (${r?.reason}: ${r?.message}; ${(err as Error).message})`,
      });
    }
    if (formed) {
      const start = Date.now();
      kubectl('-n', ns, 'scale', 'qvat/q', '--replicas=5');
      try {
        // (eventually retries through a throw: a hopeless state is returned, then thrown.)
        const end = await eventually('5 voting members', 900_000, () => {
          const q = get();
          const progress = q.status?.conditions?.find((c) => c.type === 'Progressing');
          if (progress?.message.includes('HTTP 501')) return { hopeless: progress.message };
          return q.status?.replicas === 5 && !q.status.pendingChange && ready(q)?.status === 'True'
            ? { hopeless: undefined }
            : undefined;
        });
        if (end.hopeless) throw new Error(end.hopeless);
        emit({
          bench: 'operator-scale',
          from: 3,
          to: 5,
          s: Number(((Date.now() - start) / 1000).toFixed(1)),
        });
      } catch (err) {
        emit({
          bench: 'operator-scale',
          from: 3,
          to: 5,
          error: `not measured: ${(err as Error).message}`,
        });
      }
    }
  } finally {
    kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=300s');
  }
}
