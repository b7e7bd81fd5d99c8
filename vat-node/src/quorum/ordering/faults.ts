/**
 * Byzantine behaviours for the simulated network (tests only): each wraps what a member's own
 * replica emits, or injects hostile messages, with the member's real key.
 */

import type { VatId } from '../../protocol/identity.ts';
import { assembleCertificate } from '../certificate.ts';
import { rootQC } from './certificates.ts';
import type { Behaviour, Sim, SimMember } from './sim.ts';
import {
  blockIdOf,
  genesisBlockId,
  inputDigest,
  proposalStatement,
  timeoutStatement,
  voteStatement,
} from './statements.ts';
import type { Block, OrderingMessage, QC } from './types.ts';

/**
 * As leader, sends a different (valid, signed) block to half of the other members: the same
 * header with half of the inputs. Votes for both blocks (vote equivocation too).
 */
export function equivocatingLeader(quorum: VatId): Behaviour {
  return (sim, m, a) => {
    if (a.type !== 'broadcast' || a.message.type !== 'proposal') return [a];
    const p = a.message;
    if (p.block.inputs.length === 0) return [a];
    const alt: Block = {
      ...p.block,
      inputs: p.block.inputs.slice(0, Math.floor(p.block.inputs.length / 2)),
    };
    const altId = blockIdOf(quorum, alt, alt.inputs.map(inputDigest));
    const altSig = m.sign(proposalStatement(quorum, alt.epoch, alt.round, altId));
    const others = m.replica.configuration.members.filter((x) => x !== m.id);
    const half = Math.floor(others.length / 2);
    for (const [i, to] of others.entries()) {
      sim.send(m.id, to, i < half ? p : { type: 'proposal', block: alt, sig: altSig });
    }
    const vote: OrderingMessage = {
      type: 'vote',
      epoch: alt.epoch,
      round: alt.round,
      blockId: altId,
      signer: m.id,
      sig: m.sign(voteStatement(quorum, alt.epoch, alt.round, altId)),
      proposalSig: altSig,
    };
    for (const to of others) sim.send(m.id, to, vote);
    return [];
  };
}

/**
 * Lies in view changes: its timeouts claim the epoch's root as its highest certificate (signed
 * as such), trying to make the next leader extend an old block and undo a decision. Genesis
 * epoch only (the root QC of later epochs names another block).
 */
export function staleTimeouts(quorum: VatId): Behaviour {
  return (_sim, m, a) => {
    if (a.type !== 'broadcast' || a.message.type !== 'timeout' || a.message.epoch !== 0) {
      return [a];
    }
    const t = a.message;
    return [
      {
        type: 'broadcast',
        message: {
          ...t,
          highQC: rootQC(m.replica.configuration, genesisBlockId(quorum)),
          sig: m.sign(timeoutStatement(quorum, t.epoch, t.round, 0)),
        },
      },
    ];
  };
}

/** Both lies at once. */
export function twoFaced(quorum: VatId): Behaviour {
  const e = equivocatingLeader(quorum);
  const s = staleTimeouts(quorum);
  return (sim, m, a) => e(sim, m, a).flatMap((x) => s(sim, m, x));
}

/**
 * As leader, proposes (signed) blocks that break the sequence rules: an input repeated, or one
 * that was never sent (a forged message from a sender). Honest members refuse them.
 */
export function invalidBatches(quorum: VatId): Behaviour {
  let n = 0;
  return (_sim, m, a) => {
    if (a.type !== 'broadcast' || a.message.type !== 'proposal') return [a];
    const p = a.message.block;
    const forged = {
      kind: 'message' as const,
      from: 'nobody',
      seq: 1,
      body: Buffer.from('forged'),
    };
    const inputs =
      n++ % 2 === 0 && p.inputs.length > 0 ? [...p.inputs, p.inputs[0]!] : [...p.inputs, forged];
    const block: Block = { ...p, inputs };
    const id = blockIdOf(quorum, block, inputs.map(inputDigest));
    const sig = m.sign(proposalStatement(quorum, block.epoch, block.round, id));
    return [{ type: 'broadcast', message: { type: 'proposal', block, sig } }];
  };
}

/** Drops everything: a member that crashed without anyone knowing. */
export const silent: Behaviour = () => [];

/**
 * Every `everyMs`, sends one hostile message to a random member: junk values, forged or
 * mis-attributed signatures, forged certificates, replays of other members' messages,
 * forged sync replies. It otherwise behaves honestly (so it also holds a real key and votes).
 */
export function startForger(sim: Sim, m: SimMember, everyMs: number, untilMs: number): void {
  const captured: OrderingMessage[] = [];
  const inner = m.behaviour;
  m.behaviour = (s, self, a) => {
    if ((a.type === 'broadcast' || a.type === 'send') && captured.length < 200) {
      captured.push(a.message);
    }
    return inner ? inner(s, self, a) : [a];
  };
  const members = () => m.replica.configuration.members.filter((x) => x !== m.id);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(sim.rand() * xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(sim.rand() * 256));
  const hex = () => Buffer.from(bytes(32)).toString('hex');
  const quorum = m.replica.configuration.quorum;
  const forgedQC = (round: number): QC => {
    const blockId = hex();
    const votes = members().map((signer) => [signer, bytes(64)] as const);
    return { ...assembleCertificate(m.replica.configuration, votes), round, blockId };
  };
  const makers: (() => unknown)[] = [
    () => null,
    () => 42,
    () => 'vote',
    () => [1, 2, 3],
    () => ({ type: 'vote' }),
    () => ({ type: 'proposal', block: { epoch: -1 } }),
    () => ({ type: 'nonsense', x: 1 }),
    () => ({ type: 'vote', epoch: 0, round: 1e300, blockId: hex(), signer: m.id }),
    // a vote with a garbage signature
    () => ({
      type: 'vote',
      epoch: m.replica.epoch,
      round: m.replica.currentRound,
      blockId: hex(),
      signer: m.id,
      sig: bytes(64),
      proposalSig: bytes(64),
    }),
    // a vote claiming to be another member's (signed with our own key)
    () => {
      const round = m.replica.currentRound;
      const blockId = hex();
      return {
        type: 'vote',
        epoch: m.replica.epoch,
        round,
        blockId,
        signer: pick(members()),
        sig: m.sign(voteStatement(quorum, m.replica.epoch, round, blockId)),
        proposalSig: bytes(64),
      };
    },
    // a timeout carrying a forged certificate, for a round ahead
    () => {
      const round = m.replica.currentRound + 3;
      return {
        type: 'timeout',
        epoch: m.replica.epoch,
        round,
        signer: m.id,
        highQC: forgedQC(round - 1),
        tc: null,
        sig: bytes(64),
      };
    },
    // a proposal with a forged justify, in our name, whoever leads
    () => {
      const round = m.replica.currentRound;
      const block: Block = {
        epoch: m.replica.epoch,
        round,
        height: m.replica.decidedHeight + 1,
        parent: hex(),
        proposer: m.id,
        justify: forgedQC(round - 1),
        inputs: [{ kind: 'message', from: 'mallory', seq: 1, body: bytes(8) }],
      };
      return { type: 'proposal', block, sig: bytes(64) };
    },
    () => ({
      type: 'checkpoint',
      epoch: m.replica.epoch,
      height: 4,
      hash: hex(),
      signer: m.id,
      sig: bytes(64),
    }),
    // a forged sync reply
    () => ({
      type: 'sync-reply',
      segments: [
        {
          blocks: [
            {
              epoch: m.replica.epoch,
              round: 1,
              height: m.replica.decidedHeight + 50,
              parent: hex(),
              proposer: m.id,
              justify: forgedQC(0),
              inputs: [],
            },
          ],
          proof: {
            child: {
              epoch: m.replica.epoch,
              round: 2,
              height: 2,
              parent: hex(),
              proposer: m.id,
              justify: forgedQC(1),
              inputs: [],
            },
            qc: forgedQC(2),
          },
        },
      ],
      pending: [],
      highQC: null,
      oldestKept: null,
    }),
    // a replay of something we sent or relayed earlier (stale or duplicate by now)
    () => (captured.length > 0 ? pick(captured) : null),
  ];
  const tick = () => {
    if (sim.now > untilMs || m.crashed) return;
    const to = pick(members());
    sim.send(m.id, to, pick(makers)());
    sim.schedule(everyMs, tick);
  };
  sim.schedule(everyMs, tick);
}
