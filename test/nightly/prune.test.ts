import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createArchive } from '../../src/create/create-archive.js';
import { expandTemplate } from '../../src/nightly/output-name.js';
import { formatAge, parseDuration, subtractDuration } from '../../src/nightly/duration.js';
import { pruneArchives, readManifestHeader } from '../../src/nightly/prune.js';
import { runCron, tempDir } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.useRealTimers());

const TEMPLATE = '{host}-{date}-{time}.tar.zst';
const HOST = 'nightly1';
const JOB = 'test-job';

/** Makes a safebak archive "created" at `when` (the manifest header's createdAt), named by the template. */
async function archiveAt(dir: string, src: string, when: Date, template: string): Promise<string> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(when);
  const out = path.join(dir, expandTemplate(template, when, HOST));
  try {
    await createArchive({ sources: ['f.txt'], cwd: src, output: out, job: JOB });
  } finally {
    vi.useRealTimers();
  }
  return path.basename(out);
}

async function fixture(name: string, days: ([number, number] | Date)[], template = TEMPLATE): Promise<{ dir: string; names: string[] }> {
  const dir = tempDir(name);
  dirs.push(dir);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'f.txt'), 'data\n');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const names: string[] = [];
  for (const d of days) names.push(await archiveAt(out, src, d instanceof Date ? d : new Date(2026, 10, d[0], d[1], 0, 0), template));
  return { dir: out, names };
}

describe('retention (prune)', () => {
  it('keeps the last N and the newest of each day and week, deletes the rest, and says why', async () => {
    // Nov 2026: 9 (Mon), 16 (Mon), 20, 21, 22 (two runs), 23.
    const { dir, names } = await fixture('prune-rules', [[9, 2], [16, 2], [20, 2], [21, 2], [22, 2], [22, 14], [23, 2]]);
    const r = await pruneArchives(dir, { template: TEMPLATE, host: HOST, job: JOB, keepLast: 2, keepDaily: 3, keepWeekly: 2 });
    const kept = r.kept.map((d) => d.name).sort();
    const deleted = r.deleted.map((d) => d.name).sort();
    // last 2: 23, 22-14h; daily 3: 23, 22-14h, 21; weekly 2: 23 (W48), 22-14h (W47).
    expect(kept).toEqual([names[3], names[5], names[6]].sort());
    expect(deleted).toEqual([names[0], names[1], names[2], names[4]].sort());
    expect(fs.readdirSync(dir).sort()).toEqual(kept);
    expect(r.kept.find((d) => d.name === names[6])!.reasons.join('; ')).toMatch(/one of the last 2.*newest of day 2026-11-23.*newest of week 2026-W48/);
    expect(r.deleted[0]!.reasons).toContain('matched no retention rule');
    expect(r.newestVerified).toBe(names[6]);
  });

  it('never deletes the newest archive that verifies, nor files it did not make', async () => {
    const template = '{host}-{date}-{time}.tar';
    const { dir, names } = await fixture('prune-safety', [[20, 2], [21, 2], [22, 2]], template);
    // The newest is damaged in a file's data: still safebak's (its header reads), but it no longer verifies.
    const newest = path.join(dir, names[2]!);
    const buf = fs.readFileSync(newest);
    buf[buf.indexOf('data\n')]! ^= 0x01;
    fs.writeFileSync(newest, buf);
    // Same shape, not safebak's: a stray file and a plain tar.
    const stray = expandTemplate(template, new Date(2026, 10, 1, 1, 0, 0), HOST);
    fs.writeFileSync(path.join(dir, stray), 'not an archive');
    const other = path.join(dir, 'notes.txt');
    fs.writeFileSync(other, 'operator notes');
    const r = await pruneArchives(dir, { template, host: HOST, job: JOB, keepLast: 1 });
    expect(r.kept.map((d) => d.name).sort()).toEqual([names[1], names[2]].sort());
    expect(r.kept.find((d) => d.name === names[1])!.reasons).toContain('the newest archive that verifies (never deleted)');
    expect(r.kept.find((d) => d.name === names[2])!.reasons.join(' ')).toMatch(/did not verify/);
    expect(r.deleted.map((d) => d.name)).toEqual([names[0]]);
    expect(r.ignored).toEqual([{ name: stray, reason: expect.stringMatching(/not a readable archive|no safebak manifest/) }]);
    expect(fs.existsSync(path.join(dir, stray))).toBe(true);
    expect(fs.existsSync(other)).toBe(true);
  });

  it('keeps the newest of each of the last N months and years, and everything within a span of the newest', async () => {
    const at = (y: number, m: number, d: number): Date => new Date(y, m - 1, d, 2, 0, 0);
    const days = [at(2024, 6, 1), at(2025, 12, 31), at(2026, 6, 1), at(2026, 10, 31), at(2026, 11, 1), at(2026, 11, 15), at(2026, 11, 20), at(2026, 11, 22)];
    const { dir, names } = await fixture('prune-long', days);
    const plan = async (rules: object): Promise<string[]> =>
      (await pruneArchives(dir, { template: TEMPLATE, host: HOST, job: JOB, dryRun: true, ...rules })).kept.map((d) => d.name).sort();
    expect(await plan({ keepMonthly: 3 })).toEqual([names[2], names[3], names[7]].sort());
    expect(await plan({ keepYearly: 2 })).toEqual([names[1], names[7]].sort());
    // 7 days back from the newest (22 Nov 02:00) is 15 Nov 02:00: that one is inside.
    expect(await plan({ keepWithin: '7d' })).toEqual([names[5], names[6], names[7]].sort());
    expect(await plan({ keepWithin: '6m' })).toEqual(names.slice(2).sort());
    expect(await plan({ keepWithin: '1y1m' })).toEqual(names.slice(1).sort());
    const r = await pruneArchives(dir, { template: TEMPLATE, host: HOST, job: JOB, keepMonthly: 1, keepWithin: '2d' });
    expect(r.kept.find((d) => d.name === names[7])!.reasons).toEqual([
      'within 2d of the newest',
      'newest of month 2026-11 (monthly 1/1)',
      'the newest archive that verifies (never deleted)',
    ]);
    expect(r.deleted.map((d) => d.name).sort()).toEqual(names.slice(0, 6).sort());
    expect(fs.readdirSync(dir).sort()).toEqual([names[6], names[7]].sort());
  });

  it('refuses, deleting nothing, when the clock is behind the newest archive even by less than the tolerance', async () => {
    const { dir, names } = await fixture('prune-skew', [[20, 2], [21, 2]]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(2026, 10, 21, 1, 30, 0));
    const r = await pruneArchives(dir, { template: TEMPLATE, host: HOST, job: JOB, keepLast: 1 });
    vi.useRealTimers();
    expect(r.status).toBe(2);
    expect(r.refusals).toEqual([`the clock (${new Date(2026, 10, 21, 1, 30).toISOString()}) is behind the newest archive ${names[1]} (created ${new Date(2026, 10, 21, 2).toISOString()})`]);
    expect(r.deleted).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual([...names].sort());
  });

  it('reads restic-style durations and refuses malformed ones', () => {
    expect(parseDuration('1y2m')).toEqual({ years: 1, months: 2, weeks: 0, days: 0, hours: 0 });
    expect(parseDuration('2w3d12h')).toEqual({ years: 0, months: 0, weeks: 2, days: 3, hours: 12 });
    expect(subtractDuration(new Date(2026, 2, 31, 12), parseDuration('1m'))).toEqual(new Date(2026, 2, 3, 12));
    expect(subtractDuration(new Date(2026, 10, 22, 2), parseDuration('1w1d2h'))).toEqual(new Date(2026, 10, 14, 0));
    for (const bad of ['', '7', 'd', '7x', '0d', '-1d', '1.5d', '7 d']) expect(() => parseDuration(bad), bad).toThrow(/is not a duration such as 7d/);
    expect(formatAge(3 * 86_400_000 + 4 * 3_600_000 + 5000)).toBe('3d 4h');
    expect(formatAge(-120_000)).toBe('2m in the future');
    expect(formatAge(Number.NaN)).toBe('an unknown time');
  });

  it('reads only the beginning of an archive to recognise it', async () => {
    const { dir, names } = await fixture('prune-header', [[20, 2]]);
    const file = path.join(dir, names[0]!);
    const header = await readManifestHeader(file);
    expect(header).toMatchObject({ kind: 'header', format: 'safebak-manifest', createdAt: new Date(2026, 10, 20, 2).toISOString() });
  });

  it('refuses to run without any rule', async () => {
    await expect(pruneArchives('/nonexistent', { job: JOB })).rejects.toMatchObject({ code: 'SAFEBAK_USAGE' });
  });

  it('safebak prune DIR --dry-run --json deletes nothing; without --dry-run it deletes and prints why', async () => {
    const { dir, names } = await fixture('prune-cli', [[20, 2], [21, 2], [22, 2]]);
    const template = ['--template', TEMPLATE.replace('{host}', HOST), '--job', JOB];
    const dry = await runCron(['prune', dir, '--keep-last', '1', '--dry-run', '--json', ...template]);
    expect(dry.status, dry.stderr).toBe(0);
    const decision = JSON.parse(dry.stdout);
    expect(decision.deleted.map((d: { name: string }) => d.name).sort()).toEqual([names[0], names[1]].sort());
    expect(fs.readdirSync(dir)).toHaveLength(3);
    const real = await runCron(['prune', dir, '--keep-last', '1', ...template]);
    expect(real.status, real.stderr).toBe(0);
    expect(real.stderr).toContain(`safebak: keep ${names[2]}: one of the last 1 (#1); the newest archive that verifies (never deleted)`);
    expect(real.stderr).toContain(`safebak: deleted ${names[0]}: matched no retention rule`);
    expect(fs.readdirSync(dir)).toEqual([names[2]]);
    const none = await runCron(['prune', dir, '--job', JOB]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no retention rule/);
    const jobless = await runCron(['prune', dir, '--keep-last', '1']);
    expect(jobless.status).toBe(2);
    expect(jobless.stderr).toMatch(/no job: give --config FILE/);
  });
});
