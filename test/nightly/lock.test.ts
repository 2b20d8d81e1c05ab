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

describe('safebak unlock', () => {
  const hoursAgo = (h: number): string => new Date(Date.now() - h * 3_600_000).toISOString();
  const foreign = (since: string): object => ({ pid: 4242, bootId: 'ffffffff-0000-0000-0000-000000000000', pidStart: '7', host: 'backup-peer', since, command: 'safebak create' });

  it("another host's lock is reported with host, pid and age, and unlock removes it once older than the threshold", async () => {
    const { out, config } = job('unlock-foreign');
    writeJson(path.join(out, LOCK_NAME), foreign(hoursAgo(74)));
    const blocked = await runCron(['create', '--config', config]);
    expect(blocked.status).toBe(2);
    expect(blocked.stderr).toMatch(/locked by pid 4242 since \S+ \(safebak create on backup-peer, held 3d 2h\); another host's lock is never judged stale here: /);
    expect(blocked.stderr).toContain(`\`safebak unlock ${out}\` removes it`);
    const r = await runCron(['unlock', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`removed ${path.join(out, LOCK_NAME)} (pid 4242 on backup-peer since`);
    expect(r.stderr).toContain("another host's lock, older than 1d");
    expect(fs.existsSync(path.join(out, LOCK_NAME))).toBe(false);
    const after = await runCron(['create', '--config', config]);
    expect(after.status, after.stderr).toBe(0);
  });

  it("a young foreign lock stays unless --older-than says it is old enough", async () => {
    const { out } = job('unlock-young');
    writeJson(path.join(out, LOCK_NAME), foreign(hoursAgo(2)));
    const young = await runCron(['unlock', out]);
    expect(young.status).toBe(2);
    expect(young.stderr).toMatch(/held 2h\): younger than 1d; not removed/);
    expect(fs.existsSync(path.join(out, LOCK_NAME))).toBe(true);
    const bad = await runCron(['unlock', out, '--older-than', '2 hours']);
    expect(bad.status).toBe(2);
    expect(fs.existsSync(path.join(out, LOCK_NAME))).toBe(true);
    const r = await runCron(['unlock', out, '--older-than', '1h', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ removed: true, owner: { pid: 4242, host: 'backup-peer' } });
    expect(fs.existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });

  it('the lock of a live local process is never removed without --force, however old', async () => {
    const { out } = job('unlock-live');
    const lock = await acquireLock(out);
    const text = fs.readFileSync(lock.path, 'utf8');
    const refused = await runCron(['unlock', out, '--older-than', '1h']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`locked by pid ${process.pid} since .*: the process is alive; not removed \\(--force removes it anyway\\)`));
    expect(fs.readFileSync(lock.path, 'utf8')).toBe(text);
    const forced = await runCron(['unlock', out, '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('removed with --force');
    expect(fs.existsSync(lock.path)).toBe(false);
    await lock.release();
  });

  it("a dead local holder's lock is removed at any age; no lock is not an error", async () => {
    const { out } = job('unlock-dead');
    const gone = spawnSync('true').pid!;
    const os = await import('node:os');
    writeJson(path.join(out, LOCK_NAME), { pid: gone, bootId: bootId(), pidStart: '1', host: os.hostname(), since: new Date().toISOString(), command: 'safebak create' });
    const r = await runCron(['unlock', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`stale: pid ${gone} is gone`);
    const none = await runCron(['unlock', out]);
    expect(none.status).toBe(0);
    expect(none.stderr).toContain(`${out}: no lock`);
  });
});
