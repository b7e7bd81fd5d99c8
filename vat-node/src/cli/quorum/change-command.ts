/**
 * `quorumvat quorum change --admin-key FILE --genesis FILE [--chain FILE] [--member URL...]
 * --add V | --remove V | --add-learner V | --remove-learner V | --threshold K [--out FILE]`
 *
 * Signs a change request for the newest configuration it can verify (chain-sources.ts) with
 * the administrator key; a change that breaks the arithmetic (2k ≤ n, k > n) or does not apply
 * (adding a member twice...) is refused before anything is signed (exit 2, the reason). Without
 * --member the signed request is printed or written to --out, for someone to carry to a member.
 * With --member it is POSTed to every given member (/quorum/changes): the quorum orders it
 * like any input, and the command waits for the first member to report the decision: exit 0
 * decided, 1 refused (by the quorum, or before ordering: the reason), 5 nothing decided within
 * --timeout (the request stays submitted; `quorum status` shows when it lands).
 */

import type { Logger } from 'pino';
import { MAX_CHANGE_WAIT_MS, type SignedChange } from '../../node/http/quorum.ts';
import { ChainError, type ConfigChange, requestChange } from '../../quorum/chain.ts';
import type { QuorumConfig } from '../../quorum/config.ts';
import { type Config, EXIT } from '../config.ts';
import { createLogger } from '../logging.ts';
import { UsageError } from '../parse.ts';
import { newestChain } from './chain-sources.ts';
import { KeyFileError, signerOf, writeNewFile } from './key-file.ts';
import { type HttpAnswer, request, Unreachable } from './member-http.ts';

const COMMAND = 'quorum change';

/** The one change the flags ask for, against the configuration it applies to. */
export function changeFromFlags(
  config: Config<'quorum change'>,
  current: QuorumConfig,
): {
  change: ConfigChange;
  flag: string;
} {
  const given = (
    [
      ['--add', config.add],
      ['--remove', config.remove],
      ['--add-learner', config.addLearner],
      ['--remove-learner', config.removeLearner],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (given.length > 1) {
    throw new UsageError(
      `${given.map(([f]) => f).join(' and ')}: one change at a time (one member per change)`,
      COMMAND,
    );
  }
  const k = config.threshold;
  if (given.length === 0) {
    if (k === undefined) {
      throw new UsageError(
        'missing the change: --add, --remove, --add-learner, --remove-learner or --threshold',
        COMMAND,
      );
    }
    return { change: { op: 'threshold', threshold: k }, flag: '--threshold' };
  }
  const [flag, member] = given[0]!;
  switch (flag) {
    case '--add':
    case '--remove':
      return {
        change: {
          op: flag === '--add' ? 'add' : 'remove',
          member: member!,
          threshold: k ?? current.threshold,
        },
        flag: k === undefined ? flag : '--threshold',
      };
    default:
      if (k !== undefined) {
        throw new UsageError(`--threshold: a learner change keeps k (${flag} alone)`, COMMAND);
      }
      return {
        change: {
          op: flag === '--add-learner' ? 'add-learner' : 'remove-learner',
          member: member!,
        },
        flag,
      };
  }
}

/** Signs the change; refusals name the flag and the reason (and what to give instead). */
export function signChange(config: Config<'quorum change'>, current: QuorumConfig): SignedChange {
  const { change, flag } = changeFromFlags(config, current);
  if (config.adminKey.publicKey !== current.admin) {
    throw new UsageError(
      `--admin-key: not this quorum's administrator key (its public key is ${config.adminKey.publicKey}, the genesis names ${current.admin}): members would refuse the request`,
      COMMAND,
    );
  }
  try {
    return requestChange(signerOf(config.adminKey), current, change);
  } catch (e) {
    if (!(e instanceof ChainError)) throw e;
    const hint =
      e.reason === 'bad-configuration' && flag !== '--threshold' && 'threshold' in change
        ? ` (k stays ${current.threshold} unless --threshold K is given)`
        : '';
    throw new UsageError(`${flag}: ${e.message.replace(/^refused: /, '')}${hint}`, COMMAND);
  }
}

type Outcome =
  | { kind: 'decided' | 'refused' | 'rejected' | 'pending'; member: string; answer: HttpAnswer }
  | { kind: 'unreachable'; member: string; why: string };

function classify(member: string, answer: HttpAnswer): Outcome {
  const kind =
    answer.status === 200
      ? 'decided'
      : answer.status === 409
        ? 'refused'
        : answer.status === 202
          ? 'pending'
          : 'rejected';
  return { kind, member, answer };
}

/** POSTs to every member; settles at the first decision (or refusal), else when all answered. */
async function submit(signed: SignedChange, members: readonly string[], timeoutMs: number) {
  const stop = new AbortController();
  const body = JSON.stringify(signed);
  const outcomes: Outcome[] = [];
  await new Promise<void>((resolve) => {
    let left = members.length;
    for (const member of members) {
      request(member, `/quorum/changes?wait=${Math.min(timeoutMs, MAX_CHANGE_WAIT_MS)}`, {
        method: 'POST',
        body,
        timeoutMs: timeoutMs + 2_000,
        signal: stop.signal,
      })
        .then(
          (answer) => classify(member, answer),
          (e: unknown): Outcome => ({
            kind: 'unreachable',
            member,
            why: e instanceof Unreachable ? e.message : String(e),
          }),
        )
        .then((o) => {
          if (stop.signal.aborted) return;
          outcomes.push(o);
          if (o.kind === 'decided' || o.kind === 'refused' || --left === 0) {
            stop.abort();
            resolve();
          }
        });
    }
  });
  return outcomes;
}

export async function runQuorumChange(config: Config<'quorum change'>): Promise<number> {
  const log = createLogger(config.logLevel, 'stderr').child({ vat: null, component: 'quorum' });
  const view = await newestChain(
    config.genesis,
    config.chain,
    config.memberEndpoint,
    config.timeout,
  );
  if (view.conflict || view.sources.some((s) => s.invalid)) {
    const bad = view.sources.find((s) => s.invalid);
    log.error(
      { quorum: view.quorum },
      `not signed: ${view.conflict ?? `the chain from ${bad!.source} does not verify: ${bad!.invalid}`}`,
    );
    return EXIT.tampered;
  }
  const current = view.chain.current;
  const signed = signChange(config, current);
  const text = `${JSON.stringify(signed)}\n`;
  if (config.out !== undefined) {
    try {
      writeNewFile(config.out, text, 0o644);
    } catch (e) {
      if (e instanceof KeyFileError) throw new UsageError(`--out: ${e.message}`, COMMAND);
      throw e;
    }
  }
  if (config.memberEndpoint.length === 0) {
    if (config.out === undefined) process.stdout.write(text);
    else
      process.stdout.write(
        `${JSON.stringify({ state: 'signed', epoch: current.epoch, out: config.out })}\n`,
      );
    return EXIT.ok;
  }
  return submitAndReport(signed, config.memberEndpoint, config.timeout, log);
}

/** `quorum submit`: a request signed earlier (quorum change --out), carried to members. */
export async function runQuorumSubmit(config: Config<'quorum submit'>): Promise<number> {
  const log = createLogger(config.logLevel, 'stderr').child({ vat: null, component: 'quorum' });
  return submitAndReport(config.request, config.memberEndpoint, config.timeout, log);
}

/** POSTs to the members and prints what came of it; the exit code of change and submit. */
async function submitAndReport(
  signed: SignedChange,
  members: readonly string[],
  timeout: number,
  log: Logger,
): Promise<number> {
  const outcomes = await submit(signed, members, timeout);
  const first = (kind: Outcome['kind']) => outcomes.find((o) => o.kind === kind);
  const decided = first('decided') ?? first('refused');
  if (decided && decided.kind !== 'unreachable') {
    process.stdout.write(
      `${JSON.stringify({ ...(decided.answer.body as object), member: decided.member })}\n`,
    );
    if (decided.kind === 'decided') return EXIT.ok;
    const b = decided.answer.body as { message?: string };
    log.error({ member: decided.member }, `change refused by the quorum: ${b.message ?? ''}`);
    return EXIT.failure;
  }
  const said = outcomes
    .map((o) =>
      o.kind === 'unreachable'
        ? `${o.member}: unreachable (${o.why})`
        : `${o.member}: ${o.answer.status} ${(o.answer.body as { error?: string })?.error ?? (o.answer.body as { state?: string })?.state ?? ''}`,
    )
    .join('; ');
  if (first('pending')) {
    log.error(
      { timeoutMs: timeout },
      `change submitted, not decided within ${Math.min(timeout, MAX_CHANGE_WAIT_MS)} ms (${said})`,
    );
    process.stdout.write(
      `${JSON.stringify({ state: 'submitted', epoch: signed.request.epoch })}\n`,
    );
    return EXIT.timeout;
  }
  log.error({}, `change not submitted: ${said}`);
  return EXIT.failure;
}
