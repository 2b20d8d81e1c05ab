import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifestHeader } from '../../src/nightly/prune.js';
import { runCron, tempDir, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/**
 * Ten nights of the real CLI as cron runs it (`safebak create --config JOB`:
 * it names, verifies and prunes), each with its own clock through
 * libfaketime: the source disk is unmounted on nights 4–6, the clock is set
 * back on night 8, and an archive dated next year is planted on night 9.
 */
describe('ten nights of a nightly job', () => {
  it('keeps every good archive and exits 2 on each bad night', async () => {
    const dir = tempDir('ten-nights');
    dirs.push(dir);
    const data = path.join(dir, 'data');
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const mount = (): void => {
      fs.mkdirSync(data, { recursive: true });
      fs.writeFileSync(path.join(data, '.backup-marker'), '');
      fs.writeFileSync(path.join(data, 'ledger.txt'), 'the data that matters\n');
    };
    const job = { job: 'nightly', sources: ['data'], directory: dir, requireMarker: '.backup-marker', keepLast: 3, keepDaily: 7 };
    const config = path.join(dir, 'job.json');
    writeJson(config, { ...job, output: path.join(out, '{host}-{date}-{time}.tar.zst'), report: path.join(dir, 'report-{date}.json') });
    const report = (date: string): { exitStatus: number; error: { code: string } | null; retention: { refusals: string[] } | null } =>
      JSON.parse(fs.readFileSync(path.join(dir, `report-${date}.json`), 'utf8'));
    const archives = (): string[] => fs.readdirSync(out).filter((n) => !n.startsWith('.')).sort();

    const good: string[] = [];
    const night = async (n: number, clock: string, expected: number): Promise<string> => {
      const before = archives();
      const r = await runCron(['create', '--config', config], { at: `${clock} 02:30:00` });
      expect(r.status, `night ${n} (${clock}): ${r.stderr}`).toBe(expected);
      const added = archives().filter((a) => !before.includes(a));
      if (expected !== 2 || added.length > 0) good.push(...added);
      expect(fs.readdirSync(out).filter((a) => a.endsWith('.tmp')), `night ${n} leaves no temporary`).toEqual([]);
      return r.stderr;
    };

    mount();
    for (const n of [1, 2, 3]) await night(n, `2026-11-0${n}`, 0);
    expect(good).toHaveLength(3);

    // Nights 4–6: the disk is not mounted; its mount point is empty (night 5: not even that).
    fs.rmSync(data, { recursive: true });
    fs.mkdirSync(data);
    for (const n of [4, 5, 6]) {
      if (n === 5) fs.rmdirSync(data);
      if (n === 6) fs.mkdirSync(data);
      const said = await night(n, `2026-11-0${n}`, 2);
      expect(said).toMatch(n === 5 ? /source root is missing/ : /source root lacks its marker file \.backup-marker/);
      expect(report(`2026-11-0${n}`)).toMatchObject({ exitStatus: 2, error: { code: 'SAFEBAK_SOURCE_MISSING' }, retention: null });
      expect(archives()).toEqual([...good].sort());
    }

    mount();
    await night(7, '2026-11-07', 0);

    // Night 8: the clock says 28 October; tonight's archive is written and kept, prune refuses.
    const said8 = await night(8, '2026-10-28', 2);
    expect(said8).toMatch(/refused: the clock \(2026-10-28T02:30:\S+\) is behind 4 archives by more than 60 minutes/);
    expect(report('2026-10-28')).toMatchObject({ exitStatus: 2, error: null, retention: { refusals: [expect.stringMatching(/clock .* is behind 4 archives/)] } });

    // Night 9: an archive of this job made with a clock a year ahead turns up in the directory.
    const staging = path.join(dir, 'staging');
    fs.mkdirSync(staging);
    const stagingConfig = path.join(dir, 'staging.json');
    writeJson(stagingConfig, { ...job, keepLast: null, keepDaily: null, output: path.join(staging, '{host}-{date}-{time}.tar.zst') });
    const made = await runCron(['create', '--config', stagingConfig], { at: '2027-11-09 02:30:00' });
    expect(made.status, made.stderr).toBe(0);
    const planted = fs.readdirSync(staging)[0]!;
    fs.renameSync(path.join(staging, planted), path.join(out, planted));
    const said9 = await night(9, '2026-11-09', 2);
    expect(said9).toContain(`is behind 1 archive by more than 60 minutes (it was set back, or that archive claims a future date): ${planted} (created 2027-11-09T02:30:`);

    // Night 10: nobody has looked yet; prune keeps refusing and deletes nothing.
    const said10 = await night(10, '2026-11-10', 2);
    expect(said10).toContain(`that archive claims a future date): ${planted}`);

    expect(good).toHaveLength(7); // nights 1–3 and 7–10
    expect(archives()).toEqual([...good, planted].sort());
    for (const a of good) {
      const header = await readManifestHeader(path.join(out, a));
      expect(header, a).toMatchObject({ job: 'nightly', sources: ['data'] });
      const v = await runCron(['verify', path.join(out, a), '--json']);
      expect(v.status, `${a}: ${v.stderr}`).toBe(0);
      expect(JSON.parse(v.stdout).files, `${a} holds the data, not an empty mount point`).toBe(2);
    }
  });
});
