// Talking to the members (HTTP on each member's node endpoint, port 9090; the cli helper's
// interface, README "Kubernetes"):
//   GET  /quorum/chain    the configuration chain document {quorum, genesis, records}
//   GET  /readyz          {ready, reason?, quorum?: {quorum, epoch, role, caughtUp,
//                         ordering: {height}, halted, …}} (node/http/quorum.ts
//                         QuorumMemberStatus)
//   POST /quorum/changes?wait=0  {request, admin}: a change request signed with the
//                         administrator key; 202 submitted (200 if already decided); 400
//                         {error, reason} refused before ordering (stale epoch, bad signature),
//                         409 ordered and refused at its position
// Nothing the operator reads from a member is trusted as such: a chain is used only once it
// verifies from the genesis the operator made (k member signatures per record), so a lying
// member can at worst withhold; the longest verified chain is the current one.
import { PORTS } from '../common/names.ts';
import {
  type ChainConfig,
  type ChainRecord,
  type ChangeRequest,
  type Genesis,
  verifyChain,
} from './quorum-lib.ts';

export interface MemberEndpoint {
  pod: string;
  ip: string;
}

export interface MemberReadiness {
  ready: boolean;
  reason?: string;
  /** The quorum fields of /readyz, when the node runs as a member (or learner). */
  quorum?: {
    quorum?: string;
    epoch?: number;
    role?: string;
    /**
     * The member's own word (the quorum helper's runtime): a learner that executed everything
     * it decided and whose last catch-up reached a member's decided tip; true for a voter.
     */
    caughtUp?: boolean;
    ordering?: { height?: number; stalled?: boolean };
    halted?: string | null;
  };
}

/**
 * How many decided heights a learner may trail the lowest ready voter and still count as caught
 * up: under steady traffic the voters decide while the learner applies, so "equal" might never
 * be seen; it finishes the last few blocks as a voter (as etcd promotes a learner that is close).
 */
export const LEARNER_LAG = 2;

/**
 * Which learners have caught up. A learner whose node says so (`caughtUp` in its /readyz quorum
 * fields: it executed everything it decided and its last catch-up reached a member's decided tip)
 * AND whose decided height is within LEARNER_LAG of the lowest ready voting member probed in the
 * same round (a conservative mark, since the voters move on while we look). A node that does not
 * say (an older runtime) is judged by the heights alone. A learner no voter can be compared with
 * is not caught up.
 */
export function caughtUp(
  probes: ReadonlyMap<string, MemberReadiness | undefined>,
  quorum: string,
): Map<string, boolean> {
  const mine = [...probes].filter(
    ([, r]) => r?.ready && r.quorum?.quorum === quorum && !r.quorum.halted,
  );
  const heights = mine
    .filter(([, r]) => r!.quorum!.role === 'member')
    .map(([, r]) => r!.quorum!.ordering?.height)
    .filter((h): h is number => typeof h === 'number');
  const mark = heights.length > 0 ? Math.min(...heights) : undefined;
  const out = new Map<string, boolean>();
  for (const [pod, r] of mine) {
    if (r!.quorum!.role !== 'learner') continue;
    const h = r!.quorum!.ordering?.height;
    const says = r!.quorum!.caughtUp;
    out.set(
      pod,
      says !== false && mark !== undefined && typeof h === 'number' && h >= mark - LEARNER_LAG,
    );
  }
  return out;
}

export interface ChainView {
  records: ChainRecord[];
  configs: readonly ChainConfig[];
  /** Members whose chain verified (0: nobody answered with a valid chain). */
  answered: number;
}

/** The HTTP calls, injectable for tests. */
export interface MemberClient {
  chain(ip: string): Promise<unknown>;
  readiness(ip: string): Promise<MemberReadiness | undefined>;
  submit(
    ip: string,
    body: { request: ChangeRequest; admin: string },
  ): Promise<{ ok: true } | { ok: false; status: number; message: string }>;
}

export const httpMemberClient = (timeoutMs = 3000): MemberClient => ({
  async chain(ip) {
    const res = await fetch(`http://${ip}:${PORTS.http}/quorum/chain`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`GET /quorum/chain: HTTP ${res.status}`);
    return res.json();
  },
  async readiness(ip) {
    try {
      const res = await fetch(`http://${ip}:${PORTS.http}/readyz`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json().catch(() => ({}))) as MemberReadiness;
      return { ...body, ready: res.ok && body.ready !== false };
    } catch {
      return undefined;
    }
  },
  async submit(ip, body) {
    try {
      const res = await fetch(`http://${ip}:${PORTS.http}/quorum/changes?wait=0`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.ok) return { ok: true };
      const text = await res.text();
      let message = text.slice(0, 500);
      try {
        const j = JSON.parse(text) as { error?: string; reason?: string };
        message = [j.reason, j.error].filter(Boolean).join(': ') || message;
      } catch {}
      return { ok: false, status: res.status, message };
    } catch (err) {
      return { ok: false, status: 0, message: (err as Error).message };
    }
  },
});

/**
 * The longest chain that verifies from our genesis, among what the members serve and what the
 * operator stored before (`known`). Members that do not answer, or answer with a chain that
 * does not verify, are skipped.
 */
export async function readChain(
  client: MemberClient,
  quorum: string,
  genesis: Genesis,
  known: readonly unknown[],
  members: readonly MemberEndpoint[],
): Promise<ChainView> {
  let best: ChainView = { records: [], configs: verifyChain(quorum, genesis, []), answered: 0 };
  const consider = (records: readonly unknown[], answered: boolean) => {
    let configs: readonly ChainConfig[];
    try {
      configs = verifyChain(quorum, genesis, records);
    } catch {
      return;
    }
    if (answered) best.answered++;
    if (configs.length > best.configs.length) {
      best = { records: records as ChainRecord[], configs, answered: best.answered };
    }
  };
  consider(known, false);
  const docs = await Promise.all(members.map((m) => client.chain(m.ip).catch(() => undefined)));
  for (const doc of docs) {
    const d = doc as { quorum?: unknown; records?: unknown } | undefined;
    if (d && d.quorum === quorum && Array.isArray(d.records)) consider(d.records, true);
  }
  return best;
}

/**
 * Sends the request to EVERY voting member at once (the same signed bytes: the quorum orders it
 * once, at the position its epoch allows): whichever member leads the ordering holds it. Sent to
 * one member only, an idle quorum may never order it (that member does not lead, and nothing
 * else makes the leader propose). Accepted once any member took it. A refusal (4xx other than
 * 404/405: stale epoch, a change the members judge unsafe) is final for this request when no
 * member took it: the others would say the same. Unreachable members are skipped.
 */
export async function submitChange(
  client: MemberClient,
  members: readonly MemberEndpoint[],
  body: { request: ChangeRequest; admin: string },
): Promise<{ accepted: string } | { refused: string } | { unreachable: string }> {
  const answers = await Promise.all(
    members.map(async (m) => ({ m, r: await client.submit(m.ip, body) })),
  );
  const took = answers.filter(({ r }) => r.ok).map(({ m }) => m.pod);
  if (took.length > 0) return { accepted: took.join(', ') };
  const failures: string[] = [];
  for (const { m, r } of answers) {
    if (r.ok) continue;
    if (r.status >= 400 && r.status < 500 && r.status !== 404 && r.status !== 405) {
      return { refused: `${m.pod} refused the change: ${r.message}` };
    }
    failures.push(`${m.pod}: ${r.status ? `HTTP ${r.status} ` : ''}${r.message}`);
  }
  if (failures.length > 0 && failures.every((f) => f.includes('HTTP 501'))) {
    return {
      unreachable: `the members do not take membership changes (HTTP 501: their runtime has no change path yet): ${failures[0]}`,
    };
  }
  return {
    unreachable: `no member took the change request (${failures.join('; ') || 'no member pod has an address'})`,
  };
}
