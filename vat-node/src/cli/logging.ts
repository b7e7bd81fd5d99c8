/**
 * One log format for every command: pino JSON lines, ISO time, no pid or hostname, every line
 * with `vat` (the VatID, null before the key is loaded) and `component`. The long-running
 * node logs to stdout (what `kubectl logs` reads); `send` and `verify`, whose stdout is their
 * result, log the same lines to stderr.
 */
import { type Logger, pino } from 'pino';
import type { LogLevel } from './values.ts';

export type LogStream = 'stdout' | 'stderr';

/** The root logger: children add `component` (node, vattp, discovery, kernel, send, verify). */
export function createLogger(level: LogLevel, stream: LogStream = 'stdout'): Logger {
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    // Synchronous: a line written just before process.exit() is not lost.
    pino.destination({ dest: stream === 'stdout' ? 1 : 2, sync: true }),
  );
}
