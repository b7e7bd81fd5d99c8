import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('npm start: the local demo tells its story (solo vats, then a quorum vat losing a member) and exits 0', () => {
  const cli = new URL('../vat-node/src/cli/main.ts', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [cli, 'demo'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  for (const line of [
    /4 vat nodes on 127\.0\.0\.1/,
    /\[bob\] +locks 20 simoleans for 30 moola in deal d1: exchanged/,
    /\[alice\] +holds \{"moola":70,"simoleans":20\}/,
    /\[bob\] +holds \{"forged":1000000,"moola":30,"simoleans":30\}/,
    /offers 500 moola she does not have: refused: "insufficient funds: 70 < 500"/,
    /forged moola purse; bob tries to spend it: refused: "not a purse of this bank"/,
    /runs an infinite loop: refused: "delivery aborted: gas limit \d+ exceeded"/,
    // Part 2: the bank as a quorum vat of 3 member processes, k = 2, one member killed.
    /quorum vat "qbank", run by 3 member processes/,
    /3 members, threshold 2: tolerates 0 Byzantine and 1 crashed/,
    /\[dave\] +locks 10 silver for 30 gold in deal q1: exchanged/,
    /member \d .*killed with SIGKILL: 2 of 3 members left, k = 2/,
    /\[dave\] +locks 5 silver for 20 gold in deal q2: exchanged/,
    /member \d restarted from its data directory/,
    /\[dave\] +locks 5 silver for 10 gold in deal q3: exchanged/,
    /\[carol\] +holds \{"gold":40,"silver":20\}/,
    /\[dave\] +holds \{"gold":60,"silver":20\}/,
    /member \d caught up from the others: all 3 members executed \d+ agreed batches, with the same transcript hash/,
  ]) {
    assert.match(out, line);
  }
});
