/**
 * What a quorum member's HTTP endpoint adds to a solo node's: quorum fields in /readyz and
 * /identity, quorum gauges in /metrics, the configuration chain (GET /quorum/chain) and the
 * door for administrator change requests (POST /quorum/changes). The member runtime provides
 * the answers through QuorumProvider; a solo node has none and serves exactly what it did.
 *
 * POST /quorum/changes needs no credential: the body is a change request signed with the
 * administrator key of the genesis, which the member checks (chain.ts checkSignedRequest)
 * before it is ordered, and k members must certify it before it takes effect. Anybody may
 * carry a signed request to a member; nobody can forge one.
 */
import type { IncomingMessage } from 'node:http';
import type { VatId } from '../../protocol/identity.ts';
import { ChainError, type ChangeRequest, checkRequest } from '../../quorum/chain.ts';
import type { ChainDocument } from '../../quorum/status.ts';
import type { MetricsRegistry } from './metrics.ts';

/** A member's view of its quorum and of the ordering, for probes, status and metrics. */
export interface QuorumMemberStatus {
  /** The quorum VatID (the vat this node runs). */
  readonly quorum: VatId;
  readonly name: string;
  readonly epoch: number;
  /** n and k of the current epoch. */
  readonly members: number;
  readonly threshold: number;
  /** Byzantine members tolerated: min(2k − n − 1, n − k). */
  readonly byzantine: number;
  /** Crashed members tolerated: n − k. */
  readonly crashes: number;
  /** This host in the current epoch: a voting member, a learner catching up, or neither (removed). */
  readonly role: 'member' | 'learner' | 'none';
  /**
   * A voting member: true. A learner: it executed every decided input it knows and its last
   * catch-up reached a member's decided tip, so voting it in now does not stall the quorum
   * (what an operator waits for between `--add-learner` and `--add`).
   */
  readonly caughtUp: boolean;
  /**
   * The stable checkpoint this host installed at start (state transfer: its height and the
   * member that served it), or null when it executed its history itself.
   */
  readonly restoredFrom?: { readonly height: number; readonly peer: string } | null;
  readonly ordering: {
    /** Highest decided height. */
    readonly height: number;
    /** Current round (view). */
    readonly round: number;
    /** Leader of the current round. */
    readonly leader: VatId;
    /** This member is that leader. */
    readonly leading: boolean;
    /** Inputs wait and nothing was decided for longer than the view timeout (fewer than k reachable?). */
    readonly stalled: boolean;
    /** Inputs received and not decided yet. */
    readonly pendingInputs: number;
  };
  /** Why this member stopped executing (diverged, a backstop the others did not hit): not ready. */
  readonly halted: string | null;
}

/** A change request as the administrator signed it (chain.ts requestChange). */
export interface SignedChange {
  readonly request: ChangeRequest;
  /** The administrator's signature, base64url. */
  readonly admin: string;
}

export type ChangeOutcome =
  /** Ordered and applied: the configuration of `epoch` starts after `position`. */
  | { readonly state: 'decided'; readonly epoch: number; readonly position: number }
  /** Ordered, and refused at its position (e.g. it would leave 2k ≤ n); changes nothing. */
  | { readonly state: 'refused'; readonly reason: string; readonly message: string };

export interface QuorumProvider {
  status(): QuorumMemberStatus;
  /** The verified configuration chain (status.ts chainDocument). */
  chain(): ChainDocument;
  /**
   * Submits a signed change to be ordered; resolves once it is decided. Rejects with ChainError
   * when it is refused before ordering (not signed by the administrator, stale epoch, bad
   * change): check before the first await, so that even `?wait=0` answers a refusal with 400
   * rather than 202. `signal` aborts the wait (the request stays submitted).
   */
  submitChange(change: SignedChange, signal: AbortSignal): Promise<ChangeOutcome>;
}

/** The member runtime cannot take change requests (yet): 501, nothing was submitted. */
export class ChangesNotTaken extends Error {
  override name = 'ChangesNotTaken';
}

/** The largest change request body accepted (a signed request is about 400 bytes). */
export const MAX_CHANGE_BYTES = 16 * 1024;
/** How long POST /quorum/changes waits for the decision at most before answering 202. */
export const MAX_CHANGE_WAIT_MS = 60_000;

/** The quorum fields of /identity: nothing secret, nothing that changes every second. */
export function identityFields(s: QuorumMemberStatus) {
  return {
    quorum: s.quorum,
    name: s.name,
    epoch: s.epoch,
    members: s.members,
    threshold: s.threshold,
    byzantine: s.byzantine,
    crashes: s.crashes,
    role: s.role,
  };
}

/** An HTTP answer: status code and JSON body. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** Checks the shape of a POSTed change (the provider checks the signature and the epoch). */
export function parseSignedChange(text: string): SignedChange {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ChainError('malformed', 'body: not JSON');
  }
  const d = doc as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) {
    throw new ChainError('malformed', 'body: {request, admin}');
  }
  if (Object.keys(d).sort().join(',') !== 'admin,request') {
    throw new ChainError('malformed', 'body: keys must be exactly request, admin');
  }
  if (typeof d.admin !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(d.admin)) {
    throw new ChainError('malformed', 'admin: not a base64url signature');
  }
  return { request: checkRequest(d.request), admin: d.admin };
}

/** Reads a request body up to `max` bytes; undefined when it is larger. */
export async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** POST /quorum/changes: the signed request in, the decision (or why not) out. */
export async function submitChange(
  provider: QuorumProvider,
  body: string | undefined,
  waitMs: number,
): Promise<Answer> {
  if (body === undefined) {
    return { status: 413, body: { error: `body above ${MAX_CHANGE_BYTES} bytes` } };
  }
  let change: SignedChange;
  try {
    change = parseSignedChange(body);
  } catch (e) {
    if (!(e instanceof ChainError)) throw e;
    return { status: 400, body: { error: e.message, reason: e.reason } };
  }
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'waiting'>((resolve) => {
    timer = setTimeout(() => resolve('waiting'), waitMs);
  });
  const decision = provider.submitChange(change, abort.signal);
  try {
    const outcome = await Promise.race([decision, waited]);
    if (outcome === 'waiting') {
      abort.abort();
      decision.catch(() => {});
      return { status: 202, body: { state: 'submitted', epoch: change.request.epoch } };
    }
    return { status: outcome.state === 'decided' ? 200 : 409, body: outcome };
  } catch (e) {
    if (e instanceof ChangesNotTaken) return { status: 501, body: { error: e.message } };
    if (!(e instanceof ChainError)) throw e;
    return { status: 400, body: { error: e.message, reason: e.reason } };
  } finally {
    clearTimeout(timer);
  }
}

/** The wait a client asked for (?wait=MS), bounded. */
export function waitOf(url: string | undefined): number {
  const raw = new URL(url ?? '/', 'http://x').searchParams.get('wait');
  const ms = raw !== null && /^\d{1,9}$/.test(raw) ? Number(raw) : 30_000;
  return Math.min(Math.max(ms, 0), MAX_CHANGE_WAIT_MS);
}

/** Quorum gauges; each family is left out while there is no provider (a solo node). */
export function registerQuorumMetrics(
  m: MetricsRegistry,
  provider: () => QuorumProvider | undefined,
): void {
  const status = (): QuorumMemberStatus => {
    const p = provider();
    if (!p) throw Error('not a quorum member');
    return p.status();
  };
  const gauges: [string, string, (s: QuorumMemberStatus) => number][] = [
    ['epoch', 'Epoch of the configuration in force (0 = genesis).', (s) => s.epoch],
    ['members', 'Members n of the current configuration.', (s) => s.members],
    ['threshold', 'Threshold k of the current configuration.', (s) => s.threshold],
    [
      'byzantine_tolerated',
      'Byzantine members the configuration tolerates: min(2k − n − 1, n − k).',
      (s) => s.byzantine,
    ],
    ['crashes_tolerated', 'Crashed members the configuration tolerates: n − k.', (s) => s.crashes],
    [
      'voting',
      '1 when this host is a voting member, 0 a learner or removed.',
      (s) => +(s.role === 'member'),
    ],
    ['decided_height', 'Highest height the ordering decided.', (s) => s.ordering.height],
    ['round', 'Current ordering round (view).', (s) => s.ordering.round],
    ['leader', '1 while this member leads the current round.', (s) => +s.ordering.leading],
    ['pending_inputs', 'Inputs received and not decided yet.', (s) => s.ordering.pendingInputs],
    [
      'stalled',
      '1 while inputs wait and nothing was decided for longer than the view timeout.',
      (s) => +s.ordering.stalled,
    ],
    [
      'halted',
      '1 once this member stopped executing (diverged or faulty).',
      (s) => +(s.halted !== null),
    ],
  ];
  for (const [name, help, read] of gauges) {
    m.gauge(`quorumvat_quorum_${name}`, help, () => read(status()));
  }
}
