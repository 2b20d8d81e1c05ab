import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LOCK_NAME } from '../../src/nightly/lock.js';
import { pidOf, runCron, sparseFile, startCron, tempDir, temporaries, waitFor, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function job(name: string, extra: Record<string, unknown> = {}): { dir: string; out: string; config: string } {
  const dir = tempDir(name);
  dirs.push(dir);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'data/small.txt'), 'small\n');
  const config = path.join(dir, 'job.json');
  writeJson(config, { sources: ['data'], directory: dir, output: path.join(out, '{host}-{date}-{time}.tar.zst'), strategy: 'copy', ...extra });
  return { dir, out, config };
}

const bootId = (): string => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('the lock of an output directory', () => {
  it('a second overlapping run exits 2 with "locked by pid N since …" and touches nothing', async () => {
    const { dir, out, config } = job('lock-overlap');
    // 16 GiB of sparse zeros: seconds of hashing and compressing, no disk.
    sparseFile(path.join(dir, 'data/big.img'), 16 * 2 ** 30);
    const first = startCron(['create', '--config', config]);
    await waitFor('the first run to hold the lock and write', () => fs.existsSync(path.join(out, LOCK_NAME)) && temporaries(out).length === 1);
    const lockBefore = fs.readFileSync(path.join(out, LOCK_NAME), 'utf8');
    const namesBefore = fs.readdirSync(out).sort();
    const secondReport = path.join(dir, 'second-report.json');
    const second = await runCron(['create', '--config', config, '--report', secondReport]);
    expect(second.status).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(new RegExp(`locked by pid ${pidOf(first.child)} since \\d{4}-\\d{2}-\\d{2}T`));
    expect(fs.readdirSync(out).sort()).toEqual(namesBefore);
    expect(fs.readFileSync(path.join(out, LOCK_NAME), 'utf8')).toBe(lockBefore);
    expect(fs.existsSync(secondReport)).toBe(false);
    first.child.kill('SIGTERM');
    const r = await first.done;
    expect(r.status).toBe(130);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('takes over the lock of a dead pid with a warning, and releases its own', async () => {
    const { out, config } = job('lock-dead');
    const gone = spawnSync('true').pid!;
    const stale = { pid: gone, bootId: bootId(), pidStart: '1', host: (await import('node:os')).hostname(), since: '2026-01-01T00:00:00.000Z', command: 'safebak create' };
    writeJson(path.join(out, LOCK_NAME), stale);
    const r = await runCron(['create', '--config', config]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`warning: took over a stale lock of pid ${gone} \\(since 2026-01-01T00:00:00.000Z\\)`));
    expect(fs.readdirSync(out).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('takes over a lock from another boot even when its pid is alive now', async () => {
    const { out } = job('lock-boot');
    const os = await import('node:os');
    writeJson(path.join(out, LOCK_NAME), { pid: process.pid, bootId: '00000000-0000-0000-0000-000000000000', pidStart: null, host: os.hostname(), since: '2026-01-01T00:00:00Z', command: 'x' });
    const lock = await acquireLock(out);
    expect(lock.tookOverFrom?.pid).toBe(process.pid);
    expect(JSON.parse(fs.readFileSync(lock.path, 'utf8')).bootId).toBe(bootId());
    await lock.release();
    expect(fs.existsSync(lock.path)).toBe(false);
  });

  it('refuses a live lock in-process too, and release leaves a lock that is no longer ours alone', async () => {
    const { out } = job('lock-live');
    const lock = await acquireLock(out);
    await expect(acquireLock(out)).rejects.toMatchObject({ code: 'SAFEBAK_LOCKED', exitStatus: 2 });
    fs.writeFileSync(lock.path, '{"pid":1,"since":"someone else"}');
    await lock.release();
    expect(fs.existsSync(lock.path)).toBe(true);
  });

  it('is released when the run fails', async () => {
    const { out, config } = job('lock-fail');
    const r = await runCron(['create', '--config', config, '--compress', 'none']);
    expect(r.status).toBe(2); // --compress none conflicts with .tar.zst: fails before the lock
    const missing = await runCron(['create', '--config', config, 'no-such-source']);
    expect(missing.status).toBe(2); // a missing source root is fatal
    expect(fs.existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });
});
