// Records what it is told, in order (quorum client tests: exactly once, in order).
import { Far } from '@endo/far';

export function buildRootObject() {
  const entries = [];
  return Far('root', {
    note: (x) => {
      entries.push(x);
      return entries.length;
    },
    entries: () => harden([...entries]),
  });
}
