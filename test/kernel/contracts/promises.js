// Promise traffic for the retirement tests (kernel.ts: settled promises leave the tables).
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage, defineKind }) {
  const makeCell = defineKind('cell', (v) => ({ v }), {
    get: ({ state }) => state.v,
    hi: () => 'hi',
  });
  if (!baggage.has('cell')) baggage.init('cell', makeCell(1));
  const waiters = [];
  return Far('root', {
    value: (x) => x,
    cell: () => baggage.get('cell'),
    thing: () => Far('thing', { hi: () => 'hi' }),
    data: () => 42,
    // A promise this vat settles later (on release): pending in its heap until then.
    later: () => new Promise((resolve) => waiters.push(resolve)),
    release: (v) => {
      for (const resolve of waiters.splice(0)) resolve(v);
    },
    await: (p) => p,
    // Many calls in flight at once, each with a result.
    many: async (peer, n) => {
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(E(peer).value(i));
      return (await Promise.all(ps)).reduce((a, b) => a + b, 0);
    },
    // Messages pipelined to results before they settle.
    pipelined: (peer, n) => {
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(E(E(peer).thing()).hi());
      return Promise.all(ps);
    },
    // Promises inside settlements (a record holding a promise) and promises as arguments.
    nested: async (peer) => {
      const inner = E(peer).value(5);
      const outer = await E(peer).value(harden({ inner }));
      return E(peer).await(outer.inner);
    },
    // A settled promise kept and passed on later, to `to` (the decider itself or a third vat).
    keepAndPass: async (peer, v, to) => {
      const p = E(peer).value(v);
      await p;
      return E(to).await(p);
    },
    pending: (peer) => E(peer).later(),
  });
}
