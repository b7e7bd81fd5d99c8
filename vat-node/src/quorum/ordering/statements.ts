/**
 * What ordering members sign (../signatures.ts statements, so a vote can never pass for a
 * checkpoint, an outbound message or another quorum's statement), and how blocks and inputs are
 * named (SHA-256, lower-case hex).
 */
import { createHash } from 'node:crypto';
import type { VatId } from '../../protocol/identity.ts';
import { statementBytes } from '../signatures.ts';
import type { Block, BlockId, Input } from './types.ts';

/**
 * The leader's statement: "I propose block `blockId` in this round". The block id covers the
 * round too; naming it here lets anyone check equivocation evidence without the blocks.
 */
export function proposalStatement(
  quorum: VatId,
  epoch: number,
  round: number,
  blockId: BlockId,
): Uint8Array {
  return statementBytes('proposal', { quorum, epoch, round, blockId });
}

/** The last vote statements made: every member's vote on one block has the same bytes. */
const recentVotes = new Map<string, Uint8Array>();

export function voteStatement(
  quorum: VatId,
  epoch: number,
  round: number,
  blockId: BlockId,
): Uint8Array {
  const key = `${quorum}|${epoch}|${round}|${blockId}`;
  let bytes = recentVotes.get(key);
  if (bytes === undefined) {
    bytes = statementBytes('vote', { quorum, epoch, round, blockId });
    if (recentVotes.size >= 256) recentVotes.delete(recentVotes.keys().next().value!);
    recentVotes.set(key, bytes);
  }
  return bytes;
}

/** "I give up on `round`; my highest QC is of round `highQcRound`" (the view change). */
export function timeoutStatement(
  quorum: VatId,
  epoch: number,
  round: number,
  highQcRound: number,
): Uint8Array {
  return statementBytes('timeout', { quorum, epoch, round, highQcRound });
}

export function checkpointStatement(
  quorum: VatId,
  epoch: number,
  height: number,
  hash: string,
): Uint8Array {
  return statementBytes('checkpoint', { quorum, epoch, height, hash });
}

/**
 * What a checkpoint statement signs when the executor reports its state too: one digest of the
 * transcript hash and the state digest (member/snapshot.ts), so the message, the evidence and
 * their checks keep one `hash` field.
 */
export function checkpointValue(transcriptHash: string, stateDigest: string): string {
  return createHash('sha256')
    .update(`quorumvat-checkpoint-v1\n${transcriptHash}\n${stateDigest}`)
    .digest('hex');
}

/** Digest of one input (kind, sender, seq, body; not its auth, which only vouches for it). */
export function inputDigest(input: Input): string {
  return createHash('sha256')
    .update(`quorumvat-input-v1\n${input.kind}\n${JSON.stringify(input.from)}\n${input.seq}\n`)
    .update(input.body)
    .digest('hex');
}

/**
 * A block's id: its header and the digests of its inputs. The justify QC is named by round and
 * block only (its signatures may differ between copies), the TC by its round.
 */
export function blockIdOf(quorum: VatId, block: Block, digests: readonly string[]): BlockId {
  const h = createHash('sha256');
  h.update(
    `quorumvat-block-v1\n${JSON.stringify(quorum)}\n${block.epoch}\n${block.round}\n${block.height}\n` +
      `${block.parent}\n${block.justify.round}\n${JSON.stringify(block.proposer)}\n` +
      `${block.tc?.round ?? -1}\n${digests.length}\n`,
  );
  for (const d of digests) h.update(d);
  return h.digest('hex');
}

/** The id of epoch 0's root block (height 0, decided by definition). */
export function genesisBlockId(quorum: VatId): BlockId {
  return createHash('sha256').update(`quorumvat-genesis-block-v1\n${quorum}`).digest('hex');
}
