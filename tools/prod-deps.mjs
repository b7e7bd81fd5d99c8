// The Dockerfile's dependency step: puts the production dependencies (`npm ci --omit=dev`) in
// APP/node_modules. Plain JavaScript run by the base image's Node (no shell needed).
//
// Prepared ones (.prod-deps/node_modules, copied to APP/node_modules by the Dockerfile) are used
// when they were installed from this very package-lock.json (.prod-deps/prod-deps.lock): a build
// with no registry (test/container/build-image.sh prepares them on the host). Otherwise npm ci
// runs here.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const app = process.argv[2] ?? '/app';
const lock = readFileSync(join(app, 'package-lock.json'), 'utf8');

if (existsSync(join(app, 'node_modules'))) {
  const stamp = join(app, 'prod-deps.lock');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lock) {
    console.error('prod-deps: .prod-deps/ was prepared from another package-lock.json; rebuild it');
    process.exit(1);
  }
  console.log('prod-deps: using the production dependencies prepared in .prod-deps/');
} else {
  const npm = '/usr/local/lib/node_modules/npm/bin/npm-cli.js';
  const args = [
    'ci',
    '--omit=dev',
    '--ignore-scripts',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
  ];
  const r = spawnSync(process.execPath, [npm, ...args], { cwd: app, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `prod-deps: npm ci failed (${r.status ?? r.signal}); with no registry, use test/container/build-image.sh`,
    );
    process.exit(1);
  }
}
