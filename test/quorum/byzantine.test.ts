/**
 * One Byzantine member of four (k = 3, so f = min(2k − n − 1, n − k) = 1), as a real process:
 * the real member runtime wrapped by byzantine-patch.ts, which equivocates as leader (two
 * different signed proposals for its rounds), forges the content of every outbound VatTP
 * message to the solo vat, and lies about its transcript hash at every height. The three
 * honest members and a solo vat (client layer over a real NetworkTransport) show:
 *   - the solo vat never delivers a forged message (each answer is the true count, in order);
 *   - no honest member diverges (the same transcript hash at the same height on all three);
 *   - honest members keep evidence against the liar and log it (bounded: not one line per
 *     message);
 *   - progress continues (every call is answered).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MemberProcess, makeQuorum, startMember, startSolo, until } from './members.ts';

const PATCH = new URL('./byzantine-patch.ts', import.meta.url).pathname;
const CALLS = Number(process.env['QUORUMVAT_BYZANTINE_CALLS'] ?? 40);

/** The member at index `i`, started with byzantine-patch.ts loaded first. */
async function startByzantine(q: Awaited<ReturnType<typeof makeQuorum>>, i: number) {
  // The child inherits the environment at spawn (synchronous, inside startMember).
  const saved = { options: process.env['NODE_OPTIONS'], byz: process.env['QUORUMVAT_BYZANTINE'] };
  process.env['NODE_OPTIONS'] = `${saved.options ?? ''} --import ${PATCH}`.trim();
  process.env['QUORUMVAT_BYZANTINE'] = '1';
  const started = startMember(q, i);
  if (saved.options === undefined) delete process.env['NODE_OPTIONS'];
  else process.env['NODE_OPTIONS'] = saved.options;
  delete process.env['QUORUMVAT_BYZANTINE'];
  return started;
}

test('n = 4, k = 3, one Byzantine member (equivocates as leader, forges outbound messages, lies about its transcript hash): nothing forged delivered, honest members agree, evidence logged, progress', async (t) => {
  const q = await makeQuorum(4, 3, { viewTimeoutMs: 1000, checkpointInterval: 4 });
  t.after(() => q.cleanup());
  const bad = 1;
  const members: MemberProcess[] = [];
  for (let i = 0; i < 4; i++)
    members.push(await (i === bad ? startByzantine(q, i) : startMember(q, i)));
  t.after(() => Promise.all(members.map((m) => m.stop('SIGKILL'))));
  const liar = members[bad]!;
  const honest = members.filter((m) => m !== liar);
  const solo = await startSolo(q);
  t.after(() => solo.close());
  const root = await solo.redeem(q.sturdyRef);

  const started = Date.now();
  // In turn, then in windows: enough rounds for the liar to lead several of them.
  const answers: unknown[] = [];
  for (let i = 0; i < CALLS / 2; i++)
    answers.push((await solo.kernel.call(root, 'count', [])).value);
  for (let i = CALLS / 2; i < CALLS; i += 5) {
    const got = await Promise.all(
      Array.from({ length: 5 }, () => solo.kernel.call(root, 'count', [])),
    );
    answers.push(...got.map((r) => r.value));
  }
  t.diagnostic(`${CALLS} calls answered in ${Date.now() - started} ms`);
  assert.deepEqual(
    answers,
    Array.from({ length: CALLS }, (_, i) => i + 1),
    'every answer true (never the forged 4242), once, in order',
  );
  assert.deepEqual(await solo.kernel.call(root, 'counted', []), {
    rejected: false,
    value: CALLS,
  });

  // The liar did all three (its wrapper says so once each).
  assert.deepEqual(
    liar.logs
      .filter((l) => l['msg'] === 'byzantine')
      .map((l) => l['act'])
      .sort(),
    ['equivocated', 'forged', 'lied'],
  );

  // The honest members agree: the same transcript hash at the same height.
  const state = await until('honest members agree', 90_000, async () => {
    const s = await Promise.all(honest.map((m) => m.status()));
    return s.every((x) => x.height === s[0]!.height && x.hash === s[0]!.hash) ? s[0] : undefined;
  });
  assert.ok(state.height > 0);
  for (const m of honest) {
    assert.deepEqual(
      m.logs.filter((l) => /diverged|halted/.test(String(l['msg']))),
      [],
      'no honest member diverged or halted',
    );
  }

  // Evidence against the liar, on every honest member, logged a bounded number of times.
  const evidence = honest.map((m) =>
    m.logs.filter(
      (l) => l['msg'] === 'quorum member misbehaved: evidence kept' && l['signer'] === liar.vatId,
    ),
  );
  const kinds = evidence.map((lines) => [...new Set(lines.map((l) => String(l['kind'])))].sort());
  t.diagnostic(`evidence kinds per honest member: ${JSON.stringify(kinds)}`);
  for (const [i, lines] of evidence.entries()) {
    assert.ok(lines.length > 0, `honest member ${i} logged evidence against the liar`);
    const perKind = new Map<string, number>();
    for (const l of lines)
      perKind.set(String(l['kind']), (perKind.get(String(l['kind'])) ?? 0) + 1);
    for (const [kind, count] of perKind) {
      assert.ok(count <= CALLS, `${kind} evidence logged ${count} times: bounded`);
    }
  }
  // Nobody else is accused.
  for (const m of honest) {
    const accused = m.logs
      .filter((l) => l['msg'] === 'quorum member misbehaved: evidence kept')
      .map((l) => l['signer']);
    assert.ok(
      accused.every((s) => s === liar.vatId),
      `only the liar accused: ${accused}`,
    );
  }
  const solos = solo.events.filter((e) => e.type === 'quorum-equivocation');
  t.diagnostic(`the solo vat logged ${solos.length} equivocation event(s)`);
});
