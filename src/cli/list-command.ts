import { Command } from 'commander';
import type { ListedEntry } from '../list/list-archive.js';
import { formatMode, formatTime } from './format.js';
import { printJson } from './context.js';
import type { CommandResult } from './context.js';
import { interruptSignal } from './interrupt.js';

export function listCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('list')
    .description("list an archive's entries")
    .argument('<archive>', 'archive file, or - for stdin')
    .option('--long', 'mode, owner, size, time and name, like tar -tv')
    .option('--json', 'print the entries, with their manifest records, as one JSON object')
    .action((archive: string, opts: Record<string, unknown>) => run(runList(archive, opts)));
}

async function runList(archive: string, opts: Record<string, unknown>): Promise<CommandResult> {
  const interrupt = interruptSignal();
  const json = opts.json === true;
  const long = opts.long === true;
  try {
    const { listArchive } = await import('../list/list-archive.js');
    // Lines stream out as entries are read; JSON waits for the manifest to annotate them.
    const result = await listArchive(archive === '-' ? process.stdin : archive, {
      signal: interrupt.signal,
      onEntry: json ? undefined : (e) => process.stdout.write(long ? longLine(e) : `${e.path}\n`),
    });
    if (json) printJson({ archive, compression: result.compression, hasManifest: result.hasManifest, entries: result.entries });
    return 0;
  } finally {
    interrupt.dispose();
  }
}

function longLine(e: ListedEntry): string {
  const owner = `${e.uid}/${e.gid}`.padEnd(9);
  const size = String(e.size).padStart(12);
  const link = e.type === 'symlink' ? ` -> ${e.linkTarget}` : e.type === 'hardlink' ? ` link to ${e.linkTarget}` : '';
  return `${formatMode(e.type, e.mode)} ${owner} ${size} ${formatTime(e.mtimeSec)} ${e.path}${link}\n`;
}
