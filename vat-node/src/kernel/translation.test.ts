import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VRef } from '../liveslots/protocol.ts';
import { isProtocolError } from '../protocol/errors.ts';
import { identityCerts, LocalIdentities } from './handoff.ts';
import { KernelKeeper, MemoryBacking } from './keeper.ts';
import { newPromise } from './promises.ts';
import { CListTranslator } from './translation.ts';

function setup(vatId = 'A', ids?: LocalIdentities) {
  const keeper = new KernelKeeper(new MemoryBacking());
  const handedOut: VRef[] = [];
  const identity = ids?.identity(vatId);
  const t = new CListTranslator(keeper, vatId, identity && identityCerts(identity), {
    handedOut: (vref) => handedOut.push(vref),
    setResolution: (vref, res) => {
      keeper.updatePromise(vref, (p) => {
        p.resolution = res;
      });
    },
  });
  return { keeper, t, handedOut };
}

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isProtocolError(e) ? e.code : `not a ProtocolError: ${e}`;
  }
  return 'ok';
};

test('our refs go out as indices we allocate, come back flipped, and name the same vref', () => {
  const { t, handedOut } = setup();
  assert.equal(t.exportTo('B', 'o+0'), 'o+1');
  assert.equal(t.exportTo('B', 'p+4'), 'p+1');
  assert.deepEqual(handedOut, ['o+0', 'p+4'], 'checkpoints learn what left the vat');
  // B writes our o+1 as o-1 (its import).
  assert.equal(t.importFrom('B', 'o-1', 'target'), 'o+0');
  assert.equal(t.importFrom('B', 'p-1', 'arg'), 'p+4');
});

test("a peer's own refs become imports once, and stay the same import", () => {
  const { t, keeper } = setup();
  const obj = t.importFrom('B', 'o+5', 'arg');
  assert.match(obj, /^o-\d+$/);
  assert.equal(t.importFrom('B', 'o+5', 'arg'), obj);
  assert.deepEqual(keeper.imports.get(obj), { peer: 'B', wire: 'o-5' });
  // Sending to it goes back as B's own index.
  assert.equal(t.exportTo('B', obj), 'o-5');
  // A fresh result promise of B's is a promise we decide.
  const result = t.importFrom('B', 'p+9', 'result');
  assert.equal(keeper.promises.get(result)?.decider, null);
});

test('a peer can name only what it was given, and only in its role', () => {
  const { t } = setup();
  t.exportTo('B', 'o+0');
  assert.equal(
    code(() => t.importFrom('B', 'o-7', 'arg')),
    'unknown-ref',
    'an index we never gave',
  );
  assert.equal(
    code(() => t.importFrom('B', 'o+3', 'target')),
    'not-decider',
    'a message to its own object',
  );
  assert.equal(
    code(() => t.importFrom('B', 'p-1', 'result')),
    'unknown-ref',
  );
  assert.equal(
    code(() => t.importFrom('B', 'nonsense', 'arg')),
    'malformed',
  );
  t.importFrom('B', 'p+2', 'result');
  assert.equal(
    code(() => t.importFrom('B', 'p+2', 'result')),
    'not-fresh',
  );
});

test('a settled promise goes out as a fresh promise, settled after (once per message)', () => {
  const { t, keeper } = setup();
  const rec = newPromise(null);
  rec.resolution = { rejected: false, data: { body: '#1', slots: [] } };
  keeper.addPromise('p+1', rec);
  const settled = new Map<VRef, VRef>();
  const out = t.capDataTo('B', { body: '#["$0","$1"]', slots: ['p+1', 'p+1'] }, settled);
  assert.equal(out.slots[0], out.slots[1], 'the same fresh promise for both mentions');
  const fresh = settled.get('p+1')!;
  assert.notEqual(fresh, 'p+1');
  assert.deepEqual(keeper.promises.get(fresh)?.resolution, rec.resolution);
});

test("a third vat's object travels as a handoff certificate, one per recipient; without an identity it is proxied", () => {
  const ids = new LocalIdentities();
  const { t } = setup('A', ids);
  const cObj = t.importFrom('C', 'o+2', 'arg');
  const cert = t.exportTo('B', cObj);
  assert.ok(cert.startsWith('h:'), cert);
  assert.equal(t.exportTo('B', cObj), cert, 'the same certificate for the same recipient');
  assert.notEqual(t.exportTo('D', cObj), cert);
  const plain = setup('A');
  const proxied = plain.t.importFrom('C', 'o+2', 'arg');
  assert.match(plain.t.exportTo('B', proxied), /^o\+\d+$/);
  assert.equal(
    code(() => plain.t.readCert(cert)),
    'unsupported',
  );
});
