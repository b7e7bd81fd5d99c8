// Builds the test cluster's container images as OCI image-layout tarballs, with no registry and
// no Docker engine: one uncompressed rootfs layer, a config and a manifest, named through the
// io.containerd.image.name annotation so that `ctr -n k8s.io images import` tags them.
//
//   node make-images.ts OUT_DIR PAUSE_BINARY PAUSE_IMAGE NODE_IMAGE
//
// Writes OUT_DIR/pause.tar and OUT_DIR/node.tar; an image whose inputs did not change is kept.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sharedLibraries } from './shared-libraries.ts';

interface ImageSpec {
  name: string;
  /** Files copied into the rootfs: absolute path inside the image -> path on the host. */
  files: Map<string, string>;
  /** Empty directories to create (e.g. /tmp). */
  dirs: string[];
  /** Small text files written into the rootfs. */
  texts: Map<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workdir: string;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function tarRootfs(spec: ImageSpec, work: string): string {
  const root = join(work, 'rootfs');
  mkdirSync(root, { recursive: true });
  for (const dir of spec.dirs) mkdirSync(join(root, dir), { recursive: true, mode: 0o1777 });
  for (const [inImage, onHost] of spec.files) {
    mkdirSync(dirname(join(root, inImage)), { recursive: true });
    copyFileSync(onHost, join(root, inImage));
  }
  for (const [inImage, text] of spec.texts) {
    mkdirSync(dirname(join(root, inImage)), { recursive: true });
    writeFileSync(join(root, inImage), text);
  }
  const layer = join(work, 'layer.tar');
  // Deterministic layer: sorted names, root owner, fixed times.
  execFileSync('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    root,
    '-cf',
    layer,
    '.',
  ]);
  return layer;
}

function buildImage(spec: ImageSpec, out: string): void {
  const inputs = JSON.stringify({
    ...spec,
    files: [...spec.files].map(([k, v]) => [k, v, statSync(v).size, statSync(v).mtimeMs]),
    texts: [...spec.texts],
  });
  const key = sha256(inputs);
  const keyFile = `${out}.key`;
  if (existsSync(out) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key) return;

  const work = mkdtempSync(join(tmpdir(), 'qv-image-'));
  try {
    const layerPath = tarRootfs(spec, work);
    const layer = readFileSync(layerPath);
    const layerDigest = sha256(layer);
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: spec.env,
        WorkingDir: spec.workdir,
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    });
    const configDigest = sha256(config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${configDigest}`,
        size: Buffer.byteLength(config),
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${layerDigest}`,
          size: layer.length,
        },
      ],
    });
    const manifestDigest = sha256(manifest);
    const layout = join(work, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    renameSync(layerPath, join(blobs, layerDigest));
    writeFileSync(join(blobs, configDigest), config);
    writeFileSync(join(blobs, manifestDigest), manifest);
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${manifestDigest}`,
            size: Buffer.byteLength(manifest),
            annotations: {
              'io.containerd.image.name': spec.name,
              'org.opencontainers.image.ref.name': tag,
            },
          },
        ],
      }),
    );
    execFileSync('tar', ['-C', layout, '-cf', `${out}.new`, '.']);
    renameSync(`${out}.new`, out);
    writeFileSync(keyFile, key);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(): void {
  const [outDir, pauseBinary, pauseImage, nodeImage] = process.argv.slice(2);
  if (!outDir || !pauseBinary || !pauseImage || !nodeImage) {
    console.error('usage: make-images.ts OUT_DIR PAUSE_BINARY PAUSE_IMAGE NODE_IMAGE');
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });

  buildImage(
    {
      name: pauseImage,
      files: new Map([['/pause', pauseBinary]]),
      dirs: [],
      texts: new Map(),
      entrypoint: ['/pause'],
      env: ['PATH=/'],
      workdir: '/',
    },
    join(outDir, 'pause.tar'),
  );

  const nodeBinary = realpathSync(process.execPath);
  const nodeFiles = new Map<string, string>([['/usr/local/bin/node', nodeBinary]]);
  for (const lib of sharedLibraries(nodeBinary)) nodeFiles.set(lib, realpathSync(lib));
  buildImage(
    {
      name: nodeImage,
      files: nodeFiles,
      dirs: ['/tmp', '/data', '/app'],
      texts: new Map([
        [
          '/etc/passwd',
          'root:x:0:0:root:/root:/bin/false\nnode:x:1000:1000::/home/node:/bin/false\n',
        ],
        ['/etc/group', 'root:x:0:\nnode:x:1000:\n'],
        ['/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'],
      ]),
      cmd: ['node'],
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
      workdir: '/app',
    },
    join(outDir, 'node.tar'),
  );
}

main();
