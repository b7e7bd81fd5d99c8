/**
 * The value types of command-line options and QUORUMVAT_* variables: each parser checks one raw
 * string and returns the value, or throws a ConfigError saying what was expected (the caller
 * adds which flag or variable it was). The option table that uses them is config.ts.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';

/** A value that no option accepts: the message says what was expected (the flag is added). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HttpAddress {
  readonly host: string;
  readonly port: number;
}

/** A whole number in [min, max], written in decimal digits (no 1e3, 0x10, 1.5, 10abc). */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const s = raw.trim().replaceAll('_', '');
    if (!/^\d+$/.test(s)) throw new ConfigError(`expected a whole number, got "${raw}"`);
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`expected a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** setTimeout's ceiling (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration in milliseconds: `30` (in `unit`), `500ms`, `1.5s`, `2m`, `1h`; above zero. */
export function duration(unit: 'ms' | 's') {
  return (raw: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
    if (!m) throw new ConfigError(`expected a duration like 30s, 500ms or 2m, got "${raw}"`);
    const ms = Number(m[1]) * UNITS[m[2] ?? unit]!;
    if (!(ms >= 1) || ms > MAX_TIMER_MS) {
      throw new ConfigError(`expected a duration from 1ms to 24d, got "${raw}"`);
    }
    return Math.round(ms);
  };
}

export function port(raw: string, min: number): number {
  if (!/^\d{1,5}$/.test(raw)) throw new ConfigError(`bad port "${raw}"`);
  const n = Number(raw);
  if (n < min || n > 65535) throw new ConfigError(`port ${raw} is out of range (${min}-65535)`);
  return n;
}

/** `host:port`, `[v6]:port`: split, or undefined when `raw` is not of that form. */
function hostPort(raw: string): { host: string; port: string } | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(raw);
  if (v6) return { host: v6[1]!, port: v6[2]! };
  const m = /^([^/:\s]*):([^:]*)$/.exec(raw);
  return m ? { host: m[1]!, port: m[2]! } : undefined;
}

type AddrUse = 'listen' | 'announce' | 'bootstrap';

/**
 * A TCP address as a multiaddr string. `host:port` is accepted and converted (an IP becomes
 * /ip4 or /ip6, a name /dns4). What each use allows:
 * - listen: an IP (0.0.0.0 for every interface), port 0 = any free port;
 * - announce: what peers should dial: a reachable IP or DNS name, a fixed port, never
 *   0.0.0.0 / :: (not an address) — loopback is allowed for tests on one machine;
 * - bootstrap: an IP or DNS name (a name may resolve to several peers), an optional /p2p/ID.
 */
export function tcpAddress(use: AddrUse) {
  return (raw: string): string => {
    const text = raw.trim();
    let ma: string;
    if (text.startsWith('/')) {
      ma = text;
    } else {
      const hp = hostPort(text);
      if (!hp) {
        throw new ConfigError(
          `expected a multiaddr like /ip4/10.0.0.5/tcp/4001 or host:port, got "${raw}"`,
        );
      }
      const host = hp.host === '' ? '0.0.0.0' : hp.host;
      const p = port(hp.port, use === 'listen' ? 0 : 1);
      const kind = isIP(host) === 6 ? 'ip6' : isIP(host) === 4 ? 'ip4' : 'dns4';
      ma = `/${kind}/${host}/tcp/${p}`;
    }
    let parts: { name: string; value?: string }[];
    try {
      parts = multiaddr(ma).getComponents();
    } catch (e) {
      throw new ConfigError(`not a valid multiaddr "${raw}" (${(e as Error).message})`);
    }
    const [net, tcp, p2p, ...rest] = parts;
    const names = parts.map((c) => c.name).join('/');
    const dns = net?.name === 'dns4' || net?.name === 'dns6' || net?.name === 'dns';
    if (!net || !tcp || tcp.name !== 'tcp' || !(net.name === 'ip4' || net.name === 'ip6' || dns)) {
      throw new ConfigError(
        `expected an IP or DNS address with /tcp/PORT, got "${raw}" (${names})`,
      );
    }
    if (rest.length > 0 || (p2p !== undefined && (p2p.name !== 'p2p' || use !== 'bootstrap'))) {
      throw new ConfigError(
        `unexpected /${p2p?.name}${use === 'bootstrap' ? '' : ' (only --bootstrap takes /p2p/ID)'} in "${raw}"`,
      );
    }
    port(tcp.value ?? '', use === 'listen' ? 0 : 1);
    if (use === 'listen' && dns) {
      throw new ConfigError(`listen on an IP address (0.0.0.0 for all interfaces), not "${raw}"`);
    }
    if (use !== 'listen' && (net.value === '0.0.0.0' || net.value === '::')) {
      throw new ConfigError(`${net.value} is not an address peers can dial ("${raw}")`);
    }
    if (p2p !== undefined) {
      try {
        peerIdFromString(p2p.value ?? '');
      } catch {
        throw new ConfigError(`/p2p/${p2p.value} is not a VatID (peer ID) in "${raw}"`);
      }
    }
    return ma;
  };
}

/** `host:port` (or `:port`: all interfaces), or `off`. */
export function httpAddress(raw: string): HttpAddress | undefined {
  if (raw.trim() === 'off') return undefined;
  const hp = hostPort(raw.trim());
  if (!hp) throw new ConfigError(`expected host:port (e.g. 0.0.0.0:8080) or off, got "${raw}"`);
  const host = hp.host === '' ? '0.0.0.0' : hp.host;
  if (isIP(host) === 0 && host !== 'localhost') {
    throw new ConfigError(`expected an IP address or localhost before the port, got "${raw}"`);
  }
  return { host, port: port(hp.port, 0) };
}

export function logLevel(raw: string): LogLevel {
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError(`expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level as LogLevel;
}

export function readableFile(raw: string): string {
  try {
    if (!statSync(raw).isFile()) throw new ConfigError(`${raw} is not a file`);
    accessSync(raw, constants.R_OK);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot read ${raw} (${(e as NodeJS.ErrnoException).code})`);
  }
  return raw;
}

export function directory(raw: string): string {
  if (raw.trim() === '') throw new ConfigError('expected a directory, got an empty string');
  try {
    if (!statSync(raw).isDirectory()) throw new ConfigError(`${raw} is not a directory`);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // Not there yet: the node creates it.
  }
  return raw;
}

/** A Kubernetes object name (RFC 1123 subdomain). */
export function configMapName(raw: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(raw)) {
    throw new ConfigError(
      `expected a ConfigMap name (lower-case letters, digits, - and .), got "${raw}"`,
    );
  }
  return raw;
}

export function vatName(raw: string): string {
  if (!/^[A-Za-z0-9][\w.-]{0,62}$/.test(raw)) {
    throw new ConfigError(`expected 1-63 letters, digits, . _ - (got "${raw}")`);
  }
  return raw;
}
