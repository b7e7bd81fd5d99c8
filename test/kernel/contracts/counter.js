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
    bigString: () => 'x'.repeat(2 ** 28).length,
    bigArray: () => new Array(1e9).join().length,
    callPeer: (peer, method, ...args) => E(peer)[method](...args),
    bangCall: (peer, n) => peer ! incr(n),
  });
}
