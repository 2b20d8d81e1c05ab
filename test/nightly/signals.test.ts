import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_NAME } from '../../src/nightly/lock.js';
import { bin, sparseFile, startCron, tempDir, temporaries, waitFor, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function bigJob(name: string, extra: Record<string, unknown> = {}): { dir: string; out: string; config: string; report: string } {
  const dir = tempDir(name);
  dirs.push(dir);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.mkdirSync(path.join(dir, 'data'));
  // One file of 32 GiB sparse zeros: a single read that lasts far longer than the test.
  sparseFile(path.join(dir, 'data/huge.img'), 32 * 2 ** 30);
  const report = path.join(dir, 'report.json');
  const config = path.join(dir, 'job.json');
  writeJson(config, { sources: ['data'], directory: dir, output: path.join(out, '{host}-{date}.tar.zst'), strategy: 'copy', report, ...extra });
  return { dir, out, config, report };
}

describe('signals to a nightly run', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`${sig} in the middle of a long file read: exit 130 within 2 s, temporary removed, lock released, report written`, async () => {
      const { out, config, report } = bigJob(`sig-${sig}`);
      const run = startCron(['create', '--config', config]);
      // The temporary exists once the walk begins; the 32 GiB file keeps the run reading for many seconds after.
      await waitFor('the temporary archive', () => temporaries(out).length === 1, 60_000);
      await new Promise((r) => setTimeout(r, 500));
      const sent = Date.now();
      run.child.kill(sig);
      const r = await run.done;
      const took = Date.now() - sent;
      expect(r.status, r.stderr).toBe(130);
      expect(took).toBeLessThan(2000);
      expect(r.stderr).toMatch(new RegExp(`interrupted by ${sig}; no archive was left behind`));
      expect(fs.readdirSync(out)).toEqual([]); // no temporary, no archive, no lock
      const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
      expect(rep).toMatchObject({ exitStatus: 130, error: { code: 'SAFEBAK_ABORTED' }, verification: { verdict: 'not-reached' } });
      console.log(`${sig}: exited ${took} ms after the signal`);
    });
  }

  it('SIGTERM while the write is blocked (stdout is a pipe nobody reads): exit 130 within 2 s', async () => {
    const dir = tempDir('sig-blocked');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'random.bin'), Buffer.alloc(32 * 2 ** 20, 1).map((_, i) => (i * 2654435761) >>> 24));
    const fifo = path.join(dir, 'pipe');
    spawnSyncOk('mkfifo', [fifo]);
    // A real pipe (not Node's socketpair): the test holds the read end open and never reads.
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writer = fs.openSync(fifo, fs.constants.O_WRONLY);
    const child = spawn(process.execPath, [bin, 'create', '-o', '-', '-C', dir, 'random.bin'], { stdio: ['ignore', writer, 'pipe'] });
    fs.closeSync(writer);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull(); // still stuck on the full pipe
    const sent = Date.now();
    child.kill('SIGTERM');
    const status = await done;
    const took = Date.now() - sent;
    fs.closeSync(reader);
    expect(status, stderr).toBe(130);
    expect(took).toBeLessThan(2000);
    console.log(`blocked write: exited ${took} ms after SIGTERM`);
  });

  it('SIGHUP reopens the log file (logrotate) and the run goes on', async () => {
    const { dir, out, config } = bigJob('sig-hup');
    const log = path.join(dir, 'safebak.log');
    writeJson(config, { ...JSON.parse(fs.readFileSync(config, 'utf8')), logFile: log });
    const run = startCron(['create', '--config', config]);
    await waitFor('the lock', () => fs.existsSync(path.join(out, LOCK_NAME)));
    fs.renameSync(log, `${log}.1`);
    run.child.kill('SIGHUP');
    await waitFor('a new log file with the reopen record', () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('log file reopened'));
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.status).toBe(130);
    expect(fs.readFileSync(log, 'utf8')).toMatch(/"msg":"log file reopened \(SIGHUP\)"/);
  });
});

function spawnSyncOk(cmd: string, args: string[]): void {

  const r = spawnSync(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} failed`);
}
