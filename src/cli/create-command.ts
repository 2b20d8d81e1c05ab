import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { CreateResult } from '../create/create-archive.js';
import { defaultConfig, defaultJobConfig, loadConfigFile, splitConfig, validateConfig } from '../config/config.js';
import type { Config, JobConfig } from '../config/config.js';
import { acquireLock } from '../nightly/lock.js';
import type { DirectoryLock } from '../nightly/lock.js';
import { jobIdOf } from '../nightly/job-id.js';
import { expandTemplate } from '../nightly/output-name.js';
import type { PruneResult } from '../nightly/prune.js';
import { hasRetentionRule, retentionRulesOf } from '../nightly/retention-rules.js';
import { buildReport, errorOf, writeReport } from '../nightly/report.js';
import { ExitStatus, SafebakError } from '../errors.js';
import { count, formatBytes, formatSeconds } from './format.js';
import { collect, integerIn, printJson, say } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';
import { printPruneResult } from './prune-command.js';
import { ProgressLine } from './progress.js';

/** Flags that map one-to-one onto a configuration key. */
const FLAG_TO_CONFIG: Record<string, keyof Config> = {
  compress: 'compress',
  level: 'level',
  strategy: 'strategy',
  retries: 'retries',
  paranoid: 'paranoid',
  oneFileSystem: 'oneFileSystem',
  verify: 'verify',
  logFile: 'logFile',
  logLevel: 'logLevel',
  requireMount: 'requireMount',
  requireMarker: 'requireMarker',
};

export function createCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('create')
    .description('archive PATHs into tar (optionally zstd) with a checksummed manifest, verified after writing')
    .option('-o, --output <archive>', 'archive file, or - for stdout (default: the config\'s "output" template)')
    .option('-C, --directory <dir>', 'resolve PATHs relative to DIR (archive names stay relative)')
    .addOption(new Option('--compress <kind>', 'compression (default: from the output name)').choices(['zstd', 'none']))
    .option('--level <n>', 'zstd level', integerIn(-7, 22))
    .addOption(new Option('--strategy <strategy>', 'transfer strategy').choices(['auto', 'copy', 'splice', 'snapshot']))
    .option('--retries <n>', 'retries for a file that changed while read', integerIn(0, 100))
    .option('--paranoid', 're-hash every file after reading it')
    .option('--exclude <glob>', 'leave out matching paths (repeatable)', collect)
    .option('--one-file-system', 'stay on the filesystem of each source')
    .option('--no-verify', 'skip the read-back verification of the written archive')
    .option('--require-mount', 'every source root must be a mount point (exit 2 and no archive otherwise)')
    .option('--require-marker <name>', 'every source root must hold a file of this name (exit 2 and no archive otherwise)')
    .option('--config <file>', 'JSON configuration (see config/README.md)')
    .option('--report <file>', 'write a JSON report of the run to FILE (atomically, also when it fails)')
    .option('--json', 'print the result as one JSON object')
    .option('--log-file <file>', 'write pino JSON log lines to FILE')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .argument('[paths...]', 'files and directories to archive (default: the config\'s "sources")')
    .action((paths: string[], opts: Record<string, unknown>, cmd: Command) => run(runCreate(paths, opts, cmd)));
}

function settingsFrom(opts: Record<string, unknown>, cmd: Command): { settings: Config; job: JobConfig } {
  const fromFile = splitConfig(typeof opts.config === 'string' ? loadConfigFile(opts.config) : {});
  const settings: Config = { ...defaultConfig, ...fromFile.create };
  const job: JobConfig = { ...defaultJobConfig, ...fromFile.job };
  for (const [flag, key] of Object.entries(FLAG_TO_CONFIG)) {
    if (cmd.getOptionValueSource(flag) === 'cli') (settings as unknown as Record<string, unknown>)[key] = opts[flag];
  }
  if (Array.isArray(opts.exclude)) settings.exclude = [...settings.exclude, ...(opts.exclude as string[])];
  validateConfig(settings, 'command line');
  return { settings, job };
}

const usage = (message: string): SafebakError => new SafebakError('SAFEBAK_USAGE', message);

async function runCreate(paths: string[], opts: Record<string, unknown>, cmd: Command): Promise<CommandResult> {
  const startedAt = new Date();
  const { settings, job } = settingsFrom(opts, cmd);
  // A nightly job names its sources and output in the config; the command line wins.
  const sources = paths.length > 0 ? paths : job.sources;
  if (sources.length === 0) throw usage('nothing to archive: give PATHs, or "sources" in --config');
  const template = typeof opts.output === 'string' ? null : job.output;
  const output = typeof opts.output === 'string' ? opts.output : template !== null ? expandTemplate(template, startedAt) : null;
  if (output === null) throw usage('no output: give -o ARCHIVE (or - for stdout), or an "output" template in --config');
  const directory = typeof opts.directory === 'string' ? opts.directory : (job.directory ?? undefined);
  const reportTemplate = typeof opts.report === 'string' ? opts.report : job.report;
  const reportPath = reportTemplate === null ? null : expandTemplate(reportTemplate, startedAt);
  const toStdout = output === '-';
  if (toStdout && process.stdout.isTTY) {
    throw new SafebakError('SAFEBAK_USAGE', 'refusing to write archive data to a terminal (redirect stdout, or use -o FILE)');
  }
  const nameSays = /\.(tar\.zst|tzst|zst)$/.test(output) ? 'zstd' : /\.tar$/.test(output) ? 'none' : null;
  if (settings.compress !== 'auto' && nameSays !== null && nameSays !== settings.compress) {
    throw new SafebakError('SAFEBAK_USAGE', `--compress ${settings.compress} conflicts with the output name ${output} (which means ${nameSays})`);
  }
  // The pipeline, pino and retention load only for a create: other commands start faster without them.
  const [{ createArchive }, { createCliLogger, reopenLogFile }, { pruneArchives }] = await Promise.all([
    import('../create/create-archive.js'),
    import('./logger.js'),
    import('../nightly/prune.js'),
  ]);
  const logger = createCliLogger({ logFile: settings.logFile, logLevel: settings.logLevel, levelGiven: cmd.getOptionValueSource('logLevel') === 'cli' });
  const interrupt = interruptSignal();
  // SIGHUP: logrotate's "reopen your log"; without a log file, the session that started us went away.
  const hangup = new AbortController();
  const onHangup = (): void => {
    if (!reopenLogFile(logger, settings)) hangup.abort(new SafebakError('SAFEBAK_ABORTED', 'interrupted by SIGHUP'));
  };
  process.on('SIGHUP', onHangup);
  const signal = AbortSignal.any([interrupt.signal, hangup.signal]);
  const progress = new ProgressLine();
  const json = opts.json === true;
  const warnings: string[] = [];
  let lock: DirectoryLock | null = null;
  // Last resort for exit paths that skip `finally` (an uncaught error): the lock must not outlive us.
  const exitGuard = (): void => lock?.releaseSync();
  let result: CreateResult | null = null;
  let retention: PruneResult | null = null;
  let failure: unknown = null;
  let status: number = ExitStatus.fatal;
  try {
    if (!toStdout) {
      // Taken before anything is written: a second overlapping run stops here, having touched nothing.
      lock = await acquireLock(path.dirname(path.resolve(output)), { logger, command: 'safebak create' });
      process.on('exit', exitGuard);
      if (lock.tookOverFrom) {
        warnings.push(`took over a stale lock of pid ${lock.tookOverFrom.pid} (since ${lock.tookOverFrom.since})`);
        say(`warning: ${warnings.at(-1)}`);
      }
    }
    const { logLevel: _l, logFile: _f, ...createSettings } = settings;
    result = await createArchive({
      ...createSettings,
      compress: settings.compress === 'auto' && toStdout ? 'none' : settings.compress,
      sources,
      output: toStdout ? process.stdout : output,
      cwd: directory,
      signal,
      logger,
      collectRecords: false,
      job: jobIdOf(job) ?? undefined,
      onProgress: (p) => progress.update(p.phase === 'archive' ? 'archiving' : 'verifying', p.files, p.bytes, p.path),
    });
    status = result.status;
    progress.clear();
    if (json) printJson(result, toStdout);
    else printCreateSummary(result);
    if (template !== null && !toStdout && hasRetentionRule(job)) {
      const failed = (why: string): void => {
        // The archive is sound; a retention that fails must still page someone before the disk fills.
        warnings.push(`retention failed: ${why}`);
        say(`the archive is written${result?.verification.performed ? ' and verified' : ''}, but retention failed: ${why}`);
        status = ExitStatus.fatal;
      };
      if (!result.verification.performed) {
        // Prune may delete older archives only once tonight's is proven good.
        warnings.push(`retention skipped: ${result.verification.reason}`);
        say(`warning: ${warnings.at(-1)}`);
      } else {
        try {
          retention = await pruneArchives(path.dirname(path.resolve(output)), {
            ...retentionRulesOf(job),
            template,
            job: jobIdOf(job)!,
            verified: [output],
            signal,
            logger,
          });
          if (!json) printPruneResult(retention);
          if (retention.refusals.length > 0 && !retention.forced) failed(`refused: ${retention.refusals.join('; ')}`);
          else if (retention.errors.length > 0) failed(retention.errors.map((e) => `${e.name}: ${e.message}`).join('; '));
        } catch (err) {
          if (signal.aborted) throw err;
          failed((err as Error).message);
        }
      }
    }
    return status;
  } catch (err) {
    failure = err;
    status = err instanceof SafebakError ? err.exitStatus : ExitStatus.fatal;
    if (json) printJson({ status, error: errorOf(err) }, toStdout);
    throw err;
  } finally {
    progress.clear();
    // A refused lock means another run owns this night: its report is not ours to overwrite.
    const refused = failure instanceof SafebakError && failure.code === 'SAFEBAK_LOCKED';
    if (reportPath !== null && !refused) {
      const report = buildReport({
        startedAt,
        endedAt: new Date(),
        host: os.hostname(),
        exitStatus: status,
        output: result ? (result.output ?? '-') : toStdout ? '-' : output,
        sources,
        result,
        archiveBytes: result?.output ? await archiveSize(result.output) : null,
        retention,
        error: failure,
        warnings,
      });
      await writeReport(reportPath, report).catch((err: unknown) => say(`warning: ${(err as Error).message}`));
    }
    await lock?.release();
    process.off('exit', exitGuard);
    process.off('SIGHUP', onHangup);
    interrupt.dispose();
    logger?.flush();
  }
}

async function archiveSize(file: string): Promise<number | null> {
  return fsp.stat(file).then((s) => s.size, () => null);
}

function printCreateSummary(r: CreateResult): void {
  const t = r.totals;
  const where = r.output ?? 'stdout';
  say(
    `wrote ${where}: ${count(t.entries, 'entry', 'entries')}, ${count(t.files, 'file')}, ${formatBytes(t.bytes)} of data` +
      ` (${r.compression === 'zstd' ? 'zstd' : 'uncompressed'}, ${count(t.segments, 'manifest segment')}) in ${formatSeconds(r.durationMs)}`,
  );
  if (r.verification.performed) {
    say(`verified by read-back: ${count(r.verification.result.files, 'file')} match their checksums`);
  } else {
    say(`not verified: ${r.verification.reason}`);
  }
  if (r.retried > 0) say(`${count(r.retried, 'attempt')} found a file changing and retried it`);
  for (const f of r.flagged) say(`${f.status.toUpperCase()}: ${f.path}: ${f.reasons.join('; ')}`);
  for (const n of r.notes) say(`note: ${n.path}: ${n.reasons.join('; ')}`);
  if (r.status === ExitStatus.flagged) {
    const flagged = r.flagged.filter((f) => f.status !== 'skipped').length;
    say(`${count(flagged, 'file')} flagged, ${r.flagged.length - flagged} skipped: the archive is sound, but it does not hold them as they should be`);
  }
}
