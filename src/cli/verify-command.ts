import { Command } from 'commander';
import type { VerifyResult } from '../verify/verify-archive.js';
import { ExitStatus } from '../errors.js';
import { count, formatBytes } from './format.js';
import { printJson, say } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';
import { ProgressLine } from './progress.js';

export function verifyCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('verify')
    .description('check an archive: tar headers, compression checksums, and every file against its manifest checksum')
    .argument('<archive>', 'archive file, or - for stdin')
    .option('--against <dir>', 'also compare every archived file with the tree at DIR')
    .option('--require-manifest', 'an archive without a safebak manifest is damaged (exit 3), not a foreign tar')
    .option('--json', 'print the result as one JSON object')
    .action((archive: string, opts: Record<string, unknown>) => run(runVerify(archive, opts)));
}

async function runVerify(archive: string, opts: Record<string, unknown>): Promise<CommandResult> {
  const interrupt = interruptSignal();
  const progress = new ProgressLine();
  try {
    const { verifyArchive } = await import('../verify/verify-archive.js');
    const result = await verifyArchive(archive === '-' ? process.stdin : archive, {
      against: typeof opts.against === 'string' ? opts.against : undefined,
      requireManifest: opts.requireManifest === true,
      signal: interrupt.signal,
      onProgress: (p) => progress.update('verifying', p.entries, p.bytes),
    });
    progress.clear();
    if (opts.json === true) printJson({ archive, ...result });
    else printVerifySummary(archive, result);
    return result.status;
  } finally {
    progress.clear();
    interrupt.dispose();
  }
}

function printVerifySummary(archive: string, r: VerifyResult): void {
  const what =
    r.kind === 'safebak'
      ? `${count(r.entries, 'entry', 'entries')}, ${count(r.files, 'file')}, ${formatBytes(r.bytes)} (${r.compression}, ${count(r.segments, 'manifest segment')})`
      : `${count(r.entries, 'entry', 'entries')} (${r.compression}, no safebak manifest)`;
  const verdict = r.status === ExitStatus.integrity ? 'DAMAGED' : r.status === ExitStatus.flagged ? 'sound, with flagged files' : 'intact';
  say(`${archive}: ${verdict} — ${what}`);
  for (const p of r.problems) say(`DAMAGED: ${p.message}`);
  if (r.moreProblems > 0) say(`… and ${r.moreProblems} more problems`);
  for (const f of r.flagged) say(`${f.status.toUpperCase()} at creation: ${f.path}: ${f.reasons.join('; ')}`);
  for (const f of r.against?.files ?? []) {
    if (f.verdict !== 'intact') say(`${f.verdict}: ${f.path}${f.detail ? ` (${f.detail})` : ''}`);
  }
  if (r.against) {
    const intact = r.against.files.filter((f) => f.verdict === 'intact').length;
    say(`against ${r.against.root}: ${intact} of ${count(r.against.files.length, 'file')} intact`);
  }
  say(`checks made: ${r.checksMade.join(', ')}`);
  if (r.checksNotMade.length > 0) say(`checks not made: ${r.checksNotMade.join('; ')}`);
}
