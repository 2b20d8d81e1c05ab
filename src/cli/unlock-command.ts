import { Command } from 'commander';
import { DEFAULT_UNLOCK_AGE, unlockDirectory } from '../nightly/lock.js';
import { ExitStatus } from '../errors.js';
import { durationArgument, printJson, say } from './context.js';
import type { CommandResult } from './context.js';

export function unlockCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('unlock')
    .description("remove an output directory's .safebak.lock left by a run that is gone (a dead local process, or another host's old lock)")
    .argument('<dir>', 'the output directory holding .safebak.lock')
    .option('--older-than <duration>', `remove another host's lock only when older than DURATION (7d, 12h, …)`, durationArgument, DEFAULT_UNLOCK_AGE)
    .option('--force', 'remove the lock whoever holds it, even a live local run')
    .option('--json', 'print the outcome as one JSON object')
    .action((dir: string, opts: Record<string, unknown>) => run(runUnlock(dir, opts)));
}

async function runUnlock(dir: string, opts: Record<string, unknown>): Promise<CommandResult> {
  const r = await unlockDirectory(dir, { olderThan: opts.olderThan as string, force: opts.force === true });
  if (opts.json === true) printJson(r);
  else if (!r.removed) say(`${dir}: no lock`);
  else {
    const who = r.owner ? `pid ${r.owner.pid} on ${r.owner.host} since ${r.owner.since}` : 'an unreadable holder';
    say(`removed ${r.path} (${who}): ${r.reason}`);
  }
  return ExitStatus.ok;
}
