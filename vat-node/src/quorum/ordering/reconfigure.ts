/**
 * The ordering core's reconfiguration hook over the configuration chain (../chain.ts): a
 * `reconfigure` input's body is the canonical JSON of `{request, admin}` (an administrator's
 * signed change request); it takes effect when the quorum decides it at height H, so the new
 * configuration is in force from H + 1 (`since`). Members then certify the change record
 * (chain.ts changeStatement) for anyone who verifies the chain from genesis.
 */
import { canonicalJson } from '../../vattp/codec.ts';
import { type ChangeRequest, checkSignedRequest } from '../chain.ts';
import type { QuorumConfig } from '../config.ts';
import type { Input, Reconfigure } from './types.ts';

/** The input carrying an administrator's signed change request (sequenced per administrator). */
export function reconfigureInput(
  request: ChangeRequest,
  admin: string,
  from: string,
  seq: number,
): Input {
  return {
    kind: 'reconfigure',
    from,
    seq,
    body: Buffer.from(canonicalJson({ admin, request }), 'utf8'),
  };
}

export const reconfigureFromChain: Reconfigure = (
  current: QuorumConfig,
  input: Input,
  height: number,
) => {
  let parsed: { request?: unknown; admin?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(input.body).toString('utf8'));
  } catch {
    return 'reconfigure: body is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.admin !== 'string') {
    return 'reconfigure: body is not {request, admin}';
  }
  try {
    return checkSignedRequest(current, parsed.request as ChangeRequest, parsed.admin, height);
  } catch (err) {
    return `reconfigure: ${err instanceof Error ? err.message : String(err)}`;
  }
};
