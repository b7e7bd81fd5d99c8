#!/usr/bin/env node
/**
 * The quorumvat command line.
 *   quorumvat demo     the local demo (what `npm start` runs)
 */
import { runLocalDemo } from '../demo/local-demo.ts';

const usage = `usage: quorumvat <command>

commands:
  demo      run the local demo: several confined vats trading through an escrow
`;

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'demo':
      await runLocalDemo();
      return 0;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`quorumvat: unknown command ${command}\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`quorumvat: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
