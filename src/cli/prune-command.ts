import path from 'node:path';
import { Command } from 'commander';
import { defaultJobConfig, loadConfigFile, splitConfig } from '../config/config.js';
import { SafebakError } from '../errors.js';
import { jobIdOf } from '../nightly/job-id.js';
import { acquireLock } from '../nightly/lock.js';
import { DEFAULT_TEMPLATE, templateDirectory, templateProblem } from '../nightly/output-name.js';
import type { PruneResult } from '../nightly/prune.js';
import { RETENTION_KEYS, retentionRulesOf } from '../nightly/retention-rules.js';
import { durationArgument, integerIn, printJson, say } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';

export function pruneCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('prune')
    .description('delete old nightly archives that safebak made, by retention rules; never the newest one that verifies')
    .argument('[dir]', 'the archive directory (default: the directory of the config\'s "output" template)')
    .option('--keep-last <n>', 'keep the N newest archives', integerIn(0, 1_000_000))
    .option('--keep-daily <n>', 'keep the newest archive of each of the last N days', integerIn(0, 1_000_000))
    .option('--keep-weekly <n>', 'keep the newest archive of each of the last N ISO weeks', integerIn(0, 1_000_000))
    .option('--keep-monthly <n>', 'keep the newest archive of each of the last N months', integerIn(0, 1_000_000))
    .option('--keep-yearly <n>', 'keep the newest archive of each of the last N years', integerIn(0, 1_000_000))
    .option('--keep-within <duration>', 'keep every archive created within DURATION (7d, 2w, 1y2m) of the newest', durationArgument)
    .option('--template <template>', `the archives' name template (default: the config's "output", else ${DEFAULT_TEMPLATE})`)
    .option('--config <file>', 'JSON configuration: the job ("job", or "output" and "sources"), its template and keep* rules')
    .option('--job <name>', 'the job whose archives may be deleted (default: the config\'s)')
    .option('--dry-run', 'say what would be deleted, delete nothing')
    .option('--force', 'prune although the clock, a future-dated archive or a lost source root says something is wrong')
    .option('--json', 'print the decisions as one JSON object')
    .action((dir: string | undefined, opts: Record<string, unknown>) => run(runPrune(dir, opts)));
}

async function runPrune(dir: string | undefined, opts: Record<string, unknown>): Promise<CommandResult> {
  const config = typeof opts.config === 'string' ? loadConfigFile(opts.config) : {};
  const template = typeof opts.template === 'string' ? opts.template : (config.output ?? DEFAULT_TEMPLATE);
  const problem = templateProblem(template);
  if (problem) throw new SafebakError('SAFEBAK_USAGE', `--template must be ${problem}`);
  const directory = dir ?? (config.output ? templateDirectory(config.output) : null);
  if (directory === null) throw new SafebakError('SAFEBAK_USAGE', 'no directory: give DIR, or --config with an "output" template');
  const job = typeof opts.job === 'string' ? opts.job : jobIdOf({ ...defaultJobConfig, ...splitConfig(config).job });
  if (job === null) throw new SafebakError('SAFEBAK_USAGE', 'no job: give --config FILE (its "job", or its "output" and "sources") or --job NAME');
  // A flag wins over the config's rule of the same name (commander camel-cases --keep-last to keepLast).
  const rules = retentionRulesOf(Object.fromEntries(RETENTION_KEYS.map((k) => [k, opts[k] ?? config[k]])));
  const interrupt = interruptSignal();
  // Pruning while a nightly run writes into the directory would race its retention: same lock.
  const lock = opts.dryRun === true ? null : await acquireLock(directory, { command: 'safebak prune' });
  const exitGuard = (): void => lock?.releaseSync();
  process.on('exit', exitGuard);
  try {
    if (lock?.tookOverFrom) say(`warning: took over a stale lock of pid ${lock.tookOverFrom.pid} (since ${lock.tookOverFrom.since})`);
    const { pruneArchives } = await import('../nightly/prune.js');
    const result = await pruneArchives(directory, {
      template,
      job,
      ...rules,
      dryRun: opts.dryRun === true,
      force: opts.force === true,
      signal: interrupt.signal,
    });
    if (opts.json === true) printJson(result);
    else printPruneResult(result);
    return result.status;
  } finally {
    interrupt.dispose();
    await lock?.release();
    process.off('exit', exitGuard);
  }
}

/** One line per archive: kept or deleted, and why. */
export function printPruneResult(r: PruneResult): void {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  for (const why of r.refusals) say(`${r.forced ? 'ignored (--force)' : 'refused'}: ${why}`);
  for (const d of r.kept) say(`keep ${d.name}: ${d.reasons.join('; ')}`);
  for (const d of r.deleted) say(`${verb} ${d.name}: ${d.reasons.join('; ')}`);
  for (const i of r.ignored) say(`left alone ${i.name}: ${i.reason}`);
  for (const e of r.errors) say(`error: ${e.name}: ${e.message}`);
  say(
    `${path.resolve(r.directory)}: kept ${r.kept.length}, ${verb} ${r.deleted.length}` +
      (r.newestVerified ? `; newest verified: ${r.newestVerified}` : r.deleted.length > 0 ? '; no archive verified' : '') +
      (r.refusals.length > 0 && !r.forced ? '; refused, nothing deleted (--force overrides)' : ''),
  );
}

