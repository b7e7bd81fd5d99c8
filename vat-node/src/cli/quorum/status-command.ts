/**
 * `quorumvat quorum status --genesis FILE [--chain FILE] [--member URL...] [--json]`: the
 * quorum's configuration now (the newest chain verified from the genesis), both fault-tolerance
 * numbers, and each given member's health (readiness, role, epoch, ordering height, leader,
 * stalled). Exit 0 when the chain verifies and every member is ready; 1 when a member is
 * unreachable, not ready or serves another quorum; 3 when a chain does not verify or two
 * chains conflict. The report is printed in every case.
 */
import { chainDocument, quorumStatus, statusLines } from '../../quorum/status.ts';
import { type Config, EXIT } from '../config.ts';
import { createLogger } from '../logging.ts';
import { type ChainView, newestChain } from './chain-sources.ts';
import { type MemberHealth, memberHealth } from './member-http.ts';

export interface StatusReport {
  readonly view: ChainView;
  readonly members: readonly MemberHealth[];
}

/** Problems with a member's answers (beyond "not ready"): it serves another quorum. */
function memberProblem(m: MemberHealth, quorum: string): string | undefined {
  if (m.problem) return m.problem;
  if (m.quorum === undefined) return 'not a quorum member (no quorum fields in /readyz)';
  if (m.quorum.quorum !== quorum) return `serves quorum ${m.quorum.quorum}, not this one`;
  return undefined;
}

export function memberLine(m: MemberHealth, quorum: string): string {
  const problem = memberProblem(m, quorum);
  if (!m.reachable) return `member ${m.endpoint}: unreachable (${m.problem})`;
  if (problem) return `member ${m.endpoint}: ${problem}`;
  const q = m.quorum!;
  const o = q.ordering;
  return [
    `member ${m.endpoint}: ${m.ready ? 'ready' : `NOT READY (${m.reason})`}`,
    `${q.role}${q.role === 'learner' ? (q.caughtUp ? ' (caught up)' : ' (catching up)') : ''} ${m.vatId ?? '?'}`,
    `epoch ${q.epoch}`,
    `height ${o.height}, round ${o.round}, leader ${o.leading ? 'this member' : o.leader}`,
    o.stalled ? `STALLED (${o.pendingInputs} inputs waiting)` : `${o.pendingInputs} inputs waiting`,
    ...(q.halted ? [`HALTED: ${q.halted}`] : []),
  ].join(', ');
}

/** How many of the given members are ready voting members of this quorum, against k. */
export function healthOf(r: StatusReport) {
  const k = r.view.chain.current.threshold;
  const ready = r.members.filter(
    (m) => !memberProblem(m, r.view.quorum) && m.ready && m.quorum?.role === 'member',
  ).length;
  return { given: r.members.length, ready, threshold: k, enough: ready >= k };
}

export function reportLines(r: StatusReport): string[] {
  const { view } = r;
  const sourceLines = view.sources.map((s) =>
    s.invalid
      ? `chain from ${s.source}: DOES NOT VERIFY: ${s.invalid}`
      : s.unavailable
        ? `chain from ${s.source}: unavailable (${s.unavailable})`
        : `chain from ${s.source}: verified, ${s.records} record${s.records === 1 ? '' : 's'}`,
  );
  return [
    ...statusLines(quorumStatus(view.chain)),
    ...sourceLines,
    ...(view.conflict ? [`CONFLICT: ${view.conflict}`] : []),
    ...r.members.map((m) => memberLine(m, view.quorum)),
    ...(r.members.length > 0 ? [healthLine(r)] : []),
  ];
}

function healthLine(r: StatusReport): string {
  const h = healthOf(r);
  return h.enough
    ? `${h.ready} of the ${h.given} members asked are ready voting members: at least k = ${h.threshold}, the quorum can make progress`
    : `${h.ready} of the ${h.given} members asked are ready voting members: fewer than k = ${h.threshold}${h.given < r.view.chain.current.members.length ? ' (not every member was asked)' : ', the quorum cannot make progress'}`;
}

export function exitCodeOf(r: StatusReport): number {
  if (r.view.conflict || r.view.sources.some((s) => s.invalid)) return EXIT.tampered;
  const bad = r.members.some((m) => memberProblem(m, r.view.quorum) || !m.ready);
  return bad ? EXIT.failure : EXIT.ok;
}

export async function runQuorumStatus(config: Config<'quorum status'>): Promise<number> {
  const log = createLogger(config.logLevel, 'stderr').child({ vat: null, component: 'quorum' });
  const [view, members] = await Promise.all([
    newestChain(config.genesis, config.chain, config.memberEndpoint, config.timeout),
    Promise.all(config.memberEndpoint.map((m) => memberHealth(m, config.timeout))),
  ]);
  const report: StatusReport = { view, members };
  if (config.json) {
    // A chain document with the report beside it: the output works as --chain FILE.
    const document = {
      ...chainDocument(view.chain),
      status: quorumStatus(view.chain),
      sources: view.sources,
      conflict: view.conflict ?? null,
      members,
      health: members.length > 0 ? healthOf(report) : null,
    };
    process.stdout.write(`${JSON.stringify(document)}\n`);
  } else {
    process.stdout.write(`${reportLines(report).join('\n')}\n`);
  }
  const code = exitCodeOf(report);
  if (code === EXIT.tampered) {
    log.error(
      { quorum: view.quorum },
      view.conflict ?? 'a configuration chain does not verify from the genesis',
    );
  }
  return code;
}
