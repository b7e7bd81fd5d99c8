/**
 * The command line's side of a member's HTTP endpoint (node/http/quorum.ts): its health, its
 * configuration chain, and handing it a signed change request. Only what the member says; the
 * chain it gives is verified by the caller, never trusted.
 */
import type { QuorumMemberStatus } from '../../node/http/quorum.ts';

export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Why a member could not be asked (refused, timed out, not HTTP...). One short phrase. */
export class Unreachable extends Error {
  override name = 'Unreachable';
}

/** One request with a deadline; the JSON body (or the text, if it is not JSON). */
export async function request(
  base: string,
  path: string,
  options: { timeoutMs: number; method?: 'GET' | 'POST'; body?: string; signal?: AbortSignal },
): Promise<HttpAnswer> {
  const signals = [AbortSignal.timeout(options.timeoutMs)];
  if (options.signal) signals.push(options.signal);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: options.method ?? 'GET',
      body: options.body,
      headers: options.body ? { 'content-type': 'application/json' } : undefined,
      signal: AbortSignal.any(signals),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError')
      throw new Unreachable(`no answer within ${options.timeoutMs} ms`);
    if (err.name === 'AbortError') throw new Unreachable('aborted');
    throw new Unreachable(err.cause?.code ?? err.cause?.message ?? err.message);
  }
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

/** What one member said about itself. */
export interface MemberHealth {
  readonly endpoint: string;
  readonly reachable: boolean;
  /** Why not reachable, or what is wrong with its answers. */
  readonly problem?: string;
  readonly ready?: boolean;
  /** Why not ready. */
  readonly reason?: string;
  readonly vatId?: string;
  readonly quorum?: QuorumMemberStatus;
}

/** GET /readyz and /identity of a member. */
export async function memberHealth(endpoint: string, timeoutMs: number): Promise<MemberHealth> {
  try {
    const [ready, identity] = await Promise.all([
      request(endpoint, '/readyz', { timeoutMs }),
      request(endpoint, '/identity', { timeoutMs }),
    ]);
    const r = ready.body as { ready?: boolean; reason?: string; quorum?: QuorumMemberStatus };
    const id = identity.body as { vatId?: string };
    if (typeof r !== 'object' || r === null || typeof r.ready !== 'boolean') {
      return {
        endpoint,
        reachable: true,
        problem: `not a vat node's endpoint (/readyz ${ready.status})`,
      };
    }
    return {
      endpoint,
      reachable: true,
      ready: r.ready,
      reason: r.reason,
      vatId: typeof id?.vatId === 'string' ? id.vatId : undefined,
      quorum: r.quorum,
    };
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e;
    return { endpoint, reachable: false, problem: e.message };
  }
}
