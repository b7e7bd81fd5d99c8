// A vat whose start takes a while (a metered loop in buildRootObject): the node's store is open
// but the vat is not running yet, so /readyz must say "starting" for a measurable time.
import { Far } from '@endo/far';

export function buildRootObject() {
  let x = 0;
  for (let i = 0; i < 4_000_000; i++) x += i % 3;
  return Far('slow', { started: () => x > 0 });
}
