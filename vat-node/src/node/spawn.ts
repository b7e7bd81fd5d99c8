/**
 * Starting `quorumvat node` as a child process and waiting for it to be ready: for the demo,
 * the multi-process tests and the benches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const CLI = new URL('../cli/main.ts', import.meta.url).pathname;

export interface VatNodeProcess {
  readonly vatId: string;
  readonly addrs: string[];
  readonly sturdyRefFile: string;
  readonly child: ChildProcess;
  /** Every JSON log line the node printed so far. */
  readonly logs: Record<string, unknown>[];
  /** Send `signal` (SIGTERM: a clean stop) and wait for the exit and its last log lines. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  readonly dataDir: string;
  readonly contractPath: string;
  readonly name?: string;
  readonly bootstrap?: readonly string[];
  /** Listen addresses (default: a free port on 127.0.0.1). */
  readonly listen?: readonly string[];
  /** More `quorumvat node` arguments (e.g. --announce, --log-level). */
  readonly extraArgs?: readonly string[];
  /** Environment of the child (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** A command the node runs under (e.g. `unshare -m ...`): argv before node's. */
  readonly wrap?: readonly string[];
  readonly gasLimit?: number;
  /** Called with the child process as soon as it is spawned (before it is ready). */
  readonly onSpawn?: (child: ChildProcess) => void;
  /** Called with each log line (parsed), e.g. to forward errors. */
  readonly onLog?: (entry: Record<string, unknown>, line: string) => void;
  readonly readyTimeoutMs?: number;
}

export function spawnVatNode(options: SpawnOptions): Promise<VatNodeProcess> {
  const args = [CLI, 'node', '--data-dir', options.dataDir, '--contract', options.contractPath];
  if (options.name) args.push('--name', options.name);
  if (options.gasLimit) args.push('--gas', String(options.gasLimit));
  for (const b of options.bootstrap ?? []) args.push('--bootstrap', b);
  for (const l of options.listen ?? []) args.push('--listen', l);
  args.push(...(options.extraArgs ?? []));
  const [cmd, ...argv] = [...(options.wrap ?? []), process.execPath, ...args];
  const child = spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
  options.onSpawn?.(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4096);
  });
  // 'close', not 'exit': the last log lines may still be in the stdout pipe when the process exits.
  // (A process that inherited the pipe could hold it open: 5 s after the exit is enough.)
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('exit', () => setTimeout(resolve, 5_000).unref());
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await closed;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(Error(`vat node did not start: ${stderr}`));
    }, options.readyTimeoutMs ?? 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // A failure after the options were read is a pino line on stdout, not stderr.
      const failure = logs.findLast((l) => Number(l['level']) >= 50);
      const why = failure === undefined ? stderr : `${JSON.stringify(failure)} ${stderr}`;
      reject(Error(`vat node exited (${signal ?? code}) before it was ready: ${why}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      options.onLog?.(entry, line);
      if (entry['msg'] === 'vat node ready') {
        clearTimeout(timer);
        resolve({
          vatId: String(entry['vat']),
          addrs: entry['addrs'] as string[],
          sturdyRefFile: String(entry['sturdyRefFile']),
          child,
          logs,
          stop,
        });
      }
    });
  });
}
