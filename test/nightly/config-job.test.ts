import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, validateConfig } from '../../src/config/config.js';
import { expandTemplate, templatePattern, templateProblem } from '../../src/nightly/output-name.js';
import { root, runCron, tempDir, writeJson } from './run.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('job configuration', () => {
  it('names the key of an unknown setting and of a wrong type', () => {
    expect(() => validateConfig({ sourcez: ['a'] }, 'job.json')).toThrow(/job.json: unknown setting "sourcez"/);
    expect(() => validateConfig({ sources: 'a' }, 'job.json')).toThrow(/setting "sources" must be a list of strings/);
    expect(() => validateConfig({ keepDaily: -1 }, 'job.json')).toThrow(/setting "keepDaily" must be a whole number/);
    expect(() => validateConfig({ output: '/b/{dat}.tar' }, 'job.json')).toThrow(/setting "output" must be .*not \{dat\}/);
    expect(() => validateConfig({ output: '/b/{date}/x.tar' }, 'job.json')).toThrow(/"output" must be .*file name only/);
    expect(() => validateConfig({ '//': 42 }, 'job.json')).toThrow(/setting "\/\/" must be a comment/);
    expect(() => validateConfig({ '#': 'x' }, 'job.json')).toThrow(/unknown setting "#"/);
  });

  it('accepts the "//" comment key and drops it', () => {
    expect(validateConfig({ '//': ['a', 'b'], keepLast: 3 }, 'x')).toEqual({ keepLast: 3 });
  });

  it('ships a nightly example that validates, and documents every setting of default.json', () => {
    const example = loadConfigFile(path.join(root, 'config/nightly.example.json'));
    expect(example.output).toMatch(/\{date\}/);
    const readme = fs.readFileSync(path.join(root, 'config/README.md'), 'utf8');
    const keys = Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'config/default.json'), 'utf8')) as object);
    for (const key of keys) expect(readme, `config/README.md documents ${key}`).toContain(`\`${key}\``);
  });

  it('expands templates and recognises their shape for this host only', () => {
    const when = new Date(2026, 10, 27, 3, 4, 5);
    expect(expandTemplate('/b/{host}-{date}-{time}.tar.zst', when, 'db1.example.org')).toBe('/b/db1-2026-11-27-030405.tar.zst');
    const re = templatePattern('/b/{host}-{date}-{time}.tar.zst', 'db1');
    expect(re.test('db1-2026-11-27-030405.tar.zst')).toBe(true);
    expect(re.test('db2-2026-11-27-030405.tar.zst')).toBe(false);
    expect(re.test('.db1-2026-11-27-030405.tar.zst.safebak-1-ab.tmp')).toBe(false);
    expect(templateProblem('{host}.tar')).toBeNull();
  });
});

describe('crontab-style run: empty environment, no TTY, stdin from /dev/null', () => {
  it('safebak create --config JOB with no PATH and no -o archives, verifies and reports', async () => {
    const dir = tempDir('cron');
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'data/sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data/a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(dir, 'data/sub/b.bin'), Buffer.alloc(300_000, 7));
    fs.mkdirSync(path.join(dir, 'out'));
    writeJson(path.join(dir, 'job.json'), {
      '//': 'as an operator writes it',
      sources: ['data'],
      directory: dir,
      output: path.join(dir, 'out/{host}-{date}-{time}.tar.zst'),
      report: path.join(dir, 'report-{date}.json'),
      logFile: path.join(dir, 'safebak.log'),
    });
    const r = await runCron(['create', '--config', path.join(dir, 'job.json')], { cwd: '/' });
    expect(r.stderr).not.toMatch(/\r|\x1b\[/); // no progress line without a terminal
    expect(r.status, r.stderr).toBe(0);
    const archives = fs.readdirSync(path.join(dir, 'out'));
    expect(archives).toHaveLength(1);
    expect(archives[0]).toMatch(/^[^.].*-\d{4}-\d{2}-\d{2}-\d{6}\.tar\.zst$/);
    const reportName = fs.readdirSync(dir).find((n) => n.startsWith('report-'))!;
    const report = JSON.parse(fs.readFileSync(path.join(dir, reportName), 'utf8'));
    expect(report).toMatchObject({ exitStatus: 0, verification: { verdict: 'verified' }, totals: { files: 2 }, error: null });
    expect(report.output).toBe(path.join(dir, 'out', archives[0]!));
    const v = await runCron(['verify', path.join(dir, 'out', archives[0]!)]);
    expect(v.status, v.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'safebak.log'), 'utf8')).toMatch(/"component":"create"/);
  });

  it('a job without sources or output is a usage error (exit 2) that says what is missing', async () => {
    const dir = tempDir('cron-missing');
    dirs.push(dir);
    writeJson(path.join(dir, 'job.json'), { sources: ['x'] });
    const r = await runCron(['create', '--config', path.join(dir, 'job.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no output: give -o ARCHIVE .*"output" template in --config/);
    writeJson(path.join(dir, 'bad.json'), { sources: ['x'], outptu: 'y' });
    const bad = await runCron(['create', '--config', path.join(dir, 'bad.json')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown setting "outptu"/);
  });
});
