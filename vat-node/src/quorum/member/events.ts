/**
 * What an operator should see of the ordering, as typed events (events/events.ts): a stall and
 * its end, evidence against a member, a refused ordering message. Stable checkpoints, epochs
 * and a member too far behind say nothing here (the member reports epochs itself, and halts
 * when it is too far behind).
 */
import type { VatEvent } from '../../events/events.ts';
import type { VatId } from '../../protocol/identity.ts';
import type { Observed } from '../ordering/driver.ts';

export function memberEventOf(quorum: VatId, e: Observed): VatEvent | undefined {
  switch (e.type) {
    case 'stalled':
      return {
        type: 'quorum-stalled',
        quorum,
        round: e.round,
        height: e.height,
        reason: e.reason,
      };
    case 'resumed':
      return { type: 'quorum-resumed', quorum, height: e.height };
    case 'evidence': {
      const ev = e.evidence;
      return {
        type: 'quorum-evidence',
        quorum,
        kind: ev.kind,
        signer: ev.signer,
        epoch: ev.epoch,
        at: 'round' in ev ? ev.round : ev.height,
      };
    }
    case 'rejected':
      return { type: 'quorum-message-rejected', quorum, peer: e.from, reason: e.reason };
    default:
      return undefined; // stable checkpoints, epochs: nothing an operator needs
  }
}
