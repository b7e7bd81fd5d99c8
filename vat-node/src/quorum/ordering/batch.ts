/**
 * The batch rules of a proposed block (S2, S3, reconfiguration).
 *
 * S3 integrity: every (sender, seq) is decided exactly once and in seq order: a block is valid
 * only if each sender's inputs continue that sender's sequence along the block's branch
 * (decided prefix + undecided ancestors), with no gap and no repeat. This also deduplicates
 * across views: an input proposed in an abandoned round is simply proposed again.
 *
 * Unseen inputs (S2): senders send every input to every member, but a member may get the
 * leader's proposal before the input itself. It then waits (does not vote) until the missing
 * inputs arrive, and its round timer stays armed; an input that carries `auth` (the sender's own
 * signature) is checked with `authenticateInput` and needs no wait. A proposal with an input
 * whose auth cannot be its sender's is refused outright; one whose auth the member cannot check
 * yet (a signature over a run of the sender's inputs, some of which it lacks) waits like an
 * unseen input. Refusing rather than waiting would be unsafe for
 * liveness (a member one message behind could never vote); voting blindly would let a leader
 * invent inputs (safety). The proposal carries the full inputs, so nobody fetches content.
 * Senders should sign their inputs: then a sender that gives different members different
 * inputs under one seq only gets one of them ordered (members check the signature of the
 * leader's pick); an unsigned one can keep the members that hold the other copy from voting,
 * and so stall every proposal carrying it.
 */
import { seqKey } from './pool.ts';
import type { BlockRecord, Branch, ReplicaState } from './state.ts';
import type { Block, BlockId, Input } from './types.ts';

export function record(
  s: ReplicaState,
  b: Block,
  id: BlockId,
  digests: readonly string[],
): BlockRecord {
  const last = b.inputs.at(-1);
  return {
    id,
    epoch: b.epoch,
    round: b.round,
    height: b.height,
    parent: b.parent,
    block: b,
    digests,
    reconfig: last !== undefined && reconfigures(s, last, b.height),
  };
}

export function reconfigures(s: ReplicaState, input: Input, height: number): boolean {
  if (input.kind !== 'reconfigure' || s.opts.reconfigure === undefined) return false;
  return typeof s.opts.reconfigure(s.config, input, height) !== 'string';
}

/**
 * The batch rules (S3 and reconfiguration): a reason if the block is invalid, else the
 * inputs this member still waits for (key → digest).
 */
export function checkBatch(
  s: ReplicaState,
  b: Block,
  digests: readonly string[],
  parent: BlockRecord,
): string | Map<string, string> {
  const branch = branchOf(s, parent);
  if (typeof branch === 'string') return branch;
  if (branch.reconfig && b.inputs.length > 0) return 'inputs after a reconfiguration';
  if (b.inputs.length > s.maxBatch) return `more than ${s.maxBatch} inputs`;
  let bytes = 0;
  const missing = new Map<string, string>();
  let blockInputs: Map<string, Input> | undefined;
  for (const [i, input] of b.inputs.entries()) {
    bytes += input.body.length;
    if (i < b.inputs.length - 1 && reconfigures(s, input, b.height)) {
      return 'a reconfiguration must end its batch';
    }
    const key = seqKey(input);
    const expected = branch.next.get(key) ?? s.pool.nextSeq(key);
    if (input.seq !== expected) {
      return `${input.kind} ${input.from} #${input.seq} out of order (expected #${expected})`;
    }
    branch.next.set(key, expected + 1);
    const pooled = s.pool.entry(key, input.seq);
    if (pooled !== undefined && pooled.digest === digests[i]) continue;
    // An accepted change request carries the administrator's signature: it vouches for itself.
    if (input.kind === 'reconfigure' && reconfigures(s, input, b.height)) continue;
    if (input.auth !== undefined && s.opts.authenticateInput !== undefined) {
      blockInputs ??= new Map(b.inputs.map((x) => [`${seqKey(x)}\u0000${x.seq}`, x]));
      const inBlock = blockInputs;
      const signed = s.opts.authenticateInput(
        input,
        (seq) => inBlock.get(`${key}\u0000${seq}`) ?? s.pool.entry(key, seq)?.input,
      );
      if (signed === false) {
        return `${input.kind} ${input.from} #${input.seq}: its sender did not sign it`;
      }
      if (signed === true) continue;
    }
    missing.set(`${key}\u0000${input.seq}`, digests[i]!);
  }
  if (bytes > s.maxBatchBytes) return `more than ${s.maxBatchBytes} bytes of inputs`;
  return missing;
}

/** What the undecided ancestors of (and including) `tip` already order. */
export function branchOf(s: ReplicaState, tip: BlockRecord): Branch | string {
  const next = new Map<string, number>();
  let reconfig = false;
  let hasInputs = false;
  const decided = s.decidedTip.height;
  let r: BlockRecord | undefined = tip;
  while (r.height > decided) {
    const inputs = r.block?.inputs ?? [];
    if (inputs.length > 0) hasInputs = true;
    if (r.reconfig) reconfig = true;
    for (const input of inputs) {
      const key = seqKey(input);
      if ((next.get(key) ?? 0) <= input.seq) next.set(key, input.seq + 1);
    }
    r = s.blocks.get(r.parent);
    if (r === undefined) return 'an ancestor is unknown';
  }
  if (r.id !== s.decidedTip.id) return 'does not extend the decided chain';
  return { next, reconfig, hasInputs };
}
