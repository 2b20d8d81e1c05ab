import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createArchive } from '../../src/create/create-archive.js';
import { runCli } from '../helpers/cli.js';
import { withRamfs } from '../helpers/ramfs.js';
import { runCron, tempDir, waitFor, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A job whose source `data` holds one file, and an earlier archive of it already in `out`. */
async function job(name: string, extra: Record<string, unknown> = {}): Promise<{ dir: string; out: string; config: string; earlier: string }> {
  const dir = tempDir(name);
  dirs.push(dir);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'data/a.txt'), 'alpha\n');
  const config = path.join(dir, 'job.json');
  writeJson(config, { sources: ['data'], directory: dir, output: path.join(out, '{host}-{date}-{time}.tar.zst'), report: path.join(dir, 'report.json'), keepLast: 1, ...extra });
  const earlier = path.join(out, 'earlier.tar.zst');
  await createArchive({ sources: ['data'], cwd: dir, output: earlier });
  return { dir, out, config, earlier };
}

const snapshot = (out: string): Record<string, string> =>
  Object.fromEntries(fs.readdirSync(out).map((n) => [n, fs.readFileSync(path.join(out, n)).toString('base64')]));

describe('a source root that is not there is fatal', () => {
  it('a missing source root: exit 2, SAFEBAK_SOURCE_MISSING in the summary, --json and the report; nothing written', async () => {
    const { dir, out, config } = await job('root-missing');
    fs.rmSync(path.join(dir, 'data'), { recursive: true });
    const before = snapshot(out);
    const r = await runCron(['create', '--config', config, '--json']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`safebak: ${path.join(dir, 'data')}: source root is missing: no such file or directory (ENOENT); no archive written`);
    expect(JSON.parse(r.stdout)).toEqual({ status: 2, error: { code: 'SAFEBAK_SOURCE_MISSING', message: expect.stringMatching(/source root is missing/) } });
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ exitStatus: 2, error: { code: 'SAFEBAK_SOURCE_MISSING' }, totals: null, retention: null });
    expect(snapshot(out)).toEqual(before);
  });

  it('the library rejects before the output temporary exists', async () => {
    const { dir, out } = await job('root-library');
    const target = path.join(out, 'x.tar');
    // The output directory is watched: not even a temporary may appear in it.
    const seen: string[] = [];
    const watcher = fs.watch(out, (_event, name) => seen.push(String(name)));
    try {
      await expect(createArchive({ sources: ['data', 'gone'], cwd: dir, output: target })).rejects.toMatchObject({
        code: 'SAFEBAK_SOURCE_MISSING',
        exitStatus: 2,
        path: path.join(dir, 'gone'),
      });
      // inotify events arrive in order: once the sentinel's is seen, any earlier one would have been.
      fs.writeFileSync(path.join(out, 'sentinel'), '');
      await waitFor('the sentinel event', () => seen.includes('sentinel'));
    } finally {
      watcher.close();
    }
    expect(seen.filter((n) => n !== 'sentinel')).toEqual([]);
    fs.rmSync(path.join(out, 'sentinel'));
    expect(fs.readdirSync(out)).toEqual(['earlier.tar.zst']);
  });

  it('an unreadable source root is fatal for the user who runs the job', async () => {
    const { dir, out } = await job('root-unreadable');
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'data'), 0o700); // root's; nobody cannot list it
    fs.chownSync(out, 65534, 65534);
    const r = await runCli(['create', '-C', dir, '-o', path.join(out, 'n.tar'), 'data'], { asNobody: true });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/data: source root cannot be read: permission denied \(EACCES\); no archive written/);
    expect(fs.readdirSync(out)).toEqual(['earlier.tar.zst']);
  });

  it('requireMarker: an emptied source root without its marker is fatal; with the marker the run succeeds', async () => {
    const { dir, out, config } = await job('root-marker', { requireMarker: '.backup-marker' });
    const r = await runCron(['create', '--config', config]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('source root lacks its marker file .backup-marker (requireMarker; is its file system mounted?); no archive written');
    expect(fs.readdirSync(out)).toEqual(['earlier.tar.zst']);
    fs.writeFileSync(path.join(dir, 'data/.backup-marker'), '');
    const ok = await runCron(['create', '--config', config]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(fs.readdirSync(out)).toHaveLength(2);
    const flag = await runCron(['create', '-C', dir, '-o', path.join(out, 'y.tar'), '--require-marker', 'absent', 'data']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('lacks its marker file absent');
    // A symlink root is archived as the link: the marker behind it proves nothing about what is archived.
    fs.symlinkSync('data', path.join(dir, 'link'));
    const link = await runCron(['create', '-C', dir, '-o', path.join(out, 'z.tar'), '--require-marker', '.backup-marker', 'link']);
    expect(link.status).toBe(2);
    expect(link.stderr).toContain('link: source root is a symbolic link, archived as the link itself');
  });

  it('--require-mount: a plain directory or an unmounted mount point is fatal; a mounted file system is archived', async (ctx) => {
    const { dir, out } = await job('root-mount');
    const plain = await runCron(['create', '-C', dir, '-o', path.join(out, 'plain.tar'), '--require-mount', 'data']);
    expect(plain.status).toBe(2);
    expect(plain.stderr).toContain(`${path.join(dir, 'data')}: source root is not a mount point (requireMount; is its file system mounted?); no archive written`);
    await withRamfs(ctx, async (mnt) => {
      fs.writeFileSync(path.join(mnt, 'disk.txt'), 'on the disk\n');
      const mounted = await runCron(['create', '-o', path.join(out, 'mounted.tar'), '--require-mount', mnt]);
      expect(mounted.status, mounted.stderr).toBe(0);
      expect(fs.existsSync(path.join(out, 'mounted.tar'))).toBe(true);
    });
    // withRamfs unmounted it; the directory itself is removed too, so recreate the empty mount point.
    const emptyPoint = path.join(dir, 'mnt');
    fs.mkdirSync(emptyPoint);
    const unmounted = await runCron(['create', '-o', path.join(out, 'unmounted.tar'), '--require-mount', emptyPoint]);
    expect(unmounted.status).toBe(2);
    expect(fs.existsSync(path.join(out, 'unmounted.tar'))).toBe(false);
  });
});
