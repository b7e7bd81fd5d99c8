/**
 * `quorumvat send STURDYREF METHOD [ARG...]`: a throw-away client vat redeems the sturdyref,
 * sends one message and prints the result as one JSON line on stdout.
 *
 * - ARG is JSON, or `@quorumvat://...`: a sturdyref the client redeems and passes on as a
 *   reference (the receiving vat gets it by three-party handoff), which is how two vat nodes
 *   are introduced from the command line.
 * - The result: `null` for undefined, `{"ref":"<interface>"}` for a reference (it lives only
 *   as long as this client: hand references to a vat to keep them), `{"error":"..."}` and
 *   exit 1 for a rejection.
 * - Everything (redeeming, the call) must finish within --timeout, else exit 5 with one line
 *   saying whether the vat was reachable at all.
 * - The client says it is one (identify), so a node does not dial it once it has left: what
 *   the node still owes it (an ack, a late result) waits until it connects again.
 * - Its temporary directory (the client's key) is removed on every exit path.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostError, HostRef } from '../kernel/hostcaps.ts';
import { parseSturdyRef, type SturdyRef } from '../kernel/sturdyref.ts';
import { VatNode } from '../node/vat-node.ts';
import { memberOfHint } from '../quorum/client/port.ts';
import { isQuorumVatId } from '../quorum/config.ts';
import { type Config, EXIT } from './config.ts';
import { createLogger } from './logging.ts';
import { UsageError } from './parse.ts';

type Arg = { readonly json: unknown } | { readonly sturdyref: string };

/** Checks the positional arguments before anything starts. */
export function parseSendArgs(
  positionals: readonly string[],
  bootstrap: readonly string[],
): { uri: string; target: SturdyRef; method: string; args: Arg[] } {
  const [uri, method, ...raw] = positionals;
  if (uri === undefined || method === undefined) {
    throw new UsageError('needs STURDYREF and METHOD', 'send');
  }
  const sturdy = (text: string, what: string): SturdyRef => {
    try {
      return parseSturdyRef(text);
    } catch (e) {
      throw new UsageError(`${what}: ${(e as Error).message}`, 'send');
    }
  };
  const target = sturdy(uri, 'STURDYREF');
  if (target.hints.length === 0 && bootstrap.length === 0) {
    throw new UsageError(
      'STURDYREF has no address hint (?addr=...) and no --bootstrap was given: nowhere to look for its vat',
      'send',
    );
  }
  if (!/^[A-Za-z_$][\w$]*$/.test(method)) {
    throw new UsageError(`METHOD must be a method name, got "${method}"`, 'send');
  }
  const args = raw.map((text, i): Arg => {
    if (text.startsWith('@')) {
      sturdy(text.slice(1), `ARG ${i + 1}`);
      return { sturdyref: text.slice(1) };
    }
    try {
      return { json: JSON.parse(text) as unknown };
    } catch {
      throw new UsageError(
        `ARG ${i + 1} is not JSON: ${text} (a string needs quotes: '"${text}"'; a sturdyref an @)`,
        'send',
      );
    }
  });
  return { uri, target, method, args };
}

/** The result as JSON: undefined → null, references → {"ref": interface}, bigint → "12n". */
export function formatResult(value: unknown): string {
  if (value === undefined) return 'null';
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof HostRef) return { ref: v.iface };
    if (v instanceof HostError) return { error: v.message, name: v.name };
    return v === undefined ? null : v;
  });
}

/** Whether the target's vat is connected now: for a quorum vat, any member its hints name. */
function connected(client: VatNode, target: SturdyRef): boolean {
  const host = client.transport.host;
  if (!isQuorumVatId(target.vatId)) return host.isConnected(target.vatId);
  return target.hints.some((h) => {
    const member = memberOfHint(h);
    return member !== undefined && host.isConnected(member);
  });
}

const CLIENT_CONTRACT = new URL('../../contracts/client.js', import.meta.url);

export async function runSend(config: Config<'send'>, positionals: string[]): Promise<number> {
  const { uri, target, method, args } = parseSendArgs(positionals, config.bootstrap);
  const root = createLogger(config.logLevel, 'stderr');
  const dataDir = mkdtempSync(join(tmpdir(), 'quorumvat-client-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  // Every way out removes the client's directory: normal return, exit(), a signal.
  process.once('exit', removeDir);
  const onSignal = (signal: NodeJS.Signals) => {
    removeDir();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let client: VatNode;
  try {
    client = await VatNode.start({
      dataDir,
      ephemeral: true,
      client: true,
      contractSource: readFileSync(CLIENT_CONTRACT, 'utf8'),
      vatName: 'client',
      bootstrap: config.bootstrap,
      logger: root,
    });
  } catch (err) {
    root
      .child({ vat: null, component: 'send' })
      .error({ err: String(err) }, `client vat failed to start: ${(err as Error).message}`);
    removeDir();
    return EXIT.failure;
  }
  const log = root.child({ vat: client.vatId, component: 'send' });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), config.timeout);
  });
  let stage = `redeeming the sturdyref at vat ${target.vatId}`;
  const work = (async () => {
    const targetRef = await client.kernel.redeem(uri);
    const values: unknown[] = [];
    for (const a of args) {
      if ('json' in a) {
        values.push(a.json);
      } else {
        stage = `redeeming an argument's sturdyref at vat ${parseSturdyRef(a.sturdyref).vatId}`;
        values.push(new HostRef(await client.kernel.redeem(a.sturdyref)));
      }
    }
    stage = `waiting for ${method}() at vat ${target.vatId}`;
    return client.kernel.call(targetRef, method, values);
  })();
  try {
    const outcome = await Promise.race([work, timedOut]);
    if (outcome === 'timeout') {
      const reachable = connected(client, target);
      const where = target.hints.length ? target.hints.join(', ') : 'the DHT (--bootstrap)';
      log.error(
        { peer: target.vatId, timeoutMs: config.timeout, reachable },
        reachable
          ? `no answer within ${config.timeout} ms while ${stage}`
          : `no answer within ${config.timeout} ms: vat ${target.vatId} is unreachable (tried ${where})`,
      );
      return EXIT.timeout;
    }
    process.stdout.write(`${formatResult(outcome.value)}\n`);
    return outcome.rejected ? EXIT.failure : EXIT.ok;
  } catch (err) {
    log.error({ peer: target.vatId }, `send failed: ${(err as Error).message}`);
    return EXIT.failure;
  } finally {
    clearTimeout(timer);
    work.catch(() => {}); // abandoned on timeout
    // Bounded: a client whose peer is gone must not wait on it to exit.
    await Promise.race([client.close(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    removeDir();
  }
}
