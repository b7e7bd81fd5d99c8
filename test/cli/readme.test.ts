/**
 * The README's by-hand example, executed as written (in a scratch directory instead of
 * /tmp/qv): three vat node processes wired together with `quorumvat send`, and every
 * `# → RESULT` comment checked against what the command printed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The block between the by-hand markers, each `CMD # → WANT` turned into a check. */
export function byHandScript(readme: string, scratch: string): { script: string; checks: number } {
  const m = /<!-- by-hand:start -->\n```sh\n([\s\S]*?)```\n<!-- by-hand:end -->/.exec(readme);
  if (!m) throw new Error('README has no by-hand block');
  let checks = 0;
  const lines = m[1]!
    .replaceAll('/tmp/qv', scratch)
    .split('\n')
    .map((line, i) => {
      const c = /^(.*?)\s+# → (.*)$/.exec(line);
      if (!c) return line;
      checks++;
      const want = c[2]!.replaceAll("'", "'\\''");
      return `out=$(${c[1]}) || true; [ "$out" = '${want}' ] || { echo "README line ${i + 1}: printed $out, README says ${want}" >&2; exit 1; }`;
    });
  return { script: ['set -euo pipefail', ...lines].join('\n'), checks };
}

test("the README's by-hand example runs as written and prints what it says", async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'qv-readme-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const { script, checks } = byHandScript(readFileSync(join(ROOT, 'README.md'), 'utf8'), scratch);
  assert.ok(checks >= 8, `${checks} checked results`);
  // Its own process group: whatever it left running is stopped afterwards.
  const child = spawn('bash', ['-c', script], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout!.resume();
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 300_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, err);
  for (const node of ['bank', 'alice', 'bob']) {
    const logs = readFileSync(join(scratch, `${node}.log`), 'utf8')
      .trim()
      .split('\n');
    const bad = logs
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level >= 50);
    assert.deepEqual(bad, [], `${node}: no error lines`);
  }
});
