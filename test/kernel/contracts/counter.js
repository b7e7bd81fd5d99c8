// A small contract for kernel tests: a durable counter, a pipelining chain, and a few
// misbehaviours (infinite loop, memory bomb, deep recursion) that metering must contain.
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage, defineKind }) {
  const makeCounter = defineKind('counter', (start) => ({ count: start }), {
    incr({ state }, n) {
      state.count += n;
      return state.count;
    },
    get({ state }) {
      return state.count;
    },
    incrThenLoop({ state }, n) {
      state.count += n;
      for (;;) {}
    },
  });
  if (!baggage.has('counter')) baggage.init('counter', makeCounter(0));
  const counter = baggage.get('counter');

  const makeLink = (depth) =>
    Far('link', {
      next: () => makeLink(depth + 1),
      depth: () => depth,
    });

  const makeLog = () => {
    const entries = [];
    return Far('log', {
      append: (x) => {
        entries.push(x);
      },
      entries: () => harden([...entries]),
    });
  };

  return Far('root', {
    counter: () => counter,
    incr: (n) => counter.incr(n),
    a: () => makeLink(1),
    echo: (x) => x,
    fail: (msg) => {
      throw Error(msg);
    },
    loop: () => {
      for (;;) {}
    },
    incrThenLoop: (n) => counter.incrThenLoop(n),
    recurse: () => {
      const f = (n) => f(n + 1) + 1;
      return f(0);
    },
    recurseCaught: () => {
      const f = (n) => {
        try {
          return f(n + 1);
        } catch {
          return n;
        }
      };
      return f(0);
    },
    bigString: () => 'x'.repeat(2 ** 28).indexOf('y'),
    bigFill: () => new Array(2 ** 27).fill(0).length,
    bigArray: () => new Array(1e9).join().length,
    heapBomb: () => {
      const hoard = [];
      for (;;) hoard.push(new Array(1e6).fill(1));
    },
    // Catastrophic regex backtracking: seconds of work inside one builtin, no gas spent.
    slowRegex: () => /^(a+)+$/.test(`${'a'.repeat(34)}b`),
    callPeer: (peer, method, ...args) => E(peer)[method](...args),
    bangCall: (peer, n) => peer ! incr(n),
    chain: (peer) => E(E(E(peer).a()).next()).depth(),
    bangChain: (peer) => peer ! a() ! next() ! depth(),
    reflect: (x) => x,
    // E.sendOnly: no result promise travels; E.when: a reaction to an eventual result.
    sendOnlyIncr: (peer, n) => {
      E.sendOnly(peer).incr(n);
      return 'sent';
    },
    whenDoubled: (peer, n) => E.when(E(peer).incr(n), (v) => v * 2),
    sendUnpassable: (peer, kind) => {
      const values = { function: () => 1, map: new Map(), symbol: Symbol('local') };
      return E(peer).echo(values[kind]);
    },
    makeLog: () => makeLog(),
    // E-order through a promise that resolves back to one of our own objects: messages 1..n
    // go through the peer (pipelined on the unresolved promise), the rest directly after it
    // resolves. The log must read 1..total in order.
    orderRace: (peer, pipelined, total) => {
      const log = makeLog();
      const p = E(peer).reflect(log);
      for (let i = 1; i <= pipelined; i++) E(p).append(i);
      return E.when(p, async () => {
        for (let i = pipelined + 1; i <= total; i++) E(p).append(i);
        return E(p).entries();
      });
    },
  });
}
