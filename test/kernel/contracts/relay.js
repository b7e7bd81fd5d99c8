// Three-vat pipelining: A asks B for C's log; B forwards to C. A pipelines appends on the
// answer (long path A→B→C), then, once it resolves, appends directly (short path A→C).
import { E, Far } from '@endo/far';

export function buildRootObject() {
  const entries = [];
  const log = Far('log', {
    append: (x) => {
      entries.push(x);
    },
    entries: () => harden([...entries]),
  });
  return Far('root', {
    log: () => log,
    // B: forward to C without waiting (the result is C's promise).
    relay: (c) => E(c).log(),
    ping: () => 0,
    // A: appends through p one at a time, each after a round trip to B, so that some are on
    // their way to B when B resolves p (and travel on to C the long way) while later ones,
    // sent after A learned the resolution, go to C directly.
    trickle: async (b, c, n) => {
      const p = E(b).relay(c);
      for (let i = 1; i <= n; i++) {
        E(p).append(i);
        await E(b).ping();
      }
      return E(p).entries();
    },
    // A: the race.
    race: (b, c, pipelined, total) => {
      const p = E(b).relay(c);
      for (let i = 1; i <= pipelined; i++) E(p).append(i);
      return E.when(p, () => {
        for (let i = pipelined + 1; i <= total; i++) E(p).append(i);
        return E(p).entries();
      });
    },
  });
}
