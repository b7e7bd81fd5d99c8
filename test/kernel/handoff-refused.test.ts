/**
 * A refused three-party handoff settles what depended on it: the message carrying the
 * certificate, the messages pipelined on its result, and any other message behind it reject
 * with the refusal's reason (never left pending), and unrelated messages still flow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VatEvent } from '../../vat-node/src/events/events.ts';
import { LocalIdentities } from '../../vat-node/src/kernel/handoff.ts';
import { HostRef } from '../../vat-node/src/kernel/hostcaps.ts';
import { Kernel } from '../../vat-node/src/kernel/kernel.ts';
import { LocalNetwork } from '../../vat-node/src/transport/local-link.ts';
import { contract, introduce } from './harness.ts';

/** A introduces B to C's service; the vats named in `noIdentity` accept no handoffs. */
async function introduceRefused(t: { after: (f: () => unknown) => void }, noIdentity: string) {
  const net = new LocalNetwork();
  const ids = new LocalIdentities();
  const events: VatEvent[] = [];
  const [a, b, c] = await Promise.all(
    ['A', 'B', 'C'].map((name) =>
      Kernel.create(
        {
          vatId: name,
          vatName: name,
          contractSource: contract('handoff-refusal.js'),
          gasLimit: 1_000_000,
          events: (e: VatEvent) => events.push(e),
          ...(name !== noIdentity && { identity: ids.identity(name) }),
        },
        net.transport(),
      ),
    ),
  );
  t.after(() => Promise.all([a, b, c].map((v) => v!.close())));
  const bRoot = new HostRef(introduce(a!, b!));
  const service = (await a!.call(introduce(a!, c!), 'service', [])).value as HostRef;
  const settled = await a!.call('o+0', 'introduce', [bRoot, service]);
  return { net, events, a: a!, bRoot, settled };
}

test('a recipient that accepts no handoffs rejects the message and what is pipelined on it', {
  timeout: 60_000,
}, async (t) => {
  const { net, events, a, bRoot, settled } = await introduceRefused(t, 'B');
  const reason = 'this vat does not accept handoffs';
  assert.deepEqual(settled, { rejected: false, value: [reason, reason, reason, 42] });
  // B warns once per refused message (the two holds) and keeps the link: no refused batch.
  const warned = events.filter((e) => e.type === 'peer-message-refused');
  assert.deepEqual(
    warned.map((e) => e.type === 'peer-message-refused' && [e.peer, e.code, e.reason]),
    [
      ['A', 'unsupported', reason],
      ['A', 'unsupported', reason],
    ],
  );
  assert.deepEqual(net.refused, []);
  // The link still carries later messages both ways.
  assert.deepEqual(await a.call(bRoot.vref, 'ping', [1]), { rejected: false, value: 2 });
});

test('an exporter that refuses the take: every message held behind it rejects with the reason', {
  timeout: 60_000,
}, async (t) => {
  const { events, a, bRoot, settled } = await introduceRefused(t, 'C');
  const reason = 'handoff refused by C: this vat does not accept handoffs';
  assert.deepEqual(settled, { rejected: false, value: [reason, reason, reason, 42] });
  // B warns of the two refused holds; later messages flow.
  const warned = events.filter((e) => e.type === 'peer-message-refused' && e.peer === 'A');
  assert.deepEqual(
    warned.map((e) => e.type === 'peer-message-refused' && [e.code, e.reason]),
    [
      ['bad-handoff', reason],
      ['bad-handoff', reason],
    ],
  );
  assert.deepEqual(await a.call(bRoot.vref, 'ping', [1]), { rejected: false, value: 2 });
});
