// Contracts for refused three-party handoffs: a sender that pipelines behind a handoff.
import { E, Far } from '@endo/far';

const outcome = (s) => (s.status === 'fulfilled' ? s.value : String(s.reason?.message ?? s.reason));

export function buildRootObject() {
  let count = 0;
  const mine = Far('service', { incr: (n) => (count += n) });
  return Far('root', {
    service: () => mine,
    hold: (service) => E(service).incr(1),
    ping: (n) => n + 1,
    // Send `holder` a third vat's object, pipeline on that message's result, send it again,
    // then an unrelated message: how each one settled.
    introduce: async (holder, service) => {
      const held = E(holder).hold(service);
      const piped = E(held).toFixed(1);
      const again = E(holder).hold(service);
      const later = E(holder).ping(41);
      return (await Promise.allSettled([held, piped, again, later])).map(outcome);
    },
  });
}
