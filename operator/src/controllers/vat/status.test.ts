import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { lastErrorLine, nodeFailure } from '../common/pods.ts';
import { readyEvent } from '../common/shared.ts';
import { type VatObservation, vatStatus } from './status.ts';

const t0 = new Date('2026-12-01T10:00:00Z');
const t1 = new Date('2026-12-01T10:05:00Z');
const readyPod: V1Pod = {
  metadata: { name: 'bank-0' },
  status: {
    phase: 'Running',
    podIP: '10.233.0.9',
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [
      {
        name: 'vat',
        ready: true,
        image: 'i',
        imageID: '',
        restartCount: 0,
        state: { running: {} },
      },
    ],
  },
};
const base: VatObservation = {
  name: 'bank',
  generation: 2,
  previous: undefined,
  sturdyrefPublished: true,
  pod: readyPod,
  identity: {
    vatId: '12D3KooWabc',
    addresses: ['/dns4/bank-0.bank.ns.svc.cluster.local/tcp/4001'],
  },
  contractHash: 'ab'.repeat(32),
  now: t0,
};
const cond = (s: ReturnType<typeof vatStatus>, type: string) =>
  s.conditions!.find((c) => c.type === type)!;

test('a running vat with identity and published sturdyref is Ready, with its VatID and Secret', () => {
  const s = vatStatus(base);
  assert.equal(cond(s, 'Ready').status, 'True');
  assert.equal(cond(s, 'Degraded').status, 'False');
  assert.equal(cond(s, 'Progressing').status, 'False');
  assert.equal(s.vatId, '12D3KooWabc');
  assert.deepEqual(s.sturdyrefSecret, { name: 'bank-sturdyref', key: 'sturdyref' });
  assert.equal(s.observedGeneration, 2);
  assert.ok(s.conditions!.every((c) => c.observedGeneration === 2));
});

test('each missing piece keeps it not Ready, with the reason', () => {
  assert.equal(
    cond(vatStatus({ ...base, sturdyrefPublished: false }), 'Ready').reason,
    'WaitingForSturdyref',
  );
  const { identity: _i, ...noIdentity } = base;
  assert.equal(cond(vatStatus(noIdentity), 'Ready').reason, 'WaitingForIdentity');
  const { pod: _p, ...noPod } = base;
  const pending = vatStatus({ ...noPod, sturdyrefPublished: false });
  assert.equal(cond(pending, 'Ready').reason, 'PodPending');
  assert.equal(cond(pending, 'Progressing').status, 'True');
  const missing = vatStatus({
    ...base,
    problem: { reason: 'ContractNotFound', message: 'ConfigMap x does not exist' },
  });
  assert.equal(cond(missing, 'Ready').reason, 'ContractNotFound');
  assert.equal(cond(missing, 'Degraded').status, 'True');
  assert.equal(missing.sturdyrefSecret?.name, 'bank-sturdyref');
});

test('a crashing node is Degraded with its last error line as the message', () => {
  const crashed: V1Pod = {
    metadata: { name: 'bank-0' },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        {
          name: 'vat',
          ready: false,
          image: 'i',
          imageID: '',
          restartCount: 3,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: {
            terminated: {
              exitCode: 1,
              message:
                '{"level":30,"msg":"starting"}\n{"level":60,"msg":"quorumvat failed: contract did not load","err":{"message":"SyntaxError: Unexpected token \'{\'"}}\n',
            },
          },
        },
      ],
    },
  };
  const s = vatStatus({ ...base, pod: crashed });
  assert.equal(cond(s, 'Degraded').reason, 'NodeFailing');
  assert.equal(
    cond(s, 'Degraded').message,
    "vat node exited with code 1: quorumvat failed: contract did not load: SyntaxError: Unexpected token '{'",
  );
  assert.equal(cond(s, 'Ready').status, 'False');
  assert.equal(nodeFailure(readyPod), undefined);
});

test('lastErrorLine: pino JSON, string levels, plain text from before the logger started', () => {
  assert.equal(lastErrorLine('{"level":"error","msg":"bad"}'), 'bad');
  assert.equal(lastErrorLine('{"level":30,"msg":"fine"}'), undefined);
  assert.equal(lastErrorLine('node: bad option: --x'), 'node: bad option: --x');
  assert.equal(
    lastErrorLine(
      "node:fs:2110\n  binding.chmod(path, mode);\nError: EPERM: operation not permitted, chmod '/data'\n    at x\n\nNode.js v24.21.0\n",
    ),
    "Error: EPERM: operation not permitted, chmod '/data'",
  );
});

test('lastTransitionTime moves only when a condition changes status; Events only on news', () => {
  const first = vatStatus({ ...base, sturdyrefPublished: false });
  const again = vatStatus({ ...base, sturdyrefPublished: false, previous: first, now: t1 });
  assert.equal(cond(again, 'Ready').lastTransitionTime, t0.toISOString());
  assert.equal(readyEvent(first, again), undefined, 'no Event for the same news twice');
  const ready = vatStatus({ ...base, previous: again, now: t1 });
  assert.equal(cond(ready, 'Ready').lastTransitionTime, t1.toISOString());
  assert.deepEqual(readyEvent(again, ready)?.type, 'Normal');
  const failing = vatStatus({
    ...base,
    previous: ready,
    problem: { reason: 'ContractNotFound', message: 'x' },
    now: t1,
  });
  assert.equal(readyEvent(ready, failing)?.type, 'Warning');
});

test('a failing init container is reported by name', () => {
  const pod: V1Pod = {
    metadata: { name: 'bank-0' },
    status: {
      phase: 'Pending',
      initContainerStatuses: [
        {
          name: 'data-permissions',
          ready: false,
          image: 'i',
          imageID: '',
          restartCount: 2,
          lastState: {
            terminated: {
              exitCode: 1,
              message: "Error: EPERM: operation not permitted, chmod '/data'",
            },
          },
        },
      ],
    },
  };
  assert.equal(
    nodeFailure(pod),
    "init container data-permissions exited with code 1: Error: EPERM: operation not permitted, chmod '/data'",
  );
});
