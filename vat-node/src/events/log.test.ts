import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import type { VatEvent } from './events.ts';
import { EVENT_LINES, logEvents } from './log.ts';

function capture(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level, base: undefined, timestamp: false }, out).child({ vat: 'V1' });
  return { sink: logEvents(logger), lines };
}

/** One event of every type. */
const samples: VatEvent[] = [
  { type: 'crank-aborted', delivery: 'message', reason: 'gas limit 10 exceeded', gas: 10 },
  { type: 'vat-start-failed', reason: 'vat V failed to start: SyntaxError' },
  { type: 'message-undeliverable', target: 'o+4', method: 'm', reason: 'object o+4 is gone' },
  {
    type: 'message-too-large',
    peer: 'P',
    target: 'o-3',
    method: 'take',
    bytes: 1_048_640,
    maxBytes: 261_120,
    reason: 'message to P is 1048640 bytes, over the 261120-byte limit',
  },
  { type: 'peer-forgotten', peer: 'C', departedMs: 86_400_000, messages: 3, held: 0, rejected: 1 },
  { type: 'peer-message-refused', peer: 'P', code: 'unknown-ref', reason: 'unknown c-list index' },
  { type: 'checkpoint-waiting', reason: 'o+5 is out', held: 'o+5' },
  { type: 'store-failed', reason: 'disk full' },
  { type: 'peer-input-rejected', peer: 'P', code: 'bad-signature', reason: 'bad signature' },
  { type: 'peer-banned', peer: 'P', banMs: 60_000 },
  { type: 'peer-unreachable', peer: 'P', err: 'Error: ECONNREFUSED' },
  { type: 'peer-reachable', peer: 'P', downMs: 1234 },
  { type: 'connect-retry-failed', peer: 'P', err: 'Error: timeout', delayMs: 80 },
  { type: 'ack-undelivered', peer: 'P', err: 'Error: gone' },
  { type: 'link-stalled', peer: 'P', stallMs: 5000 },
  { type: 'delivery-undeliverable', peer: 'P', seq: 9, maxFrameBytes: 262_144 },
  { type: 'send-failed', peer: 'P', err: 'Error: bug' },
  { type: 'inbound-failed', peer: 'P', err: 'Error: bug' },
  { type: 'inbound-refused', peer: 'P', err: 'KernelUnavailable: store failed' },
  { type: 'wake-ignored', peer: 'not-a-vat' },
  { type: 'quorum-chain-learned', quorum: 'quorumX', epoch: 0, n: 3, k: 2 },
  { type: 'quorum-chain-unavailable', quorum: 'quorumX', err: 'no member reachable' },
  { type: 'quorum-equivocation', quorum: 'quorumX', member: 'P', seq: 4, frames: ['AA', 'BB'] },
  { type: 'quorum-member-refused', peer: 'P', quorum: 'quorumX', reason: 'not a member' },
  {
    type: 'quorum-epoch',
    quorum: 'quorumX',
    epoch: 1,
    since: 40,
    members: 4,
    threshold: 3,
    role: 'learner',
  },
  { type: 'quorum-change-certified', quorum: 'quorumX', epoch: 1, position: 39 },
  {
    type: 'quorum-member-started',
    quorum: 'quorumX',
    name: 'bank',
    epoch: 0,
    members: 4,
    threshold: 3,
    byzantine: 1,
    crashes: 1,
    height: 0,
  },
  { type: 'quorum-stalled', quorum: 'quorumX', round: 7, height: 3, reason: 'no quorum' },
  { type: 'quorum-resumed', quorum: 'quorumX', height: 4 },
  { type: 'quorum-leader', quorum: 'quorumX', round: 8, leader: 'P' },
  { type: 'quorum-halted', quorum: 'quorumX', reason: 'transcript diverged at height 5' },
  { type: 'quorum-evidence', quorum: 'quorumX', kind: 'proposal', signer: 'P', epoch: 0, at: 9 },
  { type: 'quorum-message-rejected', quorum: 'quorumX', peer: 'P', reason: 'bad signature' },
  { type: 'quorum-state-transfer-needed', quorum: 'quorumX', fromHeight: 2, oldestKept: 40 },
  {
    type: 'quorum-state-restored',
    quorum: 'quorumX',
    peer: 'P',
    height: 40,
    epoch: 1,
    rows: 12,
    bytes: 3000,
    fromHeight: 0,
  },
  { type: 'quorum-snapshot-refused', quorum: 'quorumX', peer: 'P', reason: 'bad certificate' },
  { type: 'peer-given-up', peer: 'P', downMs: 3_600_000, owed: 12 },
  { type: 'client-gone', peer: 'P' },
  { type: 'bootstrap-unreachable', bootstrap: '/ip4/127.0.0.1/tcp/1/p2p/X', err: 'Error: no' },
  { type: 'bootstrap-reachable', bootstrap: '/dns4/seed/tcp/4001', downMs: 900 },
  { type: 'bootstrap-retry-failed', bootstrap: '/dns4/seed/tcp/4001', err: 'cannot resolve' },
];

const LEVELS: Record<string, number> = { debug: 20, info: 30, warn: 40, error: 50 };

test('every event type becomes one line: its component, level and message, its fields, the vat', async () => {
  assert.deepEqual(
    new Set(samples.map((e) => e.type)),
    new Set(Object.keys(EVENT_LINES)),
    'a sample of every type',
  );
  const { sink, lines } = capture();
  for (const e of samples) sink(e);
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, samples.length);
  samples.forEach((e, i) => {
    const spec = EVENT_LINES[e.type];
    const { type: _t, ...fields } = e;
    assert.deepEqual(
      lines[i],
      { level: LEVELS[spec.level], vat: 'V1', component: spec.component, ...fields, msg: spec.msg },
      e.type,
    );
  });
});

test('quiet when healthy: at level info, debug events write nothing', async () => {
  const { sink, lines } = capture('info');
  for (const e of samples) sink(e);
  await new Promise((r) => setImmediate(r));
  const expected = samples.filter((e) => EVENT_LINES[e.type].level !== 'debug');
  assert.deepEqual(
    lines.map((l) => l.msg),
    expected.map((e) => EVENT_LINES[e.type].msg),
  );
});
