import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './tmp-dir.js';

export const binPath = path.join(repoRoot, 'bin', 'safebak');

export interface CliResult {
  /** The exit status, or null when the child died by a signal. */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  durationMs: number;
}

export interface CliOptions {
  cwd?: string;
  /** Bytes fed to the child's stdin (it is closed after them). */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGKILL) after this long; the result then has signal set. */
  timeoutMs?: number;
  /** Run as the unprivileged `nobody` (uid/gid 65534, no supplementary groups). */
  asNobody?: boolean;
}

/** The command line that runs the CLI, optionally without root's privileges. */
export function cliCommand(args: readonly string[], asNobody = false): [string, string[]] {
  const node = [process.execPath, binPath, ...args];
  if (!asNobody) return [node[0]!, node.slice(1)];
  return ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...node]];
}

/** Spawns `node bin/safebak ARGS…` and collects everything it says. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const [cmd, argv] = cliCommand(args, options.asNobody);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : null;
    child.on('error', reject);
    child.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), durationMs: Date.now() - started });
    });
  });
}

/** Lines of stderr, without the trailing empty one. */
export function stderrLines(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l !== '');
}
