// The container tests' contract: a durable total (it must survive docker stop / kill), a crank
// that takes a while (to stop a node in the middle of one), and a call to another vat.
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage }) {
  if (!baggage.has('total')) baggage.init('total', 0);
  const add = (n) => {
    const total = baggage.get('total') + n;
    baggage.set('total', total);
    return total;
  };
  return Far('ledger', {
    add,
    total: () => baggage.get('total'),
    // A metered loop (about a second for a few million iterations), then an add.
    spin: (iterations, n) => {
      let x = 0;
      for (let i = 0; i < iterations; i++) x += i % 7;
      return x >= 0 ? add(n) : 0;
    },
    callPeer: (peer, method, ...args) => E(peer)[method](...args),
  });
}
