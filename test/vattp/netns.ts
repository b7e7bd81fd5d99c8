/**
 * A private two-host network for partition tests: two network namespaces that the test creates,
 * joined by one veth pair on 10.213.<random>.0/30 and nothing else (no bridge, no route out,
 * no interface of the machine's own namespace touched: both veth ends are created directly
 * inside the namespaces). The namespaces are qv-<pid>-<id>-a/-b, the veth ends qv-<id>-a/-b
 * (interface names are at most 15 bytes); removing the namespaces removes the veth with them. Needs root, iproute2 (ip netns; ss -K, i.e. a kernel with
 * CONFIG_INET_DIAG_DESTROY) and iptables.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Prefix of every namespace (and veth) these tests create; leftovers are found by it. */
export const NETNS_PREFIX = 'qv-';

export interface NetHost {
  /** Network namespace name (also the name of its veth end). */
  readonly ns: string;
  readonly dev: string;
  readonly ip: string;
}

export interface NetPair {
  readonly a: NetHost;
  readonly b: NetHost;
  /** Words that run a command inside a namespace: [...prefix(host), command, ...args]. */
  prefix(host: NetHost): string[];
  /**
   * Cuts the link between a and b. 'reset' (default, see cutRules): connections torn down and
   * every dial refused. 'silent': every packet dropped, connections left half-alive, like a
   * partition that just swallows traffic.
   */
  cut(mode?: 'reset' | 'silent'): Promise<void>;
  heal(): Promise<void>;
  /** Removes the namespaces (and with them the veth and the rules); never throws. */
  destroy(): void;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quietly(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // best effort: cleanup must go on
  }
}

/** Namespace names carry the creating test process's pid: qv-<pid>-<id>-a. */
const OWNED = /^qv-(\d+)-[0-9a-f]+-[ab]$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killProcessesIn(ns: string): void {
  quietly(() => {
    for (const pid of ip('netns', 'pids', ns).split(/\s+/).filter(Boolean)) {
      quietly(() => process.kill(Number(pid), 'SIGKILL'));
    }
  });
}

/**
 * Removes namespaces named qv-* left by an earlier run that died before its cleanup, after
 * SIGKILLing the processes still inside them (that run's fixtures). A namespace whose creating
 * test process is still alive belongs to a concurrent run and is left alone. Returns the names.
 */
export function removeLeftoverNamespaces(): string[] {
  let listing = '';
  try {
    listing = ip('netns', 'list');
  } catch {
    return [];
  }
  const names = listing
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(NETNS_PREFIX))
    .filter((name) => {
      const owner = OWNED.exec(name)?.[1];
      return owner === undefined || (Number(owner) !== process.pid && !alive(Number(owner)));
    });
  for (const name of names) {
    killProcessesIn(name);
    quietly(() => ip('netns', 'delete', name));
  }
  return names;
}

/**
 * The cut. Each namespace answers every TCP segment from the peer (except resets) with a TCP
 * reset and drops the peer's other IP traffic; then the TCP connections between the two are
 * destroyed in both namespaces (ss -K, SOCK_DESTROY). So no byte crosses the link, both ends
 * of every connection are gone at once, and each dial during the cut is refused at once, like
 * a firewall or NAT that lost the flows' state and rejects new ones.
 *
 * Why not a silent cut (iptables DROP or link down; netem is not in this kernel): a few seconds
 * of silence do not break a TCP connection. Both ends stay "open" (the kernel gives up after
 * ~15 min of retransmissions; libp2p's connection monitor pings every 10 s with a timeout of
 * at least 5 s; the transport has no liveness timeout of its own), so nobody redials and there
 * is no backoff to observe: measured here, a 5 s DROP cut gave 0 dial attempts, a 20 s one a
 * first attempt 14 s in, which hung for the whole 5 s connect timeout. Rules alone (without
 * ss -K) are not enough either: a side whose window is full and which receives nothing sends
 * nothing, so its socket is never reset and it never notices the outage (half-open).
 */
function cutRules(peerIp: string): string[][] {
  return [
    [
      'INPUT',
      '-s',
      peerIp,
      '-p',
      'tcp',
      '!',
      '--tcp-flags',
      'RST',
      'RST',
      '-j',
      'REJECT',
      '--reject-with',
      'tcp-reset',
    ],
    ['INPUT', '-s', peerIp, '!', '-p', 'tcp', '-j', 'DROP'],
  ];
}

/** Creates the two namespaces and the veth pair; throws a clear error if netns is missing. */
export function createNetPair(): NetPair {
  const id = randomBytes(3).toString('hex');
  const owner = `${NETNS_PREFIX}${process.pid}-${id}`;
  const subnet = `10.213.${randomInt(0, 256)}`;
  const a: NetHost = {
    ns: `${owner}-a`,
    dev: `${NETNS_PREFIX}${id}-a`,
    ip: `${subnet}.1`,
  };
  const b: NetHost = {
    ns: `${owner}-b`,
    dev: `${NETNS_PREFIX}${id}-b`,
    ip: `${subnet}.2`,
  };
  const destroy = () => {
    for (const host of [a, b]) {
      killProcessesIn(host.ns);
      quietly(() => ip('netns', 'delete', host.ns));
    }
  };
  try {
    ip('netns', 'add', a.ns);
    ip('netns', 'add', b.ns);
    ip('link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
    for (const host of [a, b]) {
      ip('-n', host.ns, 'addr', 'add', `${host.ip}/30`, 'dev', host.dev);
      ip('-n', host.ns, 'link', 'set', 'lo', 'up');
      ip('-n', host.ns, 'link', 'set', host.dev, 'up');
    }
    // The cut needs iptables inside the namespaces: find out now, not mid-stream.
    execFileSync('ip', ['netns', 'exec', a.ns, 'iptables', '-w', '-S'], { stdio: 'pipe' });
  } catch (err) {
    destroy();
    const stderr = (err as { stderr?: Buffer | string }).stderr?.toString().trim();
    throw new Error(
      'network namespaces are not usable here (the partition test needs root, iproute2 ' +
        `with "ip netns", veth, iptables and ss -K): ${stderr || String(err)}`,
    );
  }

  let mode: 'reset' | 'silent' = 'reset';
  const rules = (peerIp: string) =>
    mode === 'reset' ? cutRules(peerIp) : [['INPUT', '-s', peerIp, '-j', 'DROP']];
  const iptables = async (host: NetHost, op: '-A' | '-D', peer: NetHost) => {
    for (const rule of rules(peer.ip)) {
      const [chain = 'INPUT', ...spec] = rule;
      await execFileAsync('ip', ['netns', 'exec', host.ns, 'iptables', '-w', op, chain, ...spec]);
    }
  };
  const ss = async (host: NetHost, ...args: string[]) =>
    (await execFileAsync('ip', ['netns', 'exec', host.ns, 'ss', '-H', '-t', '-n', ...args])).stdout;
  const killConnections = (host: NetHost, peer: NetHost) => ss(host, '-K', 'dst', peer.ip);
  const established = async (host: NetHost, peer: NetHost) =>
    (await ss(host, 'state', 'established', 'dst', peer.ip)).trim();
  return {
    a,
    b,
    prefix: (host) => ['ip', 'netns', 'exec', host.ns],
    cut: async (how = 'reset') => {
      mode = how;
      await Promise.all([iptables(a, '-A', b), iptables(b, '-A', a)]);
      if (how === 'silent') return;
      await Promise.all([killConnections(a, b), killConnections(b, a)]);
      for (const [host, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        const left = await established(host, peer);
        if (left !== '') throw new Error(`connections survived the cut in ${host.ns}: ${left}`);
      }
    },
    heal: async () => {
      await Promise.all([iptables(a, '-D', b), iptables(b, '-D', a)]);
    },
    destroy,
  };
}
