// An append-only log kept durably (baggage: a member restarted from its store has it all), the
// crash test's deterministic contract. append(x) returns x's sequence number (1, 2, …); digest()
// the count and a running hash over every entry in order; slice(from, count) reads entries back.
import { Far } from '@endo/far';

/** FNV-1a (32 bits) of `text`, continuing from `h`: the same function as crash.test.ts. */
const fnv = (h, text) => {
  let x = h;
  for (let i = 0; i < text.length; i++) {
    x ^= text.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
};

export function buildRootObject({ baggage }) {
  if (!baggage.has('n')) {
    baggage.init('n', 0);
    baggage.init('hash', 0x811c9dc5);
  }
  return Far('ledger', {
    append: (x) => {
      const n = baggage.get('n') + 1;
      baggage.init(`e${n}`, x);
      baggage.set('n', n);
      baggage.set('hash', fnv(baggage.get('hash'), `${n}:${JSON.stringify(x)}`));
      return n;
    },
    digest: () => harden({ count: baggage.get('n'), hash: baggage.get('hash') }),
    slice: (from, count) => {
      const out = [];
      const n = baggage.get('n');
      for (let i = from + 1; i <= Math.min(n, from + count); i++) out.push(baggage.get(`e${i}`));
      return harden(out);
    },
  });
}
