// The quorum's own rules, from the vat node's code (vat-node/src/quorum/): the operator builds
// a genesis, verifies configuration chains and signs change requests with exactly the code the
// members check them with, so the two cannot disagree on a byte. One import point: the operator
// image carries vat-node/ beside operator/ (Dockerfile), and the operator uses only these pure
// parts (no libp2p host, no kernel).

export {
  formatSturdyRef,
  parseSturdyRef,
  sturdyKey,
} from '../../../../vat-node/src/kernel/sturdyref.ts';
export {
  ChainError,
  type ChainRecord,
  type ChangeRequest,
  type ConfigChange,
  requestChange,
  verifyChain,
} from '../../../../vat-node/src/quorum/chain.ts';
export {
  checkGenesis,
  faultTolerance,
  type Genesis,
  makeGenesis,
  type QuorumConfig as ChainConfig,
  QuorumConfigError,
  quorumVatIdOf,
  type VatPin,
  vatPinOf,
} from '../../../../vat-node/src/quorum/config.ts';
export { canonicalJson } from '../../../../vat-node/src/vattp/codec.ts';
export { makeSigner } from '../../../../vat-node/src/vattp/signing.ts';
