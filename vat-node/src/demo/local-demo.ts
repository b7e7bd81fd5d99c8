/**
 * `npm start`: a local demo of quorumvat on this machine. Four vat nodes run as separate
 * processes on 127.0.0.1 (each with its vat confined in its own worker process), talking VatTP
 * over libp2p: a bank (durable mints, purses and escrowed deals), two traders and mallory.
 * This process is a fifth, client vat that redeems their sturdyrefs and drives the story:
 * purses handed to the traders by three-party handoff, an escrowed exchange with pipelined
 * `!` sends, an offer without funds, a forged purse that is refused, and a runaway delivery
 * stopped without losing state. Then part 2 (quorum-bank.ts): the same bank contract run as a
 * quorum vat by three member processes (k = 2) that two solo vats trade through, one member
 * SIGKILLed and later restarted while it keeps serving.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type HostError, HostRef } from '../kernel/hostcaps.ts';
import { spawnVatNode, type VatNodeProcess } from '../node/spawn.ts';
import { VatNode } from '../node/vat-node.ts';
import { runQuorumBank } from './quorum-bank.ts';

const contract = (name: string) => new URL(`../../contracts/${name}.js`, import.meta.url).pathname;

export interface DemoOptions {
  readonly out?: (line: string) => void;
  /** Keep the nodes running after the story (until SIGINT/SIGTERM). */
  readonly keep?: boolean;
}

const startNode = (name: string, source: string, root: string) =>
  spawnVatNode({
    name,
    dataDir: join(root, name),
    contractPath: contract(source),
    // Quiet when healthy: only errors of the nodes reach the terminal.
    onLog: (entry, line) => {
      if ((entry['level'] as number) >= 50) process.stderr.write(`[${name}] ${line}\n`);
    },
  });

export async function runLocalDemo(options: DemoOptions = {}): Promise<void> {
  const say = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const root = mkdtempSync(join(tmpdir(), 'quorumvat-demo-'));
  const t0 = performance.now();
  const nodes: VatNodeProcess[] = [];
  let driver: VatNode | undefined;
  try {
    nodes.push(
      ...(await Promise.all([
        startNode('bank', 'mint', root),
        startNode('alice', 'trader', root),
        startNode('bob', 'trader', root),
        startNode('mallory', 'mint', root),
      ])),
    );
    driver = await VatNode.start({
      dataDir: join(root, 'driver'),
      contractSource: readFileSync(contract('client'), 'utf8'),
      vatName: 'driver',
      logger: pino({ level: 'warn' }, pino.destination(2)),
    });
    const k = driver.kernel;
    say(
      `quorumvat demo: ${nodes.length} vat nodes on 127.0.0.1 (processes ${nodes.map((n) => n.child.pid).join(', ')}), VatTP over libp2p (${ms(t0)})`,
    );
    const [bank, alice, bob, mallory] = await Promise.all(
      nodes.map(
        async (n) => new HostRef(await k.redeem(readFileSync(n.sturdyRefFile, 'utf8').trim())),
      ),
    );
    say('[driver]  redeemed the four root sturdyrefs (each a signed proof; no secret on the wire)');
    const ok = async (target: HostRef, method: string, args: unknown[] = []) => {
      const r = await k.call(target.vref, method, args);
      if (r.rejected) throw Error(`${method}: ${(r.value as HostError).message}`);
      return r.value;
    };
    const moola = (await ok(bank!, 'makeMint', ['moola'])) as HostRef;
    const simoleans = (await ok(bank!, 'makeMint', ['simoleans'])) as HostRef;
    for (const [mint, amount, trader, currency] of [
      [moola, 100, alice!, 'moola'],
      [simoleans, 0, alice!, 'simoleans'],
      [moola, 0, bob!, 'moola'],
      [simoleans, 50, bob!, 'simoleans'],
    ] as const) {
      const purse = (await ok(mint, 'mintPurse', [amount])) as HostRef;
      await ok(trader, 'hold', [currency, purse]);
    }
    say('[bank]    minted 100 moola for alice and 50 simoleans for bob');
    say('          (the driver passed each purse on: a three-party handoff, bank → trader direct)');
    const balances = async () => {
      for (const [name, t] of [
        ['alice', alice!],
        ['bob', bob!],
      ] as const) {
        say(
          `[${name}]${' '.repeat(8 - name.length)}holds ${JSON.stringify(await ok(t, 'balances'))}`,
        );
      }
    };
    await balances();

    const t1 = performance.now();
    const a = await ok(alice!, 'trade', [bank!, 'd1', 'a', 'moola', 30, 'simoleans', 20]);
    say(`[alice]   locks 30 moola for 20 simoleans in deal d1: ${String(a)}`);
    const b = await ok(bob!, 'trade', [bank!, 'd1', 'b', 'simoleans', 20, 'moola', 30]);
    say(`[bob]     locks 20 simoleans for 30 moola in deal d1: ${String(b)} (${ms(t1)})`);
    say('          (bank ! deal(id) ! lock(...): the lock was pipelined on the unresolved deal)');
    await balances();

    const tooMuch = await k.call(alice!.vref, 'trade', [
      bank!,
      'd2',
      'a',
      'moola',
      500,
      'simoleans',
      1,
    ]);
    say(`[alice]   offers 500 moola she does not have: ${outcome(tooMuch)}`);

    // Mallory runs her own mint contract and passes off one of her purses as bank money.
    const fakeMint = (await ok(mallory!, 'makeMint', ['moola'])) as HostRef;
    const fake = (await ok(fakeMint, 'mintPurse', [1_000_000])) as HostRef;
    await ok(bob!, 'hold', ['forged', fake]);
    const steal = await k.call(bob!.vref, 'trade', [
      bank!,
      'd3',
      'a',
      'forged',
      1000,
      'simoleans',
      1,
    ]);
    say(`[mallory] gives bob a forged moola purse; bob tries to spend it: ${outcome(steal)}`);

    const spin = await k.call(alice!.vref, 'spin', []);
    say(`[alice]   runs an infinite loop: ${outcome(spin)}`);
    await balances();

    await runQuorumBank({
      members: 3,
      threshold: 2,
      root,
      contract,
      say,
    });
    say(`done in ${ms(t0)}`);

    if (options.keep) {
      say('the vat nodes keep running; try, in another shell:');
      say(
        `  tools/with-node.sh node vat-node/src/cli/main.ts send "$(cat ${nodes[0]!.sturdyRefFile})" makeMint '"gold"'`,
      );
      say('stop with Ctrl-C');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    await driver?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

function ms(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}

function outcome(r: { rejected: boolean; value: unknown }): string {
  return r.rejected
    ? `refused: "${(r.value as HostError).message}"`
    : `succeeded?! ${JSON.stringify(r.value)}`;
}
