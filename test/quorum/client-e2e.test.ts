/**
 * Solo vats as real processes calling a quorum vat of 3 member processes (k = 2), end to end:
 * `quorumvat send QUORUM-STURDYREF count` is a whole client vat node (its own key, kernel, vat
 * worker, QuorumClientPort over VatTP) that knows nothing but the sturdyref: the quorum VatID
 * and the members' addresses as hints. It learns the quorum's chain from a member, verifies it
 * from the VatID, redeems the sturdyref at every member, makes the call (E(q).count()) and gets
 * the answer only once two members sent identical content. One member is then killed: the quorum
 * keeps serving; with all of them gone, one line says the quorum vat is unreachable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linesOf, pool, runCli } from '../cli/cli.ts';
import { makeQuorum, startMember } from './members.ts';

/** `quorumvat send` to the quorum's root; the JSON result (exit 0 asserted). */
async function send(uri: string, method: string, ...args: string[]): Promise<unknown> {
  const r = await runCli(['send', '--timeout', '60s', uri, method, ...args], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, `send ${method}: exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const lines = linesOf(r.stdout);
  assert.equal(lines.length, 1, r.stdout);
  return JSON.parse(lines[0]!);
}

test('solo vat processes call a 3-member quorum vat (k = 2) through its sturdyref; a member killed, it keeps serving', async (t) => {
  const q = await makeQuorum(3, 2, { viewTimeoutMs: 1000 });
  t.after(() => q.cleanup());
  const members = await Promise.all(q.members.map((_, i) => startMember(q, i)));
  t.after(() => Promise.all(members.map((m) => m.stop('SIGKILL'))));
  assert.match(q.sturdyRef, /^quorumvat:\/\/quorum[1-9A-HJ-NP-Za-km-z]+\/s\/.*addr=/);

  // Five client vats one after the other: each call answered once, in order.
  for (let i = 1; i <= 5; i++) assert.equal(await send(q.sturdyRef, 'count'), i);
  // Three at a time: every count exactly once.
  const concurrent = await pool(
    Array.from({ length: 6 }, () => () => send(q.sturdyRef, 'count')),
    3,
  );
  assert.deepEqual(
    [...(concurrent as number[])].sort((a, b) => a - b),
    [6, 7, 8, 9, 10, 11],
  );

  // One member dies (SIGKILL): two of three remain, k = 2.
  await members[0]!.stop('SIGKILL');
  assert.equal(await send(q.sturdyRef, 'count'), 12);
  assert.equal(await send(q.sturdyRef, 'counted'), 12);
  // Quiet when healthy: no member took another for an equivocator or an impostor.
  for (const m of members.slice(1)) {
    const bad = m.logs.filter((l) =>
      [
        'quorum member equivocated: evidence kept, member ignored',
        'frames refused: not a member of the quorum configuration',
      ].includes(String(l.msg)),
    );
    assert.deepEqual(bad, []);
  }

  // All members gone: the client says, in one line, that the quorum vat is unreachable.
  await Promise.all(members.map((m) => m.stop('SIGKILL')));
  const r = await runCli(['send', '--timeout', '3s', q.sturdyRef, 'count'], { timeoutMs: 60_000 });
  assert.equal(r.code, 5, r.stderr);
  const errors = linesOf(r.stderr)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => (l.level as number) >= 50);
  assert.equal(errors.length, 1, r.stderr);
  assert.match(String(errors[0]!.msg), new RegExp(`vat ${q.quorum} is unreachable`));
});
