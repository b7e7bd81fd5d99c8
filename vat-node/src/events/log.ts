/**
 * Events → pino lines: one JSON line per event, at the event's level, from a child logger per
 * component (`{component: 'kernel' | 'vattp' | 'discovery' | 'store', ...}`; the vat node's logger already
 * carries `vat`). The message texts are stable: tests, alerts and operators match on them.
 */
import type { Level, Logger } from 'pino';
import type { EventSink, VatEvent, VatEventType } from './events.ts';

export type Component = 'kernel' | 'vattp' | 'discovery' | 'store' | 'quorum';

interface LineSpec {
  readonly component: Component;
  readonly level: Level;
  readonly msg: string;
}

/** How each event is logged. A Record over every type: a new event cannot be forgotten here. */
export const EVENT_LINES: Readonly<Record<VatEventType, LineSpec>> = {
  'crank-aborted': { component: 'kernel', level: 'warn', msg: 'delivery aborted' },
  'vat-start-failed': { component: 'kernel', level: 'error', msg: 'vat failed to start' },
  'message-undeliverable': {
    component: 'kernel',
    level: 'warn',
    msg: 'message undeliverable (no result to reject)',
  },
  'message-too-large': {
    component: 'kernel',
    level: 'warn',
    msg: 'message too large for a VatTP frame: not sent',
  },
  'peer-forgotten': {
    component: 'kernel',
    level: 'warn',
    msg: 'departed client forgotten: what it was owed is dropped',
  },
  'peer-message-refused': { component: 'kernel', level: 'warn', msg: 'peer message refused' },
  'checkpoint-waiting': { component: 'kernel', level: 'warn', msg: 'checkpoint waiting' },
  'store-failed': { component: 'store', level: 'error', msg: 'store failed: refusing new work' },
  'peer-input-rejected': { component: 'vattp', level: 'warn', msg: 'rejected input from peer' },
  'peer-banned': {
    component: 'vattp',
    level: 'warn',
    msg: 'peer banned after repeated bad input',
  },
  'peer-unreachable': {
    component: 'vattp',
    level: 'warn',
    msg: 'peer unreachable; retrying with backoff while messages are pending',
  },
  'peer-reachable': { component: 'vattp', level: 'info', msg: 'peer reachable again' },
  'connect-retry-failed': { component: 'vattp', level: 'debug', msg: 'connect retry failed' },
  'ack-undelivered': { component: 'vattp', level: 'debug', msg: 'ack not delivered: peer gone' },
  'link-stalled': { component: 'vattp', level: 'debug', msg: 'link stalled' },
  'delivery-undeliverable': {
    component: 'vattp',
    level: 'error',
    msg: 'cannot frame outbound messages: message larger than a frame',
  },
  'send-failed': { component: 'vattp', level: 'error', msg: 'vattp send failed' },
  'inbound-failed': { component: 'vattp', level: 'error', msg: 'vattp inbound failure' },
  'inbound-refused': {
    component: 'vattp',
    level: 'debug',
    msg: 'refusing inbound messages: vat unavailable',
  },
  'wake-ignored': {
    component: 'vattp',
    level: 'error',
    msg: 'wake() for something that is not a VatID: ignored',
  },
  'peer-given-up': {
    component: 'vattp',
    level: 'warn',
    msg: 'peer given up: no longer dialled; owed messages are kept until it connects',
  },
  'client-gone': {
    component: 'vattp',
    level: 'debug',
    msg: 'client gone: owed messages wait for it',
  },
  'quorum-chain-learned': {
    component: 'quorum',
    level: 'info',
    msg: 'quorum configuration chain learned',
  },
  'quorum-chain-unavailable': {
    component: 'quorum',
    level: 'warn',
    msg: 'no member served the quorum configuration chain; retrying with backoff',
  },
  'quorum-equivocation': {
    component: 'quorum',
    level: 'error',
    msg: 'quorum member equivocated: evidence kept, member ignored',
  },
  'quorum-member-refused': {
    component: 'quorum',
    level: 'warn',
    msg: 'frames refused: not a member of the quorum configuration',
  },
  'bootstrap-unreachable': {
    component: 'discovery',
    level: 'warn',
    msg: 'bootstrap peer unreachable; retrying with backoff',
  },
  'bootstrap-reachable': {
    component: 'discovery',
    level: 'info',
    msg: 'bootstrap peer reachable again',
  },
  'bootstrap-retry-failed': {
    component: 'discovery',
    level: 'debug',
    msg: 'bootstrap retry failed',
  },
  'quorum-member-started': {
    component: 'quorum',
    level: 'info',
    msg: 'serving as a member of a quorum vat',
  },
  'quorum-stalled': {
    component: 'quorum',
    level: 'warn',
    msg: 'quorum stalled: no agreed progress (fewer than k members reachable?); inputs wait',
  },
  'quorum-resumed': { component: 'quorum', level: 'info', msg: 'quorum deciding again' },
  'quorum-leader': { component: 'quorum', level: 'debug', msg: 'ordering leader changed' },
  'quorum-halted': {
    component: 'quorum',
    level: 'error',
    msg: 'quorum member halted: executes nothing more until rebuilt',
  },
  'quorum-evidence': {
    component: 'quorum',
    level: 'warn',
    msg: 'quorum member misbehaved: evidence kept',
  },
  'quorum-message-rejected': {
    component: 'quorum',
    level: 'debug',
    msg: 'ordering message rejected',
  },
  'quorum-state-transfer-needed': {
    component: 'quorum',
    level: 'error',
    msg: 'quorum member too far behind: needs a checkpoint from another member (restart it: at start it installs the latest stable checkpoint)',
  },
  'quorum-state-restored': {
    component: 'quorum',
    level: 'info',
    msg: 'caught up from a checkpoint: installed another member’s certified state',
  },
  'quorum-snapshot-refused': {
    component: 'quorum',
    level: 'warn',
    msg: 'snapshot from a member refused; asking another member',
  },
  'quorum-epoch': {
    component: 'quorum',
    level: 'info',
    msg: 'membership change decided: new epoch in force',
  },
  'quorum-change-certified': {
    component: 'quorum',
    level: 'info',
    msg: 'membership change certified by k members: the chain verifies to it',
  },
};

/** A sink writing each event as one pino line through per-component child loggers. */
export function logEvents(logger: Logger): EventSink {
  const children = new Map<Component, Logger>();
  const child = (component: Component): Logger => {
    let log = children.get(component);
    if (log === undefined) {
      log = logger.child({ component });
      children.set(component, log);
    }
    return log;
  };
  return (event: VatEvent) => {
    const spec = EVENT_LINES[event.type];
    const log = child(spec.component);
    if (!log.isLevelEnabled(spec.level)) return;
    const { type: _type, ...fields } = event;
    log[spec.level](fields, spec.msg);
  };
}
