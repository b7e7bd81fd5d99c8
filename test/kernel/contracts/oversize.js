// A contract that sends messages too large for a VatTP frame between small ones: the large
// ones must be refused at the sender, the small ones must all arrive, in order.
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage }) {
  // Durable: a vat node may start a fresh worker between cranks.
  if (!baggage.has('got')) baggage.init('got', harden([]));
  const big = (chars) => 'x'.repeat(chars);
  return Far('root', {
    // The receiver's side: log each arrival (its label and the size of what came).
    take: (label, s) => {
      baggage.set('got', harden([...baggage.get('got'), [label, s.length]]));
      return s.length;
    },
    got: () => baggage.get('got'),
    // A result too large to go back to the caller.
    bigAnswer: (chars) => big(chars),
    // The sender's side: one call with a `chars`-character argument.
    sendBig: (peer, chars) => E(peer).take('big', big(chars)),
    // The same without a result promise.
    sendBigOnly: (peer, chars) => {
      E.sendOnly(peer).take('big-only', big(chars));
      return 'sent';
    },
    // In one crank: a small send, the large one, a small one; each outcome, settled or not.
    sendAround: (peer, chars) => {
      const sends = [
        E(peer).take('before', 'a'),
        E(peer).take('big', big(chars)),
        E(peer).take('after', 'bb'),
      ];
      return Promise.allSettled(sends).then((all) =>
        harden(all.map((r) => (r.status === 'fulfilled' ? r.value : `rejected: ${r.reason.message}`))),
      );
    },
    callPeer: (peer, method, ...args) => E(peer)[method](...args),
  });
}
