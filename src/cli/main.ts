import { Command, CommanderError } from 'commander';
import { ExitStatus, SafebakError } from '../errors.js';
import { VERSION } from '../version.js';
import { createCommand } from './create-command.js';
import { doctorCommand } from './doctor-command.js';
import { extractCommand } from './extract-command.js';
import { say } from './context.js';
import type { CommandResult } from './context.js';
import { listCommand } from './list-command.js';
import { pruneCommand } from './prune-command.js';
import { unlockCommand } from './unlock-command.js';
import { verifyCommand } from './verify-command.js';

/**
 * Runs the safebak command line and resolves with the exit status (DESIGN
 * §8): 0 good, 1 flagged, 2 fatal, 3 integrity failure, 130 interrupted.
 * Errors become one line on stderr naming the path and the reason; a stack
 * trace only with `--log-level debug`.
 */
export async function main(argv: string[]): Promise<number> {
  let action: Promise<CommandResult> | null = null;
  const run = (result: Promise<CommandResult>): void => {
    action = result;
  };
  const program = new Command('safebak')
    .version(VERSION)
    .description('Backups that never let a file changed mid-transfer pass silently.')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`safebak: ${text.replace(/^error: /, '')}`) })
    .showSuggestionAfterError(true);
  for (const command of [createCommand(run), verifyCommand(run), listCommand(run), extractCommand(run), doctorCommand(run), pruneCommand(run), unlockCommand(run)]) {
    program.addCommand(command.exitOverride().configureOutput({ outputError: (text, write) => write(`safebak: ${text.replace(/^error: /, '')}`) }));
  }
  const debug = argv.includes('debug') && argv.some((a) => a.startsWith('--log-level'));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitStatus.ok;
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return ExitStatus.fatal;
      return ExitStatus.fatal;
    }
    return reportError(err, debug);
  }
  if (action === null) {
    say('no command given; see safebak --help');
    return ExitStatus.fatal;
  }
  try {
    return await action;
  } catch (err) {
    return reportError(err, debug);
  }
}

function reportError(err: unknown, debug: boolean): number {
  if (err instanceof SafebakError) {
    say(err.code === 'SAFEBAK_ABORTED' ? `${err.message}; no archive was left behind` : err.message);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitStatus;
  }
  const message = err instanceof Error ? err.message : String(err);
  say(`internal error: ${message}`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return ExitStatus.fatal;
}
