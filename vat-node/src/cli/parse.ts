/**
 * Reads a command line (and the QUORUMVAT_* variables) against the table in config.ts, with
 * commander for the grammar: commands, flags, -h/--help per command, -V/--version, "did you
 * mean" suggestions. Values are resolved and checked here (flag, else variable, else default),
 * so every mistake becomes one UsageError line naming the flag or variable.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  COMMANDS,
  type CommandName,
  type CommandSpec,
  flagOf,
  type OptionKey,
  optionSpec,
} from './config.ts';
import { ConfigError } from './values.ts';

/** A mistake of the user: printed as one line, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

export type Invocation =
  | { readonly kind: 'done' } // help or version was printed
  | {
      readonly kind: 'run';
      readonly command: CommandName;
      readonly config: Record<string, unknown>;
      /** Positional arguments (send: sturdyref, method, args). */
      readonly args: string[];
    };

/** Descriptions of command groups (their subcommands are COMMANDS entries `GROUP SUB`). */
const GROUPS: Record<string, string> = {
  quorum: 'quorum vats: keys, genesis, status, membership changes (quorumvat quorum --help)',
  'member-agent': "the steps a QuorumVat member's pod runs before its node (the operator's)",
};

/** The top-level commands and groups, in table order. */
const TOP_LEVEL = [...new Set(Object.keys(COMMANDS).map((n) => n.split(' ')[0]!))];

/** The command (or `GROUP SUB`, or just `GROUP`) an argument list names, for error lines. */
function commandOf(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => TOP_LEVEL.includes(a));
  if (i < 0) return undefined;
  const top = argv[i]!;
  if (!(top in GROUPS)) return top;
  const sub = argv.slice(i + 1).find((a) => `${top} ${a}` in COMMANDS);
  return sub === undefined ? top : `${top} ${sub}`;
}

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

function describe(key: OptionKey, spec: CommandSpec): string {
  const o = optionSpec(key);
  const perCommand = (spec.defaults as Record<string, unknown> | undefined)?.[key];
  const dflt = perCommand ?? o.default;
  const notes: string[] = [];
  if (o.env) notes.push(`env ${o.env}`);
  if (spec.required?.includes(key)) notes.push('required');
  else if (spec.defaultTexts?.[key]) notes.push(`default: ${spec.defaultTexts[key]}`);
  else if (o.defaultText && perCommand === undefined) notes.push(`default: ${o.defaultText}`);
  else if (dflt !== undefined && dflt !== false) {
    notes.push(`default: ${Array.isArray(dflt) ? dflt.join(',') : String(dflt)}`);
  }
  return notes.length ? `${o.help} [${notes.join('; ')}]` : o.help;
}

function build(write: (s: string) => void, captured: { run?: Invocation }): Command {
  const program = new Command('quorumvat')
    .description('object-capability vats over libp2p')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help (also: quorumvat COMMAND --help)')
    .helpCommand(false)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: write, writeErr: () => {}, outputError: () => {} })
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 verify: damaged or tampered',
        '(quorum status: a chain that does not verify), 4 verify: could not check (in use,',
        'missing), 5 send: no answer in time (quorum change: not decided in time).',
        'Every option can also be set by its QUORUMVAT_* variable (a flag wins).',
      ].join('\n'),
    );
  // `quorum genesis` etc. are subcommands of a `quorum` group (which has no action itself).
  const groups = new Map<string, Command>();
  const parentOf = (name: string): { parent: Command; leaf: string } => {
    const [group, leaf] = name.split(' ');
    if (leaf === undefined) return { parent: program, leaf: group! };
    let parent = groups.get(group!);
    if (parent === undefined) {
      parent = program
        .command(group!)
        .description(GROUPS[group!] ?? group!)
        .helpOption('-h, --help', 'show help for this command')
        .helpCommand(false)
        .exitOverride()
        .showSuggestionAfterError(true)
        .configureOutput({ writeOut: write, writeErr: () => {}, outputError: () => {} });
      groups.set(group!, parent);
    }
    return { parent, leaf };
  };
  for (const [name, spec] of Object.entries(COMMANDS) as [CommandName, CommandSpec][]) {
    const { parent, leaf } = parentOf(name);
    const cmd = parent
      .command(leaf)
      .description(spec.summary)
      .helpOption('-h, --help', 'show help for this command')
      .exitOverride()
      .showSuggestionAfterError(true)
      .configureOutput({ writeOut: write, writeErr: () => {}, outputError: () => {} });
    for (const arg of spec.args ?? []) cmd.argument(arg);
    for (const key of spec.options) {
      const o = optionSpec(key);
      const option = new Option(o.flags, describe(key, spec));
      if (o.list) option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      cmd.addOption(option);
    }
    if (spec.details) cmd.addHelpText('after', `\n${spec.details}`);
    cmd.action(() => {
      captured.run = {
        kind: 'run',
        command: name,
        config: resolve(name, spec, cmd),
        args: cmd.args,
      };
    });
  }
  return program;
}

/** Flag, else variable, else default; each value checked by the option's validator. */
function resolve(name: CommandName, spec: CommandSpec, cmd: Command): Record<string, unknown> {
  const given = cmd.opts<Record<string, unknown>>();
  const config: Record<string, unknown> = {};
  for (const key of spec.options) {
    const o = optionSpec(key);
    // Commander names a value after its flag (--member → member), the table by its key.
    const fromFlag = given[new Option(o.flags).attributeName()];
    const fromEnv = o.env ? process.env[o.env] : undefined;
    let raws: string[] | undefined;
    let source: string;
    if (fromFlag !== undefined && typeof fromFlag !== 'boolean') {
      raws = Array.isArray(fromFlag) ? (fromFlag as string[]) : [fromFlag as string];
      source = flagOf(key);
    } else if (typeof fromFlag === 'boolean') {
      config[key] = fromFlag;
      continue;
    } else if (fromEnv !== undefined && fromEnv.trim() !== '') {
      raws = [fromEnv];
      source = o.env!;
    } else {
      source = '';
    }
    if (raws === undefined) {
      if (spec.required?.includes(key)) {
        throw new UsageError(`missing ${flagOf(key)}${o.env ? ` (or ${o.env})` : ''}`, name);
      }
      const perCommand = (spec.defaults as Record<string, unknown> | undefined)?.[key];
      config[key] = perCommand ?? o.default;
      continue;
    }
    if (o.parse === undefined) throw new UsageError(`${source} takes no value`, name);
    // A list option takes comma-separated values (needed for variables, handy for flags).
    const items = o.list ? raws.flatMap((r) => r.split(',')).map((r) => r.trim()) : raws;
    const values: unknown[] = [];
    for (const raw of items) {
      if (o.list && raw === '')
        throw new UsageError(`${source}: empty item in "${raws.join(',')}"`, name);
      try {
        values.push(o.parse(raw));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        throw new UsageError(`${source}: ${e.message}`, name);
      }
    }
    config[key] = o.list ? values : values[0];
  }
  return config;
}

/**
 * Parses argv (without node and script). Help and version are written with `write`; every
 * mistake throws a UsageError.
 */
export function parseCommandLine(argv: readonly string[], write: (s: string) => void): Invocation {
  if (argv.length === 0) {
    throw new UsageError(`missing command (${TOP_LEVEL.join(', ')})`);
  }
  const captured: { run?: Invocation } = {};
  const program = build(write, captured);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') {
      return { kind: 'done' };
    }
    const command = commandOf(argv);
    if (e.code === 'commander.help' && command !== undefined && command in GROUPS) {
      const subs = Object.keys(COMMANDS)
        .filter((n) => n.startsWith(`${command} `))
        .map((n) => n.slice(command.length + 1));
      throw new UsageError(`missing subcommand (${subs.join(', ')})`, command);
    }
    const message = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    throw new UsageError(message, command);
  }
  if (captured.run === undefined) throw new UsageError('missing command');
  return captured.run;
}

/** The one line printed for a usage error. */
export function usageLine(e: UsageError): string {
  const where = e.command ? `quorumvat ${e.command}` : 'quorumvat';
  return `${where}: ${e.message} (see: ${where} --help)\n`;
}
