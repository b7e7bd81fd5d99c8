// Writes the CRD YAML from the TypeScript schemas (operator/src/api/v1alpha1) to crds/ and to the
// chart's copy (charts/quorumvat/files/crds/). `npm run crds` runs it; generate.test.ts fails
// when a committed file differs from what this would write.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { crdFiles } from './v1alpha1/crds.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const crdDirs = ['crds', 'charts/quorumvat/files/crds'];

const header =
  '# Generated from operator/src/api/v1alpha1/*.ts by `npm run crds`: edit those, not this file.\n';

/** File name → YAML text, exactly as committed. */
export function renderCrds(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, crd] of Object.entries(crdFiles)) {
    // js-yaml itself, not client-node's dumpYaml: that one passes the object through the typed
    // client model, which silently drops default and x-kubernetes-* keys of the schema.
    out[file] = header + dump(crd, { lineWidth: 100, noRefs: true });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const dir of crdDirs) {
    mkdirSync(join(repoRoot, dir), { recursive: true });
    for (const [file, text] of Object.entries(renderCrds())) {
      writeFileSync(join(repoRoot, dir, file), text);
      console.log(`wrote ${join(dir, file)}`);
    }
  }
}
