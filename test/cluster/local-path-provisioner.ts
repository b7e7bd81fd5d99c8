// A local-path style dynamic provisioner for the single-node test cluster, run as a host
// process by up.sh. For every pending PersistentVolumeClaim of a StorageClass whose provisioner
// is ours, it makes a directory under --dir and a hostPath PersistentVolume bound to the claim
// (the PV controller then binds both). Released volumes are deleted with their directory.
//
//   node local-path-provisioner.ts --kubeconfig FILE --dir DIR [--interval-ms 500]
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  KubeConfig,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';

export const PROVISIONER = 'quorumvat.local/local-path';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
const DEFAULT_CLASS = 'storageclass.kubernetes.io/is-default-class';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    dir: { type: 'string' },
    'interval-ms': { type: 'string', default: '500' },
  },
});
if (!values.kubeconfig || !values.dir) {
  console.error('usage: local-path-provisioner.ts --kubeconfig FILE --dir DIR');
  process.exit(2);
}
const baseDir = values.dir;
const intervalMs = Number(values['interval-ms']);

const kc = new KubeConfig();
kc.loadFromFile(values.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const storage = kc.makeApiClient(StorageV1Api);

const log = (msg: string): void => console.log(`${new Date().toISOString()} ${msg}`);

/** Names of our StorageClasses, and which of them is the default. */
async function ourClasses(): Promise<{ names: Set<string>; defaultName?: string }> {
  const list = await storage.listStorageClass();
  const names = new Set<string>();
  let defaultName: string | undefined;
  for (const sc of list.items) {
    if (sc.provisioner !== PROVISIONER || !sc.metadata?.name) continue;
    names.add(sc.metadata.name);
    if (sc.metadata.annotations?.[DEFAULT_CLASS] === 'true') defaultName = sc.metadata.name;
  }
  return { names, defaultName };
}

function volumeFor(pvc: V1PersistentVolumeClaim, className: string): V1PersistentVolume {
  const ns = pvc.metadata?.namespace ?? 'default';
  const name = pvc.metadata?.name ?? '';
  const uid = pvc.metadata?.uid ?? '';
  const path = join(baseDir, `${ns}_${name}_${uid}`);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pvc-${uid}`, annotations: { [PROVISIONED_BY]: PROVISIONER } },
    spec: {
      capacity: { storage: pvc.spec?.resources?.requests?.['storage'] ?? '1Gi' },
      accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: className,
      volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: ns, name, uid },
      hostPath: { path, type: 'DirectoryOrCreate' },
    },
  };
}

async function provision(): Promise<void> {
  const { names, defaultName } = await ourClasses();
  if (names.size === 0) return;
  const claims = await core.listPersistentVolumeClaimForAllNamespaces();
  for (const pvc of claims.items) {
    if (pvc.status?.phase !== 'Pending' || pvc.spec?.volumeName) continue;
    const className = pvc.spec?.storageClassName ?? defaultName;
    if (!className || !names.has(className)) continue;
    const pv = volumeFor(pvc, className);
    const path = pv.spec?.hostPath?.path ?? '';
    mkdirSync(path, { recursive: true });
    // World-writable as Rancher's local-path makes it (`mkdir -m 0777`): kubelet applies no
    // fsGroup to hostPath volumes, and mkdir's mode is cut by the umask (0755 here), which left
    // non-root pods (the quorumvat image runs as uid 1000) unable to write their data volume.
    chmodSync(path, 0o777);
    try {
      await core.createPersistentVolume({ body: pv });
      log(`provisioned ${pv.metadata?.name} for ${pvc.metadata?.namespace}/${pvc.metadata?.name}`);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
}

async function reclaim(): Promise<void> {
  const volumes = await core.listPersistentVolume();
  for (const pv of volumes.items) {
    if (pv.metadata?.annotations?.[PROVISIONED_BY] !== PROVISIONER) continue;
    const phase = pv.status?.phase;
    if (phase !== 'Released' && phase !== 'Failed') continue;
    if (pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') continue;
    const path = pv.spec?.hostPath?.path;
    if (path?.startsWith(`${baseDir}/`)) rmSync(path, { recursive: true, force: true });
    try {
      await core.deletePersistentVolume({ name: pv.metadata?.name ?? '' });
      log(`deleted ${pv.metadata?.name}`);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }
}

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    stopping = true;
  });
}
mkdirSync(baseDir, { recursive: true });
log(`local-path provisioner ${PROVISIONER} storing under ${baseDir}`);
while (!stopping) {
  try {
    await provision();
    await reclaim();
  } catch (err) {
    log(`error: ${(err as Error).message}`);
  }
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
