// The Helm chart as helm renders it (helm v4 through tools/helm.sh; no cluster needed): the CRDs
// it installs are exactly crds/ (plus the keep policy), the values schema refuses bad values,
// the RBAC is the least-privilege list the README gives, and the operator runs the image.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { load, loadAll } from 'js-yaml';

const root = join(import.meta.dirname, '../..');
const chart = join(root, 'charts/quorumvat');

function helm(...args: string[]): string {
  return execFileSync(join(root, 'tools/helm.sh'), args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML is walked loosely
type Obj = any;
const render = (...set: string[]): Obj[] =>
  loadAll(
    helm('template', 'qv', chart, '--namespace', 'qv-system', ...set.flatMap((s) => ['--set', s])),
  ).filter(Boolean);

test("the chart's CRDs are crds/ exactly, kept on uninstall", () => {
  const rendered = render().filter((o) => o.kind === 'CustomResourceDefinition');
  const files = readdirSync(join(root, 'crds')).filter((f) => f.endsWith('.yaml'));
  assert.equal(rendered.length, files.length);
  for (const file of files) {
    const want: Obj = load(readFileSync(join(root, 'crds', file), 'utf8'));
    const got = rendered.find((o) => o.metadata.name === want.metadata.name);
    assert.ok(got, `${want.metadata.name} not rendered`);
    assert.equal(got.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.deepEqual(got.spec, want.spec, `${file}: the chart renders a different spec`);
  }
  assert.equal(
    render('crds.install=false').filter((o) => o.kind === 'CustomResourceDefinition').length,
    0,
  );
});

test('the operator Deployment runs the quorumvat image with IfNotPresent and standard labels', () => {
  const dep = render('image.tag=dev').find((o) => o.kind === 'Deployment');
  const c = dep.spec.template.spec.containers[0];
  assert.equal(c.image, 'quorumvat.local/quorumvat:dev');
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  for (const l of ['name', 'instance', 'version', 'managed-by']) {
    assert.ok(dep.metadata.labels[`app.kubernetes.io/${l}`], `label app.kubernetes.io/${l}`);
  }
  assert.equal(dep.spec.template.spec.serviceAccountName, 'qv-quorumvat');
  const env = Object.fromEntries(
    c.env.filter((e: Obj) => e.value).map((e: Obj) => [e.name, e.value]),
  );
  assert.equal(env.QUORUMVAT_OPERATOR_VAT_IMAGE, 'quorumvat.local/quorumvat:dev');
});

test('RBAC: no exec, no logs, no listing Secrets, leases only in the release namespace', () => {
  const objs = render();
  const cr = objs.find((o) => o.kind === 'ClusterRole');
  const verbsOn = (res: string) =>
    cr.rules.filter((r: Obj) => r.resources.includes(res)).flatMap((r: Obj) => r.verbs);
  assert.deepEqual(verbsOn('secrets').sort(), ['create', 'delete', 'get', 'patch']);
  assert.deepEqual(verbsOn('pods').sort(), ['get', 'list', 'watch']);
  assert.deepEqual(verbsOn('pods/status'), ['patch'], "only a member pod's readiness gate");
  assert.deepEqual(verbsOn('pods/exec'), []);
  assert.deepEqual(verbsOn('pods/log'), []);
  assert.deepEqual(verbsOn('vats').sort(), ['get', 'list', 'watch'], 'the spec is never written');
  assert.deepEqual(verbsOn('leases'), [], 'leases are not cluster-wide');
  for (const r of cr.rules) assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'));
  const role = objs.find((o) => o.kind === 'Role');
  assert.equal(role.metadata.namespace, 'qv-system');
  assert.deepEqual(JSON.parse(JSON.stringify(role.rules)), [
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'create', 'update'],
    },
  ]);
});

test('values.schema.json refuses bad values, with the field named', () => {
  for (const [set, field] of [
    ['replicas=0', 'replicas'],
    ['image.pullPolicy=Sometimes', 'pullPolicy'],
    ['logLevel=loud', 'logLevel'],
    ['unknownKey=1', 'unknownKey'],
  ] as const) {
    assert.throws(
      () => render(set),
      (err: Error & { stderr?: string }) => {
        assert.match(String(err.stderr), new RegExp(field));
        return true;
      },
    );
  }
});
