// The chart release every end-to-end file installs into the test cluster, and the image it runs
// (test/container/build-image.sh --into-cluster puts it in the cluster's containerd).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { crdsInstalled, deleteCrds, helm, kubectl, repoRoot } from '../operator/kube.ts';

export const release = 'quorumvat';
export const system = 'quorumvat-system';
export const image = process.env['QUORUMVAT_IMAGE'] ?? 'quorumvat.local/quorumvat:dev';
export const [repository, tag] = image.split(/:(?=[^:]+$)/) as [string, string];

/** Extra chart values, comma-separated (e.g. vatImage.volumePermissionsInit=true on a cluster
 * whose volumes ignore fsGroup). */
const extraSets = (): string[] =>
  (process.env['QUORUMVAT_E2E_HELM_SET'] ?? '')
    .split(',')
    .filter(Boolean)
    .flatMap((x) => ['--set', x]);

/**
 * `helm install` of the chart with the test image, after removing a release a failed run left.
 * Returns whether the CRDs were there before (then `uninstallRelease` leaves them).
 */
export function installRelease(): boolean {
  helm('uninstall', release, '-n', system, '--ignore-not-found', '--wait');
  const crdsBefore = crdsInstalled();
  helm(
    'install',
    release,
    join(repoRoot, 'charts/quorumvat'),
    '-n',
    system,
    '--create-namespace',
    '--set',
    `image.repository=${repository}`,
    '--set',
    `image.tag=${tag}`,
    ...extraSets(),
    '--wait',
    '--timeout',
    '180s',
  );
  return crdsBefore;
}

/** Deletes the test's namespace and the release; the CRDs too unless they were there before. */
export function uninstallRelease(ns: string, crdsBefore: boolean): void {
  if (process.env['E2E_KEEP']) return;
  kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
  helm('uninstall', release, '-n', system, '--ignore-not-found', '--wait');
  if (!crdsBefore) deleteCrds();
}

/**
 * The test image under a new tag in the cluster's containerd (no registry here: what a release
 * upgrade looks like), then `helm upgrade` to it; with `wait`, until the operator is rolled.
 * Returns the new image reference.
 */
export function upgradeToNewTag(newTag: string, options: { wait: boolean }): string {
  const ref = `${repository}:${newTag}`;
  execFileSync('ctr', [
    '--address',
    '/run/quorumvat-cluster/containerd.sock',
    '-n',
    'k8s.io',
    'images',
    'tag',
    '--force',
    image,
    ref,
  ]);
  helm(
    'upgrade',
    release,
    join(repoRoot, 'charts/quorumvat'),
    '-n',
    system,
    '--reuse-values',
    '--set',
    `image.tag=${newTag}`,
    ...(options.wait ? ['--wait', '--timeout', '180s'] : []),
  );
  return ref;
}
