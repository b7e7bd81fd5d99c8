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
