#!/usr/bin/env node
import { ClusterError, errorText } from '../kube/errors.js';
import { VERSION } from '../version.js';
import { CliError, UsageError } from './errors.js';

const NAME = 'event-xmlrpc';

const USAGE = `${NAME} ${VERSION}: raise events for event-xmlrpc-operator, and see what it sends

Usage:
  ${NAME} raise EVENT [PARAM...] [-n NS] [--sync | --async] [--wait [--timeout DURATION]]
  ${NAME} render --socket SOCKET [--struct] [--user-agent UA] EVENT [PARAM...]
  ${NAME} COMMAND --help
  ${NAME} --help | --version

PARAM: name=text (string), name:=INT (signed 32-bit int), =text or :=INT (unnamed).
To list raises and subscribers: kubectl get eventraises,subscribers`;

// Loaded on use: `raise` needs the cluster client, which help, usage errors and `render` do not.
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  raise: async (args) => (await import('./raise.js')).raise(args),
  render: async (args) => (await import('./render.js')).render(args),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === '--help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command === '--version') {
      process.stdout.write(`${NAME} ${VERSION}\n`);
      return 0;
    }
    if (command === undefined) throw new UsageError('no command given', USAGE);
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(`unknown ${command.startsWith('-') ? 'option' : 'command'} "${command}"`, USAGE);
    return await run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${NAME}: ${err.message}\n\n${err.usage}\n`);
      return 2;
    }
    process.stderr.write(`${NAME}: ${err instanceof CliError || err instanceof ClusterError ? err.message : errorText(err)}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
