import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { crdDirs, renderCrds, repoRoot } from './generate.ts';
import { crdFiles } from './v1alpha1/crds.ts';
import { fields, type Schema } from './v1alpha1/schema.ts';
import { quorumVatSpec, quorumVatStatus, vatSpec, vatStatus } from './v1alpha1/spec.ts';

test('crds/ and the chart copy are exactly what the TypeScript schemas generate', () => {
  for (const [file, text] of Object.entries(renderCrds())) {
    for (const dir of crdDirs) {
      const committed = readFileSync(join(repoRoot, dir, file), 'utf8');
      assert.equal(committed, text, `${dir}/${file} drifted: run npm run crds and commit`);
    }
  }
});

test('every field of every schema has a description', () => {
  const schemas: Record<string, Schema> = { vatSpec, vatStatus, quorumVatSpec, quorumVatStatus };
  let count = 0;
  for (const [name, schema] of Object.entries(schemas)) {
    for (const [path, field] of fields(schema)) {
      assert.ok(
        field.description && field.description.length > 3,
        `${name}${path}: no description`,
      );
      count++;
    }
  }
  assert.ok(count > 60, `only ${count} fields walked`);
});

test('every CEL rule has a message that names what to fix', () => {
  for (const schema of [vatSpec, quorumVatSpec]) {
    for (const [path, field] of fields(schema)) {
      for (const rule of field['x-kubernetes-validations'] ?? []) {
        assert.ok(rule.message.length > 20, `${path}: rule ${rule.rule} has a terse message`);
      }
    }
  }
});

test('the YAML holds the whole CRD object: nothing (defaults, CEL rules) lost on the way', () => {
  for (const [file, text] of Object.entries(renderCrds())) {
    assert.deepEqual(load(text), JSON.parse(JSON.stringify(crdFiles[file])));
    assert.match(text, /x-kubernetes-validations:/);
    assert.match(text, /default: 10000000/);
  }
});
