// E-order when a promise resolves to the sender's object, the receiver's, or a third vat's
// (test/kernel/eorder-home.test.ts, test/network/eorder.test.ts). Logs record every append, so
// a test sees the exact order and that each message arrived exactly once.
import { E, Far } from '@endo/far';

export function buildRootObject() {
  const makeLog = (name) => {
    const entries = [];
    return Far(`log ${name}`, {
      append: (x) => {
        entries.push(x);
      },
      entries: () => harden([...entries]),
    });
  };
  const log = makeLog('root');
  return Far('root', {
    log: () => log,
    makeLog: (name) => makeLog(name),
    reflect: (x) => x,
    ping: () => 0,
    // B: forward to C without waiting (the result is C's promise).
    relay: (c, name) => E(c).makeLog(name),
    // The case: p resolves to A's own log; sends before and after a round trip.
    homeAfterPing: async (b) => {
      const p = E(b).reflect(log);
      E(p).append(1);
      await E(b).ping();
      E(p).append(2);
      return E(p).entries();
    },
    callAppend: (target, x) => E(target).append(x),
    sendOnlyAppend: (target, x) => {
      E.sendOnly(target).append(x);
      return 'sent';
    },
    // Runs out of gas: the crank fails and the worker (with its heap) is replaced.
    spin: () => {
      for (;;) {}
    },
    // A script of sends, round trips and awaits (see the tests for the steps). `where` says
    // what p resolves to: a log of this vat ('home'), of B ('receiver') or of C ('third').
    run: async (b, c, where, steps) => {
      const p =
        where === 'home'
          ? E(b).reflect(makeLog('home'))
          : where === 'receiver'
            ? E(b).makeLog('receiver')
            : E(b).relay(c, 'third');
      let v;
      let n = 0;
      const results = [];
      for (const step of steps) {
        if (step === 'p') results.push(E(p).append((n += 1)));
        else if (step === 'v') results.push(E(v).append((n += 1)));
        else if (step === 'ping') await E(b).ping();
        else if (step === 'pingc') await E(c).ping();
        else if (step === 'learn') v = await p;
        else throw Error(`unknown step ${step}`);
      }
      // Sent after every append: E-order puts it behind them all.
      const inOrder = E(p).entries();
      const settled = await Promise.all(results);
      return harden({ inOrder: await inOrder, all: await E(p).entries(), settled: settled.length });
    },
  });
}
