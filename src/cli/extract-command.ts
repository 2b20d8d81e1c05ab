import { Command } from 'commander';
import type { ExtractResult } from '../extract/extract-archive.js';
import { count, formatBytes, formatSeconds } from './format.js';
import { integerIn, printJson, say } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';
import { ProgressLine } from './progress.js';

export function extractCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('extract')
    .description('restore an archive: every file verified against its manifest record before it is put in place')
    .argument('<archive>', 'archive file, or - for stdin')
    .argument('[paths...]', 'extract only these entries (exact names or directory prefixes)')
    .option('-C, --directory <dir>', 'extract into DIR (it must exist)', '.')
    .option('--strip-components <n>', 'drop N leading components from every name', integerIn(0, 1000))
    .option('--keep-existing', 'never replace a file that already exists')
    .option('--devices', 'create character and block devices (refused otherwise)')
    .option('--json', 'print the result as one JSON object')
    .action((archive: string, paths: string[], opts: Record<string, unknown>) => run(runExtract(archive, paths, opts)));
}

async function runExtract(archive: string, paths: string[], opts: Record<string, unknown>): Promise<CommandResult> {
  const interrupt = interruptSignal();
  const progress = new ProgressLine();
  try {
    const { extractArchive } = await import('../extract/extract-archive.js');
    const result = await extractArchive(archive === '-' ? process.stdin : archive, {
      cwd: opts.directory as string,
      paths: paths.length > 0 ? paths : undefined,
      stripComponents: opts.stripComponents as number | undefined,
      keepExisting: opts.keepExisting === true,
      devices: opts.devices === true,
      signal: interrupt.signal,
      collectOutcomes: opts.json === true,
      onProgress: (p) => progress.update('extracting', p.entries, p.bytes),
    });
    progress.clear();
    if (opts.json === true) printJson({ archive, ...result });
    else printExtractSummary(archive, result);
    return result.status;
  } finally {
    progress.clear();
    interrupt.dispose();
  }
}

function printExtractSummary(archive: string, r: ExtractResult): void {
  const t = r.totals;
  say(
    `extracted ${archive} into ${r.target}: ${count(t.installed, 'entry', 'entries')} installed, ${formatBytes(t.bytes)} of data, in ${formatSeconds(r.durationMs)}` +
      (r.kind === 'safebak' ? ' (each file verified against its manifest record)' : ''),
  );
  for (const w of r.warnings) say(`warning: ${w}`);
  for (const p of r.problems) say(`DAMAGED: ${p}`);
  for (const e of r.entries) {
    if (e.outcome !== 'installed' && e.outcome !== 'skipped') say(`${e.outcome.toUpperCase()}: ${e.path}${e.reason ? `: ${e.reason}` : ''}`);
    else if (e.flagged) say(`FLAGGED at creation: ${e.path}: ${e.flagged.join('; ')}`);
  }
  for (const p of r.notFound) say(`not found in the archive: ${p}`);
  const bad = t.refused + t.notInstalled + t.failed;
  if (bad > 0) say(`${count(t.refused, 'entry', 'entries')} refused, ${t.notInstalled} not installed (integrity), ${t.failed} failed`);
}
