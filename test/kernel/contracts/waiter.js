// Promises that stay pending until released, across vats (kernel tests of departed clients).
import { E, Far } from '@endo/far';

export function buildRootObject() {
  const waiters = [];
  return Far('root', {
    // Settled when this vat's `release` is called.
    later: () => new Promise((resolve) => waiters.push(resolve)),
    release: (v) => {
      for (const resolve of waiters.splice(0)) resolve(v);
      return 'released';
    },
    ping: () => 'pong',
    callPeer: (peer, method, ...args) => E(peer)[method](...args),
  });
}
