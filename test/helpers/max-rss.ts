import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliCommand } from './cli.js';

const PY_RSS = `
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], 'w') as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc if rc >= 0 else 128 - rc)
`;

export interface RssResult {
  status: number | null;
  stderr: string;
  /** Peak resident set size of the child, in bytes. */
  maxRssBytes: number;
}

/**
 * Runs the CLI under a python3 parent that waits for it and reads
 * getrusage(RUSAGE_CHILDREN).ru_maxrss: the kernel's own account of the
 * child's peak RSS, with no dependence on /usr/bin/time being installed.
 */
export async function runCliMeasuringRss(args: readonly string[], cwd?: string): Promise<RssResult> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'safebak-rss-'));
  const rssFile = path.join(tmp, 'rss');
  const [cmd, argv] = cliCommand(args);
  try {
    const child = spawn('python3', ['-c', PY_RSS, rssFile, cmd, ...argv], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    const status = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    });
    const kib = Number(readFileSync(rssFile, 'utf8'));
    return { status, stderr, maxRssBytes: kib * 1024 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
