import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, runCron, tempDir, writeJson } from './run.js';

const dirs: string[] = [];
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A 6 MiB tmpfs: real ENOSPC, no loop device needed. Null (with the reason printed) where mounting is refused. */
function smallFilesystem(dir: string): string | null {
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`skipping the disk-full test: mount -t tmpfs refused: ${r.stderr.trim()}`);
    return null;
  }
  mounts.push(mnt);
  return mnt;
}

describe('disk full', () => {
  for (const ext of ['tar.zst', 'tar']) {
    it(`a tmpfs that fills mid-run (.${ext}): exit 2, one line naming the device and ENOSPC, temporary gone, last night's archive untouched`, async (ctx) => {
      const dir = tempDir(`enospc-${ext.replace('.', '')}`);
      dirs.push(dir);
      const mnt = smallFilesystem(dir);
      if (mnt === null) return ctx.skip();
      fs.mkdirSync(path.join(dir, 'data'));
      fs.writeFileSync(path.join(dir, 'data/a-small.txt'), 'yesterday and today\n');
      const report = path.join(dir, 'report.json');
      const config = path.join(dir, 'job.json');
      writeJson(config, { sources: ['data'], directory: dir, output: path.join(mnt, `{host}-{date}-{time}.${ext}`), report });
      // Last night: a small archive that fits.
      const first = await runCron(['create', '--config', config]);
      expect(first.status, first.stderr).toBe(0);
      const [lastNight] = fs.readdirSync(mnt);
      const before = sha(path.join(mnt, lastNight!));
      // Tonight: 12 MiB of incompressible data into 6 MiB.
      for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(dir, `data/b-${i}.bin`), randomBytes(4 * 2 ** 20));
      await new Promise((r) => setTimeout(r, 1100)); // another {time}
      const r = await runCron(['create', '--config', config]);
      expect(r.status).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/cannot write the archive: no space left on device \(ENOSPC\) on tmpfs at /);
      expect(lines[0]).toContain(mnt);
      expect(lines[0]).toMatch(/device \d+:\d+/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.readdirSync(mnt)).toEqual([lastNight]);
      expect(sha(path.join(mnt, lastNight!))).toBe(before);
      const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
      expect(rep).toMatchObject({ exitStatus: 2, error: { code: 'SAFEBAK_IO' }, totals: null });
      expect(rep.error.message).toMatch(/no space left on device/);
    });
  }
});

describe('closed stdout', () => {
  it('safebak create -o - … | head -c 1000: exit 2, one plain line, no stack trace', () => {
    const dir = tempDir('sigpipe');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'big.bin'), randomBytes(8 * 2 ** 20));
    for (const strategy of ['auto', 'copy']) {
      const script = `set -o pipefail; "${process.execPath}" "${bin}" create -o - --strategy ${strategy} -C "${dir}" big.bin 2>"${dir}/err" | head -c 1000 >/dev/null; echo "\${PIPESTATUS[0]} \${PIPESTATUS[1]}"`;
      const out = execFileSync('bash', ['-c', script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
      const err = fs.readFileSync(path.join(dir, 'err'), 'utf8');
      expect(out, err).toBe('2 0');
      expect(err).toBe('safebak: the archive stream was closed by its reader: the archive is incomplete\n');
    }
  });
});
