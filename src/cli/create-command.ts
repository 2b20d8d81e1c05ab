import { Command, Option } from 'commander';
import { createArchive } from '../create/create-archive.js';
import type { CreateResult } from '../create/create-archive.js';
import { defaultConfig, loadConfigFile, validateConfig } from '../config/config.js';
import type { Config } from '../config/config.js';
import { ExitStatus, SafebakError } from '../errors.js';
import { count, formatBytes, formatSeconds } from './format.js';
import { collect, integerIn, printJson, say } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';
import { createCliLogger } from './logger.js';
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
};

export function createCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('create')
    .description('archive PATHs into tar (optionally zstd) with a checksummed manifest, verified after writing')
    .requiredOption('-o, --output <archive>', 'archive file, or - for stdout')
    .option('-C, --directory <dir>', 'resolve PATHs relative to DIR (archive names stay relative)')
    .addOption(new Option('--compress <kind>', 'compression (default: from the output name)').choices(['zstd', 'none']))
    .option('--level <n>', 'zstd level', integerIn(-7, 22))
    .addOption(new Option('--strategy <strategy>', 'transfer strategy').choices(['auto', 'copy', 'splice', 'snapshot']))
    .option('--retries <n>', 'retries for a file that changed while read', integerIn(0, 100))
    .option('--paranoid', 're-hash every file after reading it')
    .option('--exclude <glob>', 'leave out matching paths (repeatable)', collect)
    .option('--one-file-system', 'stay on the filesystem of each source')
    .option('--no-verify', 'skip the read-back verification of the written archive')
    .option('--config <file>', 'JSON configuration (see config/README.md)')
    .option('--json', 'print the result as one JSON object')
    .option('--log-file <file>', 'write pino JSON log lines to FILE')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .argument('<paths...>', 'files and directories to archive')
    .action((paths: string[], opts: Record<string, unknown>, cmd: Command) => run(runCreate(paths, opts, cmd)));
}

function settingsFrom(opts: Record<string, unknown>, cmd: Command): Config {
  const fromFile = typeof opts.config === 'string' ? loadConfigFile(opts.config) : {};
  const settings: Config = { ...defaultConfig, ...fromFile };
  for (const [flag, key] of Object.entries(FLAG_TO_CONFIG)) {
    if (cmd.getOptionValueSource(flag) === 'cli') (settings as unknown as Record<string, unknown>)[key] = opts[flag];
  }
  if (Array.isArray(opts.exclude)) settings.exclude = [...settings.exclude, ...(opts.exclude as string[])];
  validateConfig(settings, 'command line');
  return settings;
}

async function runCreate(paths: string[], opts: Record<string, unknown>, cmd: Command): Promise<CommandResult> {
  const settings = settingsFrom(opts, cmd);
  const output = opts.output as string;
  const toStdout = output === '-';
  if (toStdout && process.stdout.isTTY) {
    throw new SafebakError('SAFEBAK_USAGE', 'refusing to write archive data to a terminal (redirect stdout, or use -o FILE)');
  }
  const nameSays = /\.(tar\.zst|tzst|zst)$/.test(output) ? 'zstd' : /\.tar$/.test(output) ? 'none' : null;
  if (settings.compress !== 'auto' && nameSays !== null && nameSays !== settings.compress) {
    throw new SafebakError('SAFEBAK_USAGE', `--compress ${settings.compress} conflicts with the output name ${output} (which means ${nameSays})`);
  }
  const logger = createCliLogger({ logFile: settings.logFile, logLevel: settings.logLevel, levelGiven: cmd.getOptionValueSource('logLevel') === 'cli' });
  const interrupt = interruptSignal();
  const progress = new ProgressLine();
  const json = opts.json === true;
  try {
    const { logLevel: _l, logFile: _f, ...createSettings } = settings;
    const result = await createArchive({
      ...createSettings,
      compress: settings.compress === 'auto' && toStdout ? 'none' : settings.compress,
      sources: paths,
      output: toStdout ? process.stdout : output,
      cwd: typeof opts.directory === 'string' ? opts.directory : undefined,
      signal: interrupt.signal,
      logger,
      collectRecords: false,
      onProgress: (p) => progress.update(p.phase === 'archive' ? 'archiving' : 'verifying', p.files, p.bytes, p.path),
    });
    progress.clear();
    if (json) printJson(result, toStdout);
    else printCreateSummary(result);
    return result.status;
  } finally {
    progress.clear();
    interrupt.dispose();
    logger?.flush();
  }
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
