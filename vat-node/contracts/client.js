// The vat of a command-line client: it holds references for the host and nothing else.
import { Far } from '@endo/far';

export function buildRootObject() {
  return Far('client', {});
}
