// Contract for the kernel-local bench: vat A drives load at vat B's counter.
import { E, Far } from '@endo/far';

export function buildRootObject() {
  const counter = Far('counter', { incr: (n) => n + 1 });
  const d = Far('d', { d: () => 'done' });
  const c = Far('c', { c: () => d });
  const a = Far('a', { b: () => c });
  return Far('root', {
    counter: () => counter,
    a: () => a,
    // n calls awaited one at a time.
    sequential: async (peer, n) => {
      for (let i = 0; i < n; i++) {
        const r = await E(peer).incr(i);
        if (r !== i + 1) throw Error(`incr(${i}) returned ${r}`);
      }
      return n;
    },
    // n calls in flight at once.
    burst: async (peer, n) => {
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(E(peer).incr(i));
      const rs = await Promise.all(ps);
      return rs.length;
    },
    // k pipelined chains E(E(E(a).b()).c()).d(), one at a time.
    chains: async (peerA, k) => {
      for (let i = 0; i < k; i++) {
        const r = await E(E(E(peerA).b()).c()).d();
        if (r !== 'done') throw Error(`chain returned ${r}`);
      }
      return k;
    },
  });
}
