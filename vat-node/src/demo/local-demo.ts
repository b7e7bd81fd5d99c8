/**
 * `npm start`: a local demo of quorumvat on this machine. Four vats, each confined in its own
 * worker process: a bank (durable mints, purses and escrowed deals), two traders, and mallory.
 * It tells the story of an escrowed exchange with pipelined sends and `!` syntax, an offer
 * without funds, a forged purse that is refused, and a runaway delivery that is stopped
 * without losing state.
 */
import { readFileSync } from 'node:fs';
import { type HostError, HostRef } from '../kernel/hostcaps.ts';
import { Kernel } from '../kernel/kernel.ts';
import { LocalNetwork } from '../transport/local-link.ts';

const contract = (name: string) =>
  readFileSync(new URL(`../../contracts/${name}.js`, import.meta.url), 'utf8');

export interface DemoOptions {
  readonly out?: (line: string) => void;
}

export async function runLocalDemo(options: DemoOptions = {}): Promise<void> {
  const say = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const net = new LocalNetwork();
  const t0 = performance.now();
  const start = (name: string, source: string) =>
    Kernel.create(
      { vatId: name, vatName: name, contractSource: contract(source), gasLimit: 1_000_000 },
      net.transport(),
    );
  const [bank, alice, bob, mallory] = await Promise.all([
    start('bank', 'mint'),
    start('alice', 'trader'),
    start('bob', 'trader'),
    start('mallory', 'mint'),
  ]);
  const vats = [bank!, alice!, bob!, mallory!];
  try {
    say(`quorumvat demo: ${vats.length} vats, each confined in its own worker process (${ms(t0)})`);
    const ok = async (k: Kernel, target: string, method: string, args: unknown[] = []) => {
      const r = await k.call(target, method, args);
      if (r.rejected) throw Error(`${k.vatId}.${method}: ${(r.value as HostError).message}`);
      return r.value;
    };
    /** Hand `holder` a reference to one of `owner`'s objects; returns it as `holder` sees it. */
    const give = (owner: Kernel, ref: HostRef, holder: Kernel) =>
      new HostRef(holder.importGranted(owner.vatId, owner.grant(holder.vatId, ref.vref)));

    const moola = (await ok(bank!, 'o+0', 'makeMint', ['moola'])) as HostRef;
    const simoleans = (await ok(bank!, 'o+0', 'makeMint', ['simoleans'])) as HostRef;
    const purse = async (mint: HostRef, amount: number, holder: Kernel, currency: string) => {
      const p = (await ok(bank!, mint.vref, 'mintPurse', [amount])) as HostRef;
      await ok(holder, 'o+0', 'hold', [currency, give(bank!, p, holder)]);
    };
    await purse(moola, 100, alice!, 'moola');
    await purse(simoleans, 0, alice!, 'simoleans');
    await purse(moola, 0, bob!, 'moola');
    await purse(simoleans, 50, bob!, 'simoleans');
    say('[bank]    minted 100 moola for alice and 50 simoleans for bob (durable purses)');
    const balances = async () => {
      for (const t of [alice!, bob!]) {
        say(
          `[${t.vatId}]${' '.repeat(8 - t.vatId.length)}holds ${JSON.stringify(await ok(t, 'o+0', 'balances'))}`,
        );
      }
    };
    await balances();

    const bankFor = (t: Kernel) => give(bank!, new HostRef('o+0'), t);
    const [bankForAlice, bankForBob] = [bankFor(alice!), bankFor(bob!)];
    const t1 = performance.now();
    const a = await ok(alice!, 'o+0', 'trade', [
      bankForAlice,
      'd1',
      'a',
      'moola',
      30,
      'simoleans',
      20,
    ]);
    say(`[alice]   locks 30 moola for 20 simoleans in deal d1: ${String(a)}`);
    const b = await ok(bob!, 'o+0', 'trade', [bankForBob, 'd1', 'b', 'simoleans', 20, 'moola', 30]);
    say(`[bob]     locks 20 simoleans for 30 moola in deal d1: ${String(b)} (${ms(t1)})`);
    say('          (bank ! deal(id) ! lock(...): the lock was pipelined on the unresolved deal)');
    await balances();

    const tooMuch = await alice!.call('o+0', 'trade', [
      bankForAlice,
      'd2',
      'a',
      'moola',
      500,
      'simoleans',
      1,
    ]);
    say(`[alice]   offers 500 moola she does not have: ${errorText(tooMuch)}`);

    // Mallory runs her own mint contract and passes off one of her purses as bank money.
    const fakeMint = (await ok(mallory!, 'o+0', 'makeMint', ['moola'])) as HostRef;
    const fake = (await ok(mallory!, fakeMint.vref, 'mintPurse', [1_000_000])) as HostRef;
    const fakeForBob = give(mallory!, fake, bob!);
    await ok(bob!, 'o+0', 'hold', ['forged', fakeForBob]);
    const steal = await bob!.call('o+0', 'trade', [
      bankForBob,
      'd3',
      'a',
      'forged',
      1000,
      'simoleans',
      1,
    ]);
    say(`[mallory] gives bob a forged moola purse; bob tries to spend it: ${errorText(steal)}`);

    const spin = await alice!.call('o+0', 'spin', []);
    say(`[alice]   runs an infinite loop: ${errorText(spin)}`);
    await balances();
    say(
      `[alice]   restarted her vat worker ${alice!.stats.workerRestarts} time(s), lost nothing durable`,
    );
    say(
      `done in ${ms(t0)}; transcript hashes: ${vats.map((v) => `${v.vatId}=${v.transcript.hash.slice(0, 8)}`).join(' ')}`,
    );
  } finally {
    await Promise.all(vats.map((v) => v.close()));
  }
}

function ms(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}

function errorText(r: { rejected: boolean; value: unknown }): string {
  return r.rejected
    ? `refused: "${(r.value as HostError).message}"`
    : `succeeded?! ${JSON.stringify(r.value)}`;
}
