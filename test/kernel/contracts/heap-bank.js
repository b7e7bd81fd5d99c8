// A bank that keeps everything in its heap (kernel tests of replicas restarted by replay): the
// balances, the accounts it hands out (plain Far objects), the promises it settles later and a
// running count of calls. A fresh heap forgets all of it; a heap rebuilt by replay does not.
import { Far } from '@endo/far';

export function buildRootObject() {
  const balances = new Map();
  const waiters = [];
  let calls = 0;
  const account = (name) =>
    Far('account', {
      deposit: (n) => {
        calls++;
        balances.set(name, (balances.get(name) ?? 0) + n);
        return balances.get(name);
      },
      balance: () => balances.get(name) ?? 0,
    });
  return Far('bank', {
    open: (name) => {
      calls++;
      if (!balances.has(name)) balances.set(name, 0);
      return account(name);
    },
    deposit: (name, n) => {
      calls++;
      balances.set(name, (balances.get(name) ?? 0) + n);
      return balances.get(name);
    },
    // Settled by the next `release`: pending in the heap until then.
    later: () => new Promise((resolve) => waiters.push(resolve)),
    release: (v) => {
      const n = waiters.length;
      for (const resolve of waiters.splice(0)) resolve(harden({ v, calls }));
      return n;
    },
    report: () => harden({ calls, balances: [...balances].sort() }),
  });
}
