#!/usr/bin/env node
/**
 * The quorumvat command line: `quorumvat --help`, `quorumvat COMMAND --help`. Options and
 * their QUORUMVAT_* variables are in config.ts; exit codes in config.ts EXIT (and the README).
 * A usage error is one plain line on stderr (exit 2); everything after that is logged as
 * pino JSON lines (config.ts, logging.ts).
 */
import { runLocalDemo } from '../demo/local-demo.ts';
import { type Config, EXIT } from './config.ts';
import { runAwaitGenesis, runMemberIdentity } from './member-agent.ts';
import { runNode } from './node-command.ts';
import { parseCommandLine, UsageError, usageLine } from './parse.ts';
import { runQuorumChange, runQuorumSubmit } from './quorum/change-command.ts';
import {
  runAdminKey,
  runGenesis,
  runIdentity,
  runSturdyKey,
  runSturdyRef,
} from './quorum/setup-commands.ts';
import { runQuorumStatus } from './quorum/status-command.ts';
import { runSend } from './send-command.ts';
import { runVerify } from './verify-command.ts';

async function main(argv: string[]): Promise<number> {
  const invocation = parseCommandLine(argv, (s) => process.stdout.write(s));
  if (invocation.kind === 'done') return EXIT.ok;
  const { command, config, args } = invocation;
  switch (command) {
    case 'node':
      return runNode(config as Config<'node'>);
    case 'send':
      return runSend(config as Config<'send'>, args);
    case 'verify':
      return runVerify(config as Config<'verify'>);
    case 'demo':
      await runLocalDemo({ keep: (config as Config<'demo'>).keep });
      return EXIT.ok;
    case 'identity':
      return runIdentity(config as Config<'identity'>);
    case 'quorum admin-key':
      return runAdminKey(config as Config<'quorum admin-key'>);
    case 'quorum sturdy-key':
      return runSturdyKey(config as Config<'quorum sturdy-key'>);
    case 'quorum genesis':
      return runGenesis(config as Config<'quorum genesis'>);
    case 'quorum sturdyref':
      return runSturdyRef(config as Config<'quorum sturdyref'>);
    case 'quorum status':
      return runQuorumStatus(config as Config<'quorum status'>);
    case 'quorum change':
      return runQuorumChange(config as Config<'quorum change'>);
    case 'quorum submit':
      return runQuorumSubmit(config as Config<'quorum submit'>);
    case 'member-agent identity':
      return runMemberIdentity(config as Config<'member-agent identity'>);
    case 'member-agent await-genesis':
      return runAwaitGenesis(config as Config<'member-agent await-genesis'>);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(usageLine(e));
      process.exit(EXIT.usage);
    }
    // A bug or an unexpected failure: one JSON line (with the stack: it is not the user's).
    const err = e as Error;
    process.stdout.write(
      `${JSON.stringify({ level: 60, time: new Date().toISOString(), vat: null, component: 'cli', err: { name: err?.name, message: err?.message, stack: err?.stack }, msg: `quorumvat failed: ${err?.message ?? String(e)}` })}\n`,
    );
    process.exit(EXIT.failure);
  },
);
