import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('npm start: the local demo tells its story and exits 0', () => {
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
  ]) {
    assert.match(out, line);
  }
});
