/**
 * A QuorumProvider for tests of the HTTP endpoint and of the command line (not used by
 * production code): a real, verified configuration chain that grows by real certified records
 * (k test members sign each change), with the ordering reduced to "decided at the next
 * position". What the member runtime does between submit and decision is not modelled.
 */

import type { VatId } from '../../protocol/identity.ts';
import { assembleCertificate } from '../../quorum/certificate.ts';
import { ConfigChain, changeStatement, checkSignedRequest } from '../../quorum/chain.ts';
import { isLearner, isMember, toleranceOf } from '../../quorum/config.ts';
import { type ChainDocument, chainDocument } from '../../quorum/status.ts';
import type { TestQuorum } from '../../quorum/testing.ts';
import type { ChangeOutcome, QuorumMemberStatus, QuorumProvider, SignedChange } from './quorum.ts';

export class TestQuorumProvider implements QuorumProvider {
  readonly #q: TestQuorum;
  readonly self: VatId;
  chainNow: ConfigChain;
  /** 'decide': decided at once; 'hold': never decided (a quorum that cannot make progress). */
  mode: 'decide' | 'hold' = 'decide';
  halted: string | null = null;
  stalled = false;
  height = 0;
  submitted = 0;

  constructor(q: TestQuorum, self: VatId = q.members[0]!.vatId) {
    this.#q = q;
    this.self = self;
    this.chainNow = new ConfigChain(q.config.quorum, q.genesis);
  }

  status(): QuorumMemberStatus {
    const c = this.chainNow.current;
    const t = toleranceOf(c);
    const leader = c.members[this.height % c.members.length]!;
    return {
      quorum: c.quorum,
      name: c.name,
      epoch: c.epoch,
      members: t.members,
      threshold: t.threshold,
      byzantine: t.byzantine,
      crashes: t.crashes,
      role: isMember(c, this.self) ? 'member' : isLearner(c, this.self) ? 'learner' : 'none',
      caughtUp: isMember(c, this.self),
      ordering: {
        height: this.height,
        round: this.height + 1,
        leader,
        leading: leader === this.self,
        stalled: this.stalled,
        pendingInputs: this.stalled ? 3 : 0,
      },
      halted: this.halted,
    };
  }

  chain(): ChainDocument {
    return chainDocument(this.chainNow);
  }

  /** Certifies and appends `change` at the next position (k members of the epoch sign). */
  decide(change: SignedChange): ChangeOutcome {
    const config = this.chainNow.current;
    const position = this.height + 1;
    checkSignedRequest(config, change.request, change.admin, position);
    const statement = changeStatement(change.request, position);
    // k members whose keys this test holds (a member added by an earlier change may not be one).
    const signers = config.members
      .filter((m) => this.#q.signerOf.has(m))
      .slice(0, config.threshold);
    if (signers.length < config.threshold)
      throw new Error('the test holds fewer than k member keys');
    const certificate = assembleCertificate(
      config,
      signers.map((m) => [m, this.#q.signerOf.get(m)!(statement)] as const),
    );
    this.chainNow.append({ ...change, position, certificate });
    this.height = position;
    return { state: 'decided', epoch: this.chainNow.current.epoch, position };
  }

  async submitChange(change: SignedChange, signal: AbortSignal): Promise<ChangeOutcome> {
    this.submitted++;
    // Refused before ordering, as a member would: ChainError (bad signature, stale epoch...).
    checkSignedRequest(this.chainNow.current, change.request, change.admin, this.height + 1);
    if (this.mode === 'hold') {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { state: 'refused', reason: 'aborted', message: 'not decided' };
    }
    return this.decide(change);
  }
}
