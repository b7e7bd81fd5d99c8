/**
 * Makes a member process Byzantine, for byzantine.test.ts: loaded with `node --import` before
 * member-node.ts, it wraps the REAL member runtime (the same module instances the vat node
 * uses) where it speaks to others, and nothing else:
 *
 *   equivocate   as the leader of a round, it sends its proposal to one member and a second,
 *                different proposal for the same round (inputs reordered or dropped, its own
 *                valid signature) to the others;
 *   forge        every message its vat sends to a non-member (the outbound VatTP frames a
 *                solo vat receives) carries forged content: each number in it becomes 4242;
 *   lie          the transcript hash it reports for each executed height (from LIE_FROM on)
 *                is made up.
 *
 * Only with QUORUMVAT_BYZANTINE=1 in the environment (the test sets it for one member).
 */
import { createHash } from 'node:crypto';
import { QuorumMember } from '../../vat-node/src/quorum/member/member.ts';
import { Replica } from '../../vat-node/src/quorum/ordering/replica.ts';
import {
  blockIdOf,
  inputDigest,
  proposalStatement,
} from '../../vat-node/src/quorum/ordering/statements.ts';
import type { Block, ReplicaAction } from '../../vat-node/src/quorum/ordering/types.ts';

/**
 * Lies start at this height: a member whose hash differs from what k others certified halts
 * itself, and it should first lead (and equivocate in) a few rounds.
 */
const LIE_FROM = 8;

/** One stdout line the first time each misdeed is done (the test checks they were done). */
const done = new Set<string>();
function did(act: string): void {
  if (done.has(act)) return;
  done.add(act);
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'byzantine', act })}\n`);
}

if (process.env['QUORUMVAT_BYZANTINE'] === '1') {
  type Handle = Replica['handle'];
  const handle: Handle = Replica.prototype.handle;
  Replica.prototype.handle = function (this: Replica, event) {
    const lie = event.type === 'executed' && event.height >= LIE_FROM;
    if (lie) did('lied');
    const e =
      lie && event.type === 'executed'
        ? { ...event, hash: createHash('sha256').update(`lie ${event.height}`).digest('hex') }
        : event;
    const out = handle.call(this, e);
    return out.flatMap((a) => equivocate(this, a));
  };

  const unacked = QuorumMember.prototype.unacked;
  QuorumMember.prototype.unacked = function (this: QuorumMember, peer, afterSeq) {
    const real = unacked.call(this, peer, afterSeq);
    if (this.chain.current.members.includes(peer) || real.length === 0) return real;
    did('forged');
    return real.map((s) => ({
      ...s,
      msg: JSON.parse(JSON.stringify(s.msg).replace(/"body":"#\d+"/g, '"body":"#4242"')),
    }));
  };
}

/** Its own proposal broadcast: the real one to the first other member, a forged one to the rest. */
function equivocate(replica: Replica, a: ReplicaAction): ReplicaAction[] {
  if (a.type !== 'broadcast' || a.message.type !== 'proposal') return [a];
  const { block } = a.message;
  if (block.proposer !== replica.self) return [a];
  const inputs = block.inputs.length > 1 ? [...block.inputs].reverse() : [];
  const forged: Block = { ...block, inputs };
  // The replica's state holds its quorum VatID and signing key (private in TypeScript only).
  const s = (replica as unknown as { state: { quorum: string; crypto: { sign: Sign } } }).state;
  const id = blockIdOf(s.quorum, forged, inputs.map(inputDigest));
  const sig = s.crypto.sign(proposalStatement(s.quorum, block.epoch, block.round, id));
  did('equivocated');
  const others = replica.configuration.members.filter((m) => m !== replica.self);
  return others.map((to, i) => ({
    type: 'send',
    to,
    message: i === 0 ? a.message : { type: 'proposal', block: forged, sig },
  }));
}

type Sign = (bytes: Uint8Array) => Uint8Array;
