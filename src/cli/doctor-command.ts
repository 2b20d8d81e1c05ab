import { Command } from 'commander';
import { printJson, say } from './context.js';
import type { CommandResult } from './context.js';

export function doctorCommand(run: (result: Promise<CommandResult>) => void): Command {
  return new Command('doctor')
    .description('tell which transfer strategies work here, and why not')
    .argument('[path]', 'a directory on the filesystem to examine', '.')
    .option('--json', 'print the diagnosis as one JSON object')
    .action((target: string, opts: Record<string, unknown>) => run(runDoctor(target, opts)));
}

async function runDoctor(target: string, opts: Record<string, unknown>): Promise<CommandResult> {
  const { diagnose } = await import('../doctor/diagnose.js');
  const d = await diagnose(target);
  if (opts.json === true) {
    printJson(d);
    return 0;
  }
  say(`examining ${d.path}`);
  for (const c of d.checks) say(`${c.ok ? 'ok  ' : 'no  '} ${c.name}: ${c.detail}`);
  const usable = Object.entries(d.strategies)
    .filter(([, ok]) => ok)
    .map(([name]) => name);
  say(`strategies available here: ${usable.join(', ')}`);
  return 0;
}
