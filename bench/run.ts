// Runs every `bench/*.bench.ts` (sorted), each in its own child process with this Node.
//
//   tools/with-node.sh node bench/run.ts [FILTER...]    (npm run bench -- [FILTER...])
//
// A FILTER selects the files whose name contains it (any filter matches). The benches' JSON
// lines are checked (JSON object with a string `bench` field) and forwarded to stdout; their
// stderr goes to stderr. A bench that exits non-zero, prints a line that is not such an object,
// prints nothing, or runs past its time limit gets one line `{"bench":NAME,"error":"..."}` and
// makes this runner exit 1 once the rest have run. Per-bench time limit: BENCH_TIMEOUT_S
// (default 300, 60 under BENCH_QUICK=1). A summary of timings goes to stderr.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { emit, QUICK } from './lib.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const timeoutS = Number(process.env.BENCH_TIMEOUT_S ?? (QUICK ? 60 : 300));

let current: { pid: number | undefined } | undefined;
const killGroup = (pid: number | undefined) => {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killGroup(current?.pid);
    process.exit(130);
  });
}

/** The last error-looking line of a bench's stderr (e.g. `Error: boom`), else its last line. */
function errorHint(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at ') && !l.startsWith('Node.js v'));
  const hint =
    lines.findLast((l) => /^(\w*Error|\w*Exception)\b|\berror\b/i.test(l)) ?? lines.at(-1);
  return hint === undefined ? '' : `: ${hint.slice(0, 500)}`;
}

interface Outcome {
  name: string;
  lines: number;
  error?: string;
  seconds: number;
}

function runOne(file: string): Promise<Outcome> {
  const name = basename(file, '.bench.ts');
  const started = performance.now();
  return new Promise<Outcome>((resolve) => {
    // detached: own process group, so a timeout kills the bench and any peer it spawned.
    const child = spawn(process.execPath, [join(benchDir, file)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: process.env,
    });
    current = { pid: child.pid };
    let lines = 0;
    const problems: string[] = [];
    let stderrTail = '';
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (line.trim() === '') return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        problems.push(`stdout line is not JSON: ${line.slice(0, 200)}`);
        process.stderr.write(`[${name}] non-JSON stdout line: ${line}\n`);
        return;
      }
      if (
        typeof obj !== 'object' ||
        obj === null ||
        Array.isArray(obj) ||
        typeof (obj as { bench?: unknown }).bench !== 'string'
      ) {
        problems.push(`stdout line without a string "bench" field: ${line.slice(0, 200)}`);
        process.stderr.write(`[${name}] invalid stdout line: ${line}\n`);
        return;
      }
      lines++;
      process.stdout.write(`${line}\n`);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutS * 1000);
    const stdoutDone = new Promise<void>((r) => rl.once('close', r));
    child.once('error', (err) => problems.push(`spawn failed: ${err.message}`));
    child.once('close', async (code, signal) => {
      clearTimeout(timer);
      await stdoutDone;
      // Reap any peer process the bench left behind.
      killGroup(child.pid);
      current = undefined;
      const seconds = (performance.now() - started) / 1000;
      if (timedOut) problems.unshift(`timed out after ${timeoutS} s`);
      else if (code !== 0) {
        problems.unshift(`exited with ${code ?? signal}${errorHint(stderrTail)}`);
      } else if (lines === 0 && problems.length === 0) problems.push('printed no result line');
      resolve({
        name,
        lines,
        seconds,
        ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
      });
    });
  });
}

const t0 = performance.now();
const outcomes: Outcome[] = [];
if (files.length === 0) {
  process.stderr.write(`bench: no bench file matches ${JSON.stringify(filters)}\n`);
  process.exit(1);
}
for (const file of files) {
  process.stderr.write(`bench: running ${file}${QUICK ? ' (BENCH_QUICK)' : ''}\n`);
  const outcome = await runOne(file);
  if (outcome.error !== undefined) emit({ bench: outcome.name, error: outcome.error });
  outcomes.push(outcome);
}
const total = (performance.now() - t0) / 1000;
for (const o of outcomes) {
  process.stderr.write(
    `bench: ${o.name.padEnd(20)} ${o.seconds.toFixed(1).padStart(6)} s  ${o.lines} line(s)${o.error ? '  FAILED' : ''}\n`,
  );
}
process.stderr.write(`bench: total ${total.toFixed(1)} s${QUICK ? ' (BENCH_QUICK)' : ''}\n`);
process.exit(outcomes.some((o) => o.error !== undefined) ? 1 : 0);
