import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root, where `bin/safebak` lives. */
export const root = path.resolve(import.meta.dirname, '../..');
export const bin = path.join(root, 'bin', 'safebak');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `safebak-${prefix}-`));
}

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the CLI as cron would: an empty environment but PATH, stdin from
 * /dev/null, stdout and stderr pipes (no TTY anywhere).
 */
export function startCron(args: string[], options: { cwd?: string; at?: string } = {}): { child: ChildProcess; done: Promise<Run> } {
  const started = Date.now();
  const stdin = fs.openSync('/dev/null', 'r');
  // `at`: the wall clock the run sees starts there (libfaketime), the system's stays as it is.
  const clock = options.at === undefined ? [] : ['TZ=UTC', 'faketime', '-m', '--exclude-monotonic', options.at];
  const child = spawn('env', ['-i', 'PATH=/usr/bin:/bin', ...clock, process.execPath, bin, ...args], {
    cwd: options.cwd ?? root,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  fs.closeSync(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr, ms: Date.now() - started })),
  );
  return { child, done };
}

export function runCron(args: string[], options: { cwd?: string; at?: string } = {}): Promise<Run> {
  return startCron(args, options).done;
}

/** The pid of the node process under `env -i` (env execs it, so it is the same pid). */
export function pidOf(child: ChildProcess): number {
  return child.pid!;
}

/** Polls until `test` holds, or fails after `ms`. */
export async function waitFor(what: string, test: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Temporary archives safebak writes beside its target. */
export function temporaries(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
}

/** A sparse file: its size costs no disk, reading it costs CPU (zeros, hashed and compressed). */
export function sparseFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

export function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}
