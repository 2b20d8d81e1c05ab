import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifestHeader } from '../../src/nightly/prune.js';
import { runCron, tempDir, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

interface Job {
  dir: string;
  out: string;
  config: string;
}

function job(name: string, extra: Record<string, unknown> = {}): Job {
  const dir = tempDir(name);
  dirs.push(dir);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  for (const s of ['a', 'b']) {
    fs.mkdirSync(path.join(dir, s));
    fs.writeFileSync(path.join(dir, s, 'f.txt'), `${s}\n`);
  }
  const config = path.join(dir, 'job.json');
  writeJson(config, { sources: ['a', 'b'], directory: dir, output: path.join(out, '{host}-{date}-{time}.tar'), keepLast: 2, ...extra });
  return { dir, out, config };
}

/** One night of the job, with the clock the run sees set to `at` (UTC). */
async function night(j: Job, at: string, expected: number, args: string[] = []): Promise<string> {
  const r = await runCron(['create', '--config', j.config, ...args], { at });
  expect(r.status, `night at ${at}: ${r.stderr}`).toBe(expected);
  return r.stderr;
}

const archives = (out: string): string[] => fs.readdirSync(out).filter((n) => !n.startsWith('.')).sort();

describe('prune never makes things worse', () => {
  it('a clock set back: tonight\'s archive is kept, prune refuses with exit 2 and deletes nothing', async () => {
    const j = job('clock-back');
    for (const d of ['2026-11-20', '2026-11-21', '2026-11-22']) await night(j, `${d} 02:30:00`, 0);
    expect(archives(j.out)).toHaveLength(2);
    const before = archives(j.out);
    // Someone set the clock back four days: tonight's archive sorts oldest by its own createdAt.
    const said = await night(j, '2026-11-18 02:30:00', 2);
    expect(said).toMatch(/refused: the clock \(2026-11-18T02:30:\d\d\.\d+Z\) is behind 2 archives by more than 60 minutes \(it was set back, or they claim a future date\): \S+-2026-11-22-0230\d\d\.tar \(created 2026-11-22T02:30/);
    expect(said).toMatch(/the archive is written and verified, but retention failed: refused:/);
    const after = archives(j.out);
    expect(after).toHaveLength(3);
    expect(after).toEqual(expect.arrayContaining([...before, expect.stringMatching(/-2026-11-18-0230\d\d\.tar$/)]));
  });

  it('an archive dated in the future makes prune refuse rather than delete newer real ones; --force overrides', async () => {
    const j = job('future');
    for (const d of ['2026-11-20', '2026-11-21']) await night(j, `${d} 02:30:00`, 0);
    // Planted by a run whose clock was a year ahead.
    await night(j, '2027-11-21 02:30:00', 0);
    expect(archives(j.out)).toHaveLength(2); // the future-dated run itself pruned with its own (wrong) clock
    const real = archives(j.out).filter((n) => n.includes('2026-'));
    const said = await night(j, '2026-11-22 02:30:00', 2);
    expect(said).toMatch(/refused: the clock \(2026-11-22T02:30:\S+\) is behind 1 archive by more than 60 minutes \(it was set back, or that archive claims a future date\): \S+-2027-11-21-0230\d\d\.tar \(created 2027-11-21T02:30/);
    expect(archives(j.out)).toEqual(expect.arrayContaining(real));
    expect(archives(j.out)).toHaveLength(3);
    // A dry run shows the plan, and that prune refuses.
    const dry = await runCron(['prune', '--config', j.config, '--dry-run', '--json'], { at: '2026-11-22 03:00:00' });
    expect(dry.status).toBe(2);
    const plan = JSON.parse(dry.stdout);
    expect(plan.refusals.join(' ')).toMatch(/a future date/);
    expect(plan.deleted).toEqual([]);
    expect(plan.kept.every((d: { reasons: string[] }) => d.reasons.includes('prune refused: nothing is deleted'))).toBe(true);
    // The operator looked and decided: --force prunes, the future-dated archive counting as newest.
    const forced = await runCron(['prune', '--config', j.config, '--force'], { at: '2026-11-22 03:00:00' });
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/ignored \(--force\): the clock .* is behind 1 archive/);
    expect(archives(j.out)).toHaveLength(2);
  });

  it('deletes only archives whose manifest names this job: hand-made and other jobs\' archives of the same shape stay', async () => {
    const j = job('job-id');
    for (const d of ['2026-11-20', '2026-11-21']) await night(j, `${d} 02:30:00`, 0);
    const host = archives(j.out)[0]!.split('-2026-')[0]!;
    // Made by hand under a name of the job's shape, and by another job writing to the same directory.
    const byHand = `${host}-2026-11-01-010000.tar`;
    const hand = await runCron(['create', '-C', j.dir, '-o', path.join(j.out, byHand), 'a'], { at: '2026-11-01 01:00:00' });
    expect(hand.status, hand.stderr).toBe(0);
    const other = path.join(j.dir, 'other.json');
    writeJson(other, { ...JSON.parse(fs.readFileSync(j.config, 'utf8')), job: 'other-job' });
    const byOther = await runCron(['create', '--config', other], { at: '2026-11-02 01:00:00' });
    expect(byOther.status, byOther.stderr).toBe(0);
    const otherName = archives(j.out).find((n) => n.includes('2026-11-02'))!;
    expect((await readManifestHeader(path.join(j.out, otherName))) as object).toMatchObject({ job: 'other-job' });
    const said = await night(j, '2026-11-22 02:30:00', 0);
    expect(said).toContain(`left alone ${byHand}: its manifest names no job: not this job's`);
    expect(said).toContain(`left alone ${otherName}: written by another job (other-job)`);
    expect(archives(j.out)).toEqual(expect.arrayContaining([byHand, otherName]));
    expect(archives(j.out)).toHaveLength(4);
  });

  it('judges age by the manifest\'s createdAt, not by the file name or mtime', async () => {
    const j = job('created-at', { keepLast: 1 });
    await night(j, '2026-11-20 02:30:00', 0);
    const [old] = archives(j.out);
    // The old archive now looks newest by name and by mtime.
    const disguised = old!.replace('2026-11-20', '2026-12-30');
    fs.renameSync(path.join(j.out, old!), path.join(j.out, disguised));
    fs.utimesSync(path.join(j.out, disguised), new Date(2026, 11, 30), new Date(2026, 11, 30));
    await night(j, '2026-11-21 02:30:00', 0);
    expect(archives(j.out)).toEqual([expect.stringMatching(/-2026-11-21-0230\d\d\.tar$/)]);
  });

  it('refuses when the newest archive lost a whole source root the one before holds', async () => {
    const j = job('lost-root', { job: 'fixed-name' });
    for (const d of ['2026-11-20', '2026-11-21']) await night(j, `${d} 02:30:00`, 0);
    writeJson(j.config, { ...JSON.parse(fs.readFileSync(j.config, 'utf8')), sources: ['a'] });
    const said = await night(j, '2026-11-22 02:30:00', 2);
    expect(said).toMatch(/refused: the newest archive \S+-2026-11-22-0230\d\d\.tar lacks source root b that \S+-2026-11-21-0230\d\d\.tar holds/);
    expect(archives(j.out)).toHaveLength(3);
  });

  it('runs only after a run whose archive verified: --no-verify leaves every archive and says so', async () => {
    const j = job('no-verify', { keepLast: 1 });
    await night(j, '2026-11-20 02:30:00', 0);
    const said = await night(j, '2026-11-21 02:30:00', 0, ['--no-verify']);
    expect(said).toContain('warning: retention skipped: read-back verification was turned off (--no-verify)');
    expect(archives(j.out)).toHaveLength(2);
  });
});
