// The CRDs on the real API server (npm run test:e2e): every CEL rule with valid and invalid
// resources (each refusal carries its message), the defaults, immutable storage on update, the
// scale subresource (kubectl scale --replicas=1 refused at the API server), explain texts,
// printer columns, short names and the category.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apply, clusterReachable, ensureCrds, kubectl, refusal, uniqueNamespace } from './kube.ts';

let ns = '';
let removeCrds = () => {};

const contract = { source: 'export function buildRootObject() { return {}; }' };
const vat = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'quorumvat.dev/v1alpha1',
  kind: 'Vat',
  metadata: { name },
  spec: { contract, ...spec },
});
const qvat = (name: string, spec: Record<string, unknown> = {}) => ({
  ...vat(name, spec),
  kind: 'QuorumVat',
});
// biome-ignore lint/suspicious/noExplicitAny: JSON from kubectl
const get = (kind: string, name: string): any =>
  JSON.parse(kubectl('-n', ns, 'get', kind, name, '-o', 'json'));

before(() => {
  assert.ok(clusterReachable(), 'the test cluster is not up: npm run cluster:up');
  removeCrds = ensureCrds();
  ns = uniqueNamespace('crd');
});

after(() => {
  if (ns) kubectl('delete', 'namespace', ns, '--wait=true', '--timeout=120s');
  // Leave CRDs that were there before (a chart install); remove the ones this test made.
  removeCrds();
});

describe('Vat', () => {
  test('a minimal Vat is accepted and gets every default', () => {
    apply(ns, vat('minimal'));
    const v = get('vat', 'minimal');
    assert.deepEqual(v.spec.storage, { size: '1Gi', retention: 'Keep' });
    assert.equal(v.spec.gasLimit, 10_000_000);
    assert.equal(v.spec.memoryLimitMiB, 256);
    assert.equal(v.spec.logLevel, 'info');
    apply(ns, vat('by-ref', { contract: { configMapRef: { name: 'src' } } }));
    assert.deepEqual(get('vat', 'by-ref').spec.contract, {
      configMapRef: { name: 'src', key: 'contract.js' },
    });
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    [
      'inline source and a ConfigMap',
      { contract: { ...contract, configMapRef: { name: 'x' } } },
      /contract: give exactly one of source \(inline JavaScript\) or configMapRef/,
    ],
    ['neither source nor ConfigMap', { contract: {} }, /contract: give exactly one of source/],
    [
      'an empty source',
      { contract: { source: '' } },
      /spec.contract.source: Invalid value: "": spec.contract.source in body should be at least 1 chars long/,
    ],
    ['gas 0', { gasLimit: 0 }, /gasLimit must be between 1 and 1000000000000 per delivery/],
    ['gas -5', { gasLimit: -5 }, /gasLimit must be between 1 and 1000000000000/],
    ['gas 10^13', { gasLimit: 10_000_000_000_000 }, /gasLimit must be between 1 and 1000000000000/],
    ['memory 8 MiB', { memoryLimitMiB: 8 }, /memoryLimitMiB must be between 32 and 16384/],
    ['memory 1 TiB', { memoryLimitMiB: 1_048_576 }, /memoryLimitMiB must be between 32 and 16384/],
    [
      'a storage size that is no quantity',
      { storage: { size: 'lots' } },
      /storage.size must be a positive quantity such as 1Gi or 500m/,
    ],
    ['a zero storage size', { storage: { size: '0' } }, /storage.size must be a positive quantity/],
    [
      'a negative storage size',
      { storage: { size: '-1Gi' } },
      /storage.size must be a positive quantity/,
    ],
    [
      'an unknown retention',
      { storage: { retention: 'Maybe' } },
      /spec.storage.retention: Unsupported value: "Maybe": supported values: "Keep", "Delete"/,
    ],
    ['an unknown log level', { logLevel: 'loud' }, /spec.logLevel: Unsupported value: "loud"/],
    [
      'a bootstrap peer that is no multiaddr',
      { bootstrapPeers: ['host:4001'] },
      /bootstrapPeers entries must be libp2p multiaddrs starting with \//,
    ],
    [
      '17 bootstrap peers',
      { bootstrapPeers: Array.from({ length: 17 }, (_, i) => `/dns4/p${i}/tcp/4001`) },
      /spec.bootstrapPeers: Too many: 17: must have at most 16 items/,
    ],
    [
      'a resource quantity that is no quantity',
      { resources: { requests: { cpu: 'fast' } } },
      /spec.resources.requests.cpu in body should match/,
    ],
  ];
  for (const [what, spec, message] of refused) {
    test(`refused: ${what}`, () => {
      const err = refusal(() => apply(ns, vat('bad', spec)));
      assert.match(err, message);
    });
  }
  test('refused: no contract at all', () => {
    const bad = vat('bad');
    delete (bad.spec as { contract?: unknown }).contract;
    assert.match(
      refusal(() => apply(ns, bad)),
      /spec.contract: Required value/,
    );
  });

  test('storage size and class are immutable; retention may change', () => {
    apply(ns, vat('store', { storage: { size: '1Gi', storageClassName: 'local-path' } }));
    assert.match(
      refusal(() =>
        apply(ns, vat('store', { storage: { size: '2Gi', storageClassName: 'local-path' } })),
      ),
      /spec.storage.size: Invalid value: .*storage.size is immutable: the data volume cannot be resized through this resource/,
    );
    assert.match(
      refusal(() =>
        apply(ns, vat('store', { storage: { size: '1Gi', storageClassName: 'fast' } })),
      ),
      /spec.storage.storageClassName: Invalid value: .*storage.storageClassName is immutable after creation/,
    );
    assert.match(
      refusal(() => apply(ns, vat('store', { storage: { size: '1Gi' } }))),
      /storageClassName is immutable after creation/,
      'removing the class is a change too',
    );
    apply(
      ns,
      vat('store', {
        storage: { size: '1Gi', storageClassName: 'local-path', retention: 'Delete' },
      }),
    );
    assert.equal(get('vat', 'store').spec.storage.retention, 'Delete');
    // A class added later to a Vat created without one is refused as well.
    apply(ns, vat('noclass'));
    assert.match(
      refusal(() => apply(ns, vat('noclass', { storage: { storageClassName: 'local-path' } }))),
      /storageClassName is immutable after creation/,
    );
  });
});

describe('QuorumVat', () => {
  test('defaults: 3 replicas, threshold left to follow replicas', () => {
    apply(ns, qvat('q3'));
    const q = get('qvat', 'q3');
    assert.equal(q.spec.replicas, 3);
    assert.equal(q.spec.threshold, undefined);
    apply(ns, qvat('q5k3', { replicas: 5, threshold: 3 }));
    apply(ns, qvat('q7k7', { replicas: 7, threshold: 7 }));
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    [
      '1 replica',
      { replicas: 1 },
      /a QuorumVat needs at least 3 replicas: with fewer it tolerates no failed member \(use a Vat for a single host\)/,
    ],
    ['2 replicas', { replicas: 2 }, /a QuorumVat needs at least 3 replicas/],
    ['16 replicas', { replicas: 16 }, /a QuorumVat has at most 15 replicas/],
    [
      'threshold above replicas',
      { replicas: 3, threshold: 4 },
      /spec.threshold: Invalid value: .*threshold must not exceed replicas: k members can never agree among fewer than k/,
    ],
    [
      'threshold of half (2k = n)',
      { replicas: 4, threshold: 2 },
      /spec.threshold: Invalid value: .*threshold must be more than half of replicas \(2\*threshold > replicas\), or two disjoint quorums could decide differently/,
    ],
    [
      'threshold below half',
      { replicas: 5, threshold: 1 },
      /threshold must be more than half of replicas/,
    ],
  ];
  for (const [what, spec, message] of refused) {
    test(`refused: ${what}`, () => {
      assert.match(
        refusal(() => apply(ns, qvat('badq', spec))),
        message,
      );
    });
  }

  test('kubectl scale goes through the scale subresource and its rules', () => {
    apply(ns, qvat('sc', { replicas: 3 }));
    kubectl('-n', ns, 'scale', 'qvat/sc', '--replicas=5');
    assert.equal(get('qvat', 'sc').spec.replicas, 5);
    const scale = JSON.parse(
      kubectl('get', '--raw', `/apis/quorumvat.dev/v1alpha1/namespaces/${ns}/quorumvats/sc/scale`),
    );
    assert.equal(scale.kind, 'Scale');
    assert.equal(scale.spec.replicas, 5);
    for (const n of ['1', '2', '0']) {
      assert.match(
        refusal(() => kubectl('-n', ns, 'scale', 'qvat/sc', `--replicas=${n}`)),
        /a QuorumVat needs at least 3 replicas/,
        `--replicas=${n} refused at the API server`,
      );
    }
    assert.equal(get('qvat', 'sc').spec.replicas, 5, 'a refused scale changes nothing');
    // An explicit threshold holds through scale: k=3 allows 3..5, not 6 (2k > n) nor 2.
    apply(ns, qvat('sk', { replicas: 4, threshold: 3 }));
    kubectl('-n', ns, 'scale', 'qvat/sk', '--replicas=5');
    assert.match(
      refusal(() => kubectl('-n', ns, 'scale', 'qvat/sk', '--replicas=6')),
      /threshold must be more than half of replicas/,
    );
    kubectl('-n', ns, 'scale', 'qvat/sk', '--replicas=3');
    assert.match(
      refusal(() => kubectl('-n', ns, 'scale', 'qvat/sk', '--replicas=2')),
      /threshold must not exceed replicas|at least 3 replicas/,
    );
  });

  test('immutable storage applies to QuorumVats too', () => {
    apply(ns, qvat('qs', { storage: { size: '1Gi' } }));
    assert.match(
      refusal(() => apply(ns, qvat('qs', { storage: { size: '3Gi' } }))),
      /storage.size is immutable/,
    );
  });

  test("a QuorumVat's gasLimit is immutable (every member meters with it); a Vat's may change", () => {
    apply(ns, qvat('qg', { gasLimit: 5_000_000 }));
    assert.match(
      refusal(() => apply(ns, qvat('qg', { gasLimit: 6_000_000 }))),
      /spec.gasLimit: Invalid value: .*gasLimit is immutable on a QuorumVat/,
    );
    apply(ns, qvat('qg', { gasLimit: 5_000_000, logLevel: 'debug' }));
    apply(ns, vat('vg', { gasLimit: 5_000_000 }));
    apply(ns, vat('vg', { gasLimit: 6_000_000 }));
  });

  test("a QuorumVat's contract is immutable, inline or by reference (every member runs the same code); a Vat's may change", () => {
    const refused = /spec.contract: Invalid value: .*contract is immutable on a QuorumVat/;
    apply(ns, qvat('qc'));
    assert.match(
      refusal(() => apply(ns, qvat('qc', { contract: { source: `${contract.source}\n// v2` } }))),
      refused,
    );
    assert.match(
      refusal(() => apply(ns, qvat('qc', { contract: { configMapRef: { name: 'code' } } }))),
      refused,
    );
    apply(ns, qvat('qr', { contract: { configMapRef: { name: 'code' } } }));
    assert.match(
      refusal(() => apply(ns, qvat('qr', { contract: { configMapRef: { name: 'other' } } }))),
      refused,
    );
    assert.match(
      refusal(() =>
        apply(ns, qvat('qr', { contract: { configMapRef: { name: 'code', key: 'v2.js' } } })),
      ),
      refused,
    );
    apply(ns, qvat('qc', { logLevel: 'debug' }));
    apply(ns, vat('vc'));
    apply(ns, vat('vc', { contract: { source: `${contract.source}\n// v2` } }));
  });
});

describe('what a user sees', () => {
  test('kubectl explain shows the descriptions', () => {
    // explain wraps lines at 80 columns: compare with whitespace folded.
    const explain = (path: string) => kubectl('explain', path).replace(/\s+/g, ' ');
    assert.match(
      explain('vat.spec.storage.size'),
      /Requested size of the data volume \(a quantity such as 1Gi\)\. Immutable\./,
    );
    assert.match(explain('qvat.spec.threshold'), /Members that must agree \(k\)/);
    assert.match(
      explain('qvat.status.members.state'),
      /learner \(catching up, not voting\), voting, or leaving/,
    );
    assert.match(explain('vat.status.sturdyrefSecret'), /the sturdyref itself is never in status/);
  });

  test('short names, the category and printer columns', () => {
    const head = kubectl('-n', ns, 'get', 'qvat').split('\n')[0]!;
    assert.deepEqual(head.split(/\s+/).filter(Boolean), [
      'NAME',
      'READY',
      'MEMBERS',
      'THRESHOLD',
      'TOLERATES',
      'EPOCH',
      'AGE',
    ]);
    assert.match(kubectl('-n', ns, 'get', 'qvat', '-o', 'wide').split('\n')[0]!, /VATID/);
    assert.deepEqual(kubectl('-n', ns, 'get', 'vat').split('\n')[0]!.split(/\s+/).filter(Boolean), [
      'NAME',
      'READY',
      'VATID',
      'AGE',
    ]);
    // The category: `kubectl get quorumvat` would name the QuorumVat kind itself (its singular
    // wins over the category), so the category is checked through api-resources.
    const inCategory = kubectl('api-resources', '--categories=quorumvat', '-o', 'name');
    assert.deepEqual(inCategory.trim().split('\n').sort(), [
      'quorumvats.quorumvat.dev',
      'vats.quorumvat.dev',
    ]);
  });

  test('status is a subresource: a spec write cannot set it, a /status write cannot change spec', () => {
    const body = { ...qvat('st'), status: { epoch: 99 } };
    apply(ns, body);
    assert.equal(get('qvat', 'st').status?.epoch, undefined);
  });
});
