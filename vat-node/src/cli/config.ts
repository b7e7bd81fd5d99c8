/**
 * The configuration of every quorumvat command, in one table: each option's flag, environment
 * variable, default, validator and help text. `--help` is generated from it, and nothing else
 * in the code base holds a default for these settings.
 *
 * Precedence: a flag beats its variable, which beats the default. A list option (--listen,
 * --announce, --bootstrap) takes several flags or one comma-separated value; its variable is
 * comma-separated. An empty variable counts as unset. Every value is checked here, so a bad one
 * stops the command before it does anything (exit 2, one line naming the flag or variable).
 */
import { DEFAULT_LIMITS } from '../kernel/vat-worker.ts';
import { DEFAULT_GAS_LIMIT } from '../liveslots/defaults.ts';
import { DEFAULT_PARAMS, type Genesis } from '../quorum/config.ts';
import { VATTP_DEFAULTS } from '../vattp/defaults.ts';
import * as quorum from './quorum/options.ts';

import {
  ConfigError,
  configMapName,
  directory,
  duration,
  type HttpAddress,
  httpAddress,
  integer,
  LOG_LEVELS,
  type LogLevel,
  logLevel,
  readableFile,
  tcpAddress,
  vatName,
} from './values.ts';

interface OptionSpec<T> {
  /** Commander flags: `--gas <units>` (a value) or `--keep` (a switch). */
  readonly flags: string;
  readonly env?: string;
  readonly help: string;
  /** Parsed value used when neither the flag nor the variable is given. */
  readonly default?: T;
  /** How the default reads in --help (when it is not the value itself). */
  readonly defaultText?: string;
  /** Several values (repeat the flag, or separate with commas). */
  readonly list?: boolean;
  readonly parse?: (raw: string) => T;
}

// ------------------------------------------------------------------ the table

export const OPTIONS = {
  dataDir: {
    flags: '--data-dir <dir>',
    env: 'QUORUMVAT_DATA_DIR',
    help: "the vat's data directory: its key, vat.sqlite, root.sturdyref (created if missing)",
    parse: directory,
  },
  contract: {
    flags: '--contract <file>',
    env: 'QUORUMVAT_CONTRACT',
    help: 'the contract: an ES module exporting buildRootObject',
    parse: readableFile,
  },
  name: {
    flags: '--name <name>',
    env: 'QUORUMVAT_NAME',
    help: "the vat's name in logs and its store",
    default: 'vat',
    parse: vatName,
  },
  listen: {
    flags: '--listen <addr>',
    env: 'QUORUMVAT_LISTEN',
    help: 'where to listen: multiaddr or host:port (port 0: any free port; 0.0.0.0: all interfaces)',
    list: true,
    default: ['/ip4/127.0.0.1/tcp/0'],
    parse: tcpAddress('listen'),
  },
  announce: {
    flags: '--announce <addr>',
    env: 'QUORUMVAT_ANNOUNCE',
    help: 'what peers should dial (sturdyref hints, the DHT): multiaddr or host:port; replaces the listen addresses in everything the node advertises',
    list: true,
    default: [],
    defaultText: 'the listen addresses',
    parse: tcpAddress('announce'),
  },
  bootstrap: {
    flags: '--bootstrap <addr>',
    env: 'QUORUMVAT_BOOTSTRAP',
    help: 'peers to join the DHT through: multiaddr (/dns4/NAME/tcp/PORT[/p2p/ID] may name several) or host:port; retried while unreachable',
    list: true,
    default: [],
    defaultText: 'none',
    parse: tcpAddress('bootstrap'),
  },
  gas: {
    flags: '--gas <units>',
    env: 'QUORUMVAT_GAS',
    help: 'gas limit of one delivery (function entries + loop iterations)',
    default: DEFAULT_GAS_LIMIT,
    parse: integer(1),
  },
  heapMb: {
    flags: '--heap-mb <MiB>',
    env: 'QUORUMVAT_HEAP_MB',
    help: "the vat worker's JavaScript heap (V8 old generation)",
    default: DEFAULT_LIMITS.heapMb,
    parse: integer(16, 65_536),
  },
  rssMb: {
    flags: '--rss-mb <MiB>',
    env: 'QUORUMVAT_RSS_MB',
    help: "the vat worker's resident memory (heap, strings, ArrayBuffers); a crank above it is aborted. Must exceed --heap-mb",
    default: undefined as number | undefined,
    defaultText: `twice --heap-mb, at least ${DEFAULT_LIMITS.rssMb}`,
    parse: integer(32, 131_072),
  },
  crankTimeout: {
    flags: '--crank-timeout <duration>',
    env: 'QUORUMVAT_CRANK_TIMEOUT',
    help: 'wall-clock limit of one delivery, a backstop behind gas: a crank past it is aborted',
    default: DEFAULT_LIMITS.crankTimeoutMs,
    defaultText: `${DEFAULT_LIMITS.crankTimeoutMs / 1000}s`,
    parse: duration('s'),
  },
  giveUp: {
    flags: '--give-up <duration>',
    env: 'QUORUMVAT_GIVE_UP',
    help: 'stop dialling a peer unreachable this long; what it is owed is kept and sent when it connects again',
    default: VATTP_DEFAULTS.giveUpMs,
    defaultText: '1h',
    parse: duration('s'),
  },
  http: {
    flags: '--http <host:port>',
    env: 'QUORUMVAT_HTTP',
    help: 'serve /healthz /readyz /metrics /identity on host:port (or off)',
    default: undefined as HttpAddress | undefined,
    defaultText: 'off',
    parse: httpAddress,
  },
  stopGrace: {
    flags: '--stop-grace <duration>',
    env: 'QUORUMVAT_STOP_GRACE',
    help: "on SIGTERM, wait this long at most for the cranks in progress before closing (below the platform's kill timeout: docker stop 10s, Kubernetes 30s)",
    default: 8_000,
    defaultText: '8s',
    parse: duration('s'),
  },
  logLevel: {
    flags: '--log-level <level>',
    env: 'QUORUMVAT_LOG_LEVEL',
    help: `log level: ${LOG_LEVELS.join(', ')}`,
    default: 'info' as LogLevel,
    parse: logLevel,
  },
  timeout: {
    flags: '--timeout <seconds>',
    env: 'QUORUMVAT_TIMEOUT',
    help: 'give up when no answer came within this time (30, 30s, 500ms, 2m)',
    default: 30_000,
    defaultText: '30s',
    parse: duration('s'),
  },
  keep: {
    flags: '--keep',
    help: 'leave the vat node processes running afterwards',
    default: false,
  },

  // ---- quorum vats (cli/quorum/)
  quorumGenesis: {
    flags: '--quorum-genesis <file>',
    env: 'QUORUMVAT_QUORUM_GENESIS',
    help: "run this node as a member of the quorum vat this genesis defines (its VatID must be a member or learner); the node's vat is then the quorum vat",
    default: undefined as Genesis | undefined,
    defaultText: 'none: a solo vat',
    parse: quorum.genesisFile,
  },
  quorumChain: {
    flags: '--quorum-chain <file>',
    env: 'QUORUMVAT_QUORUM_CHAIN',
    help: 'with --quorum-genesis: the configuration chain so far (quorumvat quorum status --json), for a member added after genesis',
    default: undefined as ReturnType<typeof quorum.chainFile> | undefined,
    defaultText: 'the genesis alone',
    parse: quorum.chainFile,
  },
  genesis: {
    flags: '--genesis <file>',
    help: "the quorum's genesis configuration (quorumvat quorum genesis)",
    parse: quorum.genesisFile,
  },
  chain: {
    flags: '--chain <file>',
    help: 'a configuration chain document (quorumvat quorum status --json), verified from the genesis',
    default: undefined as ReturnType<typeof quorum.chainFile> | undefined,
    defaultText: 'none',
    parse: quorum.chainFile,
  },
  out: {
    flags: '--out <file>',
    help: 'the file to write (never overwritten; secrets are written 0600)',
    parse: quorum.newFile,
  },
  member: {
    flags: '--member <vatId>',
    help: "a member's VatID (quorumvat identity --data-dir DIR prints it); one flag per member",
    list: true,
    parse: quorum.memberVatId,
  },
  memberEndpoint: {
    flags: '--member <url>',
    help: "a member's HTTP endpoint (its --http): http://HOST:PORT or HOST:PORT; several allowed",
    list: true,
    default: [] as string[],
    defaultText: 'none',
    parse: quorum.memberEndpoint,
  },
  threshold: {
    flags: '--threshold <k>',
    help: 'the threshold k: how many members must agree (2k > n)',
    default: undefined as number | undefined,
    parse: quorum.threshold,
  },
  admin: {
    flags: '--admin <key>',
    help: "the administrator's public key (quorumvat quorum admin-key), or its key file",
    parse: quorum.adminPublicKey,
  },
  adminKey: {
    flags: '--admin-key <file>',
    help: 'the administrator key file (quorumvat quorum admin-key) that signs the request',
    parse: quorum.adminKeyFile,
  },
  sturdyKey: {
    flags: '--sturdy-key <key>',
    help: 'public key of a sturdyref that opens the quorum vat (quorumvat quorum sturdy-key); several allowed',
    list: true,
    default: [] as string[],
    defaultText: 'none',
    parse: quorum.publicKeyHex,
  },
  quorumName: {
    flags: '--name <name>',
    help: "the quorum's name (logs, status): a-z 0-9 -",
    parse: quorum.genesisName,
  },
  nonce: {
    flags: '--nonce <hex>',
    help: 'the genesis nonce, 32 hex digits (two quorums of the same members get different VatIDs)',
    default: undefined as string | undefined,
    defaultText: 'random',
    parse: quorum.nonce,
  },
  viewTimeout: {
    flags: '--view-timeout <duration>',
    help: "how long members wait for the leader's next decision before replacing it",
    default: DEFAULT_PARAMS.viewTimeoutMs,
    defaultText: `${DEFAULT_PARAMS.viewTimeoutMs / 1000}s`,
    parse: duration('ms'),
  },
  add: {
    flags: '--add <vatId>',
    help: 'add this member (with --threshold K for the new k, else k stays)',
    default: undefined as string | undefined,
    parse: quorum.memberVatId,
  },
  remove: {
    flags: '--remove <vatId>',
    help: 'remove this member (with --threshold K for the new k, else k stays)',
    default: undefined as string | undefined,
    parse: quorum.memberVatId,
  },
  addLearner: {
    flags: '--add-learner <vatId>',
    help: 'admit this host as a learner: it catches up without a vote (add it later to vote it in)',
    default: undefined as string | undefined,
    parse: quorum.memberVatId,
  },
  removeLearner: {
    flags: '--remove-learner <vatId>',
    help: 'dismiss this learner',
    default: undefined as string | undefined,
    parse: quorum.memberVatId,
  },
  request: {
    flags: '--request <file>',
    help: 'a change request signed earlier (quorumvat quorum change --out FILE)',
    parse: quorum.signedChangeFile,
  },
  sturdyKeyFile: {
    flags: '--key <file>',
    help: 'the sturdyref key file (quorumvat quorum sturdy-key)',
    parse: quorum.sturdyKeyFile,
  },
  hint: {
    flags: '--hint <addr>',
    help: "a member's address for the sturdyref: /ip4/HOST/tcp/PORT/p2p/MEMBER; several allowed",
    list: true,
    default: [] as string[],
    defaultText: 'none (found through the DHT)',
    parse: quorum.memberHint,
  },
  json: {
    flags: '--json',
    help: 'print one JSON document instead of lines',
    default: false,
  },
  quorumDir: {
    flags: '--quorum-dir <dir>',
    env: 'QUORUMVAT_QUORUM_DIR',
    help: "member-agent: the pod's directory shared with the node (vatid, genesis.json, chain.json)",
    default: '/quorum',
    parse: directory,
  },
  terminationLog: {
    flags: '--termination-log <file>',
    env: 'QUORUMVAT_TERMINATION_LOG',
    help: "member-agent identity: where the VatID goes (the kubelet's termination message)",
    default: '/dev/termination-log',
    parse: (raw: string) => {
      if (raw.trim() === '') throw new ConfigError('expected a file path, got an empty string');
      return raw;
    },
  },
  genesisConfigmap: {
    flags: '--genesis-configmap <name>',
    env: 'QUORUMVAT_GENESIS_CONFIGMAP',
    help: "member-agent await-genesis: the ConfigMap holding the quorum's genesis",
    parse: configMapName,
  },
  chainConfigmap: {
    flags: '--chain-configmap <name>',
    env: 'QUORUMVAT_CHAIN_CONFIGMAP',
    help: 'member-agent await-genesis: the ConfigMap holding the configuration chain the operator saw',
    parse: configMapName,
  },
  poll: {
    flags: '--poll <duration>',
    env: 'QUORUMVAT_POLL',
    help: 'member-agent await-genesis: how often to look again',
    default: 1000,
    defaultText: '1s',
    parse: duration('ms'),
  },
} satisfies Record<string, OptionSpec<unknown>>;

export type OptionKey = keyof typeof OPTIONS;
type ValueOf<K extends OptionKey> = (typeof OPTIONS)[K] extends {
  list: true;
  parse: (s: string) => infer T;
}
  ? T[]
  : (typeof OPTIONS)[K] extends { parse: (s: string) => infer T }
    ? T
    : (typeof OPTIONS)[K] extends { default: infer D }
      ? D
      : never;

export interface CommandSpec {
  readonly summary: string;
  /** Positional arguments, in commander syntax. */
  readonly args?: readonly string[];
  readonly options: readonly OptionKey[];
  readonly required?: readonly OptionKey[];
  /** Per-command defaults (e.g. `send` logs only warnings). */
  readonly defaults?: Partial<Record<OptionKey, unknown>>;
  /** How those per-command defaults read in --help (when not the value itself). */
  readonly defaultTexts?: Partial<Record<OptionKey, string>>;
  readonly details?: string;
}

export const COMMANDS = {
  node: {
    summary: 'run a vat node; its root sturdyref is written to DIR/root.sturdyref',
    options: [
      'dataDir',
      'contract',
      'name',
      'listen',
      'announce',
      'bootstrap',
      'gas',
      'heapMb',
      'rssMb',
      'crankTimeout',
      'giveUp',
      'http',
      'stopGrace',
      'logLevel',
      'quorumGenesis',
      'quorumChain',
    ],
    required: ['dataDir', 'contract'],
    details:
      'SIGHUP revokes the root sturdyref and writes a new one. Logs: pino JSON lines on stdout.',
  },
  send: {
    summary: 'redeem STURDYREF and send it METHOD(ARG...); prints the result as one JSON line',
    args: ['<sturdyref>', '<method>', '[arg...]'],
    options: ['bootstrap', 'timeout', 'logLevel'],
    defaults: { logLevel: 'error' },
    details: [
      'Each ARG is JSON (\'"gold"\', 10, \'{"a":1}\'), or @quorumvat://... : a sturdyref that is',
      'redeemed first and passed as a reference. The result is printed as JSON: null for',
      'undefined, {"ref":"quorumvat://..."} for a reference (a sturdyref the target vat',
      'minted for it), {"error":"..."} (exit 1) for a rejection. Log lines go to stderr.',
    ].join('\n'),
  },
  verify: {
    summary: "check a stopped node's data directory: the transcript's hash chain and a replay",
    options: ['dataDir', 'logLevel'],
    required: ['dataDir'],
    defaults: { logLevel: 'warn' },
  },
  demo: {
    summary: 'the local demo: vat node processes on 127.0.0.1 trading through an escrow',
    options: ['keep'],
  },
  identity: {
    summary:
      "print this data directory's VatID as JSON (creating its key if missing, as the node does)",
    options: ['dataDir'],
    required: ['dataDir'],
    details: "How members' VatIDs are collected for a quorum genesis, before any node runs.",
  },
  'quorum admin-key': {
    summary:
      'generate a quorum administrator key pair: the secret to FILE (0600), the public key printed',
    options: ['out'],
    required: ['out'],
    details:
      'The administrator may only REQUEST membership changes; k members must still certify each one.',
  },
  'quorum sturdy-key': {
    summary:
      'generate a sturdyref key pair for a quorum vat: the secret to FILE (0600), the public key printed (give it to quorum genesis --sturdy-key)',
    options: ['out'],
    required: ['out'],
  },
  'quorum genesis': {
    summary: 'write a genesis configuration; prints the quorum VatID and the fault tolerance',
    options: [
      'member',
      'threshold',
      'admin',
      'sturdyKey',
      'quorumName',
      'nonce',
      'viewTimeout',
      'contract',
      'gas',
      'out',
    ],
    required: ['member', 'threshold', 'admin', 'quorumName', 'out'],
    details: [
      'With --contract the genesis pins the contract (its sha256) and --gas: a member node',
      'started with another contract or gas limit then refuses to start (it would diverge).',
    ].join('\n'),
  },
  'quorum sturdyref': {
    summary:
      "print the sturdyref URI of a sturdy key listed in the genesis (the holder's to keep: it is a secret)",
    options: ['sturdyKeyFile', 'genesis', 'hint'],
    required: ['sturdyKeyFile', 'genesis'],
  },
  'quorum status': {
    summary:
      "a quorum's configuration now (verified from its genesis), both fault-tolerance numbers, and its members' health",
    options: ['genesis', 'chain', 'memberEndpoint', 'json', 'timeout', 'logLevel'],
    required: ['genesis'],
    defaults: { timeout: 5_000, logLevel: 'warn' },
    defaultTexts: { timeout: '5s' },
    details: [
      'The chain comes from --chain and from every --member (GET /quorum/chain); each is verified',
      'from the genesis and the longest is shown. Exit 0: verified and every member ready;',
      '1: a member unreachable or not ready; 3: a chain does not verify or two chains conflict.',
    ].join('\n'),
  },
  'quorum change': {
    summary: 'sign a membership change request with the administrator key; submit it with --member',
    options: [
      'adminKey',
      'genesis',
      'chain',
      'add',
      'remove',
      'addLearner',
      'removeLearner',
      'threshold',
      'memberEndpoint',
      'out',
      'timeout',
      'logLevel',
    ],
    required: ['adminKey', 'genesis'],
    defaults: { logLevel: 'warn' },
    details: [
      'One change: --add, --remove (each with an optional --threshold), --add-learner,',
      '--remove-learner, or --threshold alone. It applies to the newest configuration known',
      '(--chain, the members). Without --member the signed request is printed (or written to',
      '--out); with --member it is POSTed to each (/quorum/changes) and the command waits',
      'until one reports it decided (exit 0), refused (1), or --timeout passes (5).',
    ].join('\n'),
  },
  'quorum submit': {
    summary: 'carry a change request signed earlier (quorum change --out) to members',
    options: ['memberEndpoint', 'request', 'timeout', 'logLevel'],
    required: ['request', 'memberEndpoint'],
    defaults: { logLevel: 'warn' },
    details:
      'Exit as quorum change: 0 decided, 1 refused or not submitted, 5 not decided within --timeout.',
  },
  'member-agent identity': {
    summary:
      "in a QuorumVat member's pod: make the member's key (if missing) and report only its VatID as the termination message",
    options: ['dataDir', 'quorumDir', 'terminationLog'],
    required: ['dataDir'],
  },
  'member-agent await-genesis': {
    summary:
      "in a QuorumVat member's pod: wait until the genesis exists and the chain admits this member, then copy both for the node",
    options: ['quorumDir', 'genesisConfigmap', 'chainConfigmap', 'poll'],
    required: ['genesisConfigmap', 'chainConfigmap'],
    details:
      "Reads the two ConfigMaps through the API server with the pod's ServiceAccount (its Role allows get on them only).",
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;
type CommandOptions<C extends CommandName> = (typeof COMMANDS)[C]['options'][number];

/** The checked configuration of command C. */
export type Config<C extends CommandName> = { [K in CommandOptions<C>]: ValueOf<K> };

/** Exit codes of every command (README, "Command line"). */
export const EXIT = {
  ok: 0,
  /** A runtime failure: cannot listen, data directory unusable, a call rejected. */
  failure: 1,
  /** A usage error: unknown command or option, bad or missing value. */
  usage: 2,
  /**
   * verify: the data directory fails verification (damaged or tampered with); quorum status: a
   * configuration chain does not verify from the genesis, or two members' chains conflict.
   */
  tampered: 3,
  /** verify: could not check (in use by a running node, missing, unreadable). */
  unavailable: 4,
  /** send: no answer in time (node down, unreachable, or no address to dial); quorum change: not decided in time. */
  timeout: 5,
} as const;

export function optionSpec(key: OptionKey): OptionSpec<unknown> {
  return OPTIONS[key] as OptionSpec<unknown>;
}

/** The long flag of an option (`--gas`). */
export function flagOf(key: OptionKey): string {
  return optionSpec(key).flags.split(' ')[0]!;
}
