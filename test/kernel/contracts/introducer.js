// Contracts for three-party handoff tests: an introducer, a holder, and an exporter.
import { E, Far } from '@endo/far';

export function buildRootObject({ baggage }) {
  let count = 0;
  const mine = Far('service', {
    incr: (n) => {
      count += n;
      return count;
    },
    isMine: (x) => x === mine,
  });
  return Far('root', {
    service: () => mine,
    // Introducer: give `holder` the object `service` (which lives in a third vat).
    introduce: (holder, service) => E(holder).hold(service),
    // Holder: keep it (durably, so a restart does not lose it) and use it.
    hold: (service) => {
      if (baggage.has('service')) baggage.set('service', service);
      else baggage.init('service', service);
      return E(service).incr(1);
    },
    use: (n) => E(baggage.get('service')).incr(n),
    // Holder: hand the object on to another holder (a handoff of a handoff).
    passOn: (holder) => E(holder).hold(baggage.get('service')),
    // Send the object back to its own vat: it must recognize it.
    sendHome: () => {
      const s = baggage.get('service');
      return E(s).isMine(s);
    },
  });
}
