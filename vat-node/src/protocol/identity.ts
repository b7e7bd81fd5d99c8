/**
 * Who a vat is. A VatId is the canonical string of an Ed25519 libp2p PeerId (vattp/identity.ts
 * derives it from the vat's key), or any unique name for in-process vats (tests, the demo).
 */
export type VatId = string;

/**
 * A vat's identity as the kernel and the transport use it: sign with this vat's key, check
 * another vat's signature by its VatId (the public key derives from the VatId). The one
 * identity type: a vat node's key (vattp/identity.ts) and in-process identities
 * (kernel/handoff.ts LocalIdentities) both implement it.
 */
export interface VatIdentity {
  readonly vatId: VatId;
  sign(data: Uint8Array): Uint8Array;
  /** True only for a valid signature by `signer`; false (never a throw) for a bad VatId. */
  verify(signer: VatId, data: Uint8Array, signature: Uint8Array): boolean;
}
