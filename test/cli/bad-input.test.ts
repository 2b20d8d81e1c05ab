import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, stderrLines } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * Bad input to every command: exit 2 and exactly one clear line on stderr
 * (DESIGN §8), never a stack trace, never a file left under the output name.
 */
let work: string;
beforeAll(() => {
  work = makeTempDir('badinput');
  fs.mkdirSync(path.join(work, 'src'));
  fs.writeFileSync(path.join(work, 'src/a.txt'), 'a\n');
  fs.writeFileSync(path.join(work, 'garbage.tar'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff)));
  fs.writeFileSync(path.join(work, 'text.tar.zst'), 'this is a plain text file, not an archive at all\n'.repeat(30));
  fs.writeFileSync(path.join(work, 'empty.tar'), '');
  fs.writeFileSync(path.join(work, 'short.tar'), 'abc');
  fs.writeFileSync(path.join(work, 'config-bad.json'), '{"retries": "many"}');
  fs.writeFileSync(path.join(work, 'config-unknown.json'), '{"frobnicate": true}');
  fs.writeFileSync(path.join(work, 'config-nojson.json'), '{ not json');
});
afterAll(() => removeDir(work));

function expectOneLine(r: { status: number | null; stderr: string; stdout: Buffer }, mentions?: RegExp): void {
  const lines = stderrLines(r as never);
  expect(r.status, r.stderr).toBe(2);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^safebak: /);
  expect(r.stderr).not.toMatch(/\bat .+:\d+:\d+\)?$/m);
  expect(r.stderr).not.toMatch(/internal error/);
  if (mentions) expect(lines[0]).toMatch(mentions);
}

const cases: { name: string; args: string[]; mentions?: RegExp; noOutput?: string }[] = [
  { name: 'unknown command', args: ['frobnicate'], mentions: /frobnicate/ },
  { name: 'create: unknown flag', args: ['create', '--frobnicate', '-o', 'x.tar', 'src'], mentions: /frobnicate/, noOutput: 'x.tar' },
  { name: 'create: no -o', args: ['create', 'src'], mentions: /output/ },
  { name: 'create: no paths', args: ['create', '-o', 'x.tar'], noOutput: 'x.tar' },
  { name: 'create: --compress none with .tar.zst', args: ['create', '--compress', 'none', '-o', 'x.tar.zst', 'src'], mentions: /conflicts/, noOutput: 'x.tar.zst' },
  { name: 'create: --compress zstd with .tar', args: ['create', '--compress', 'zstd', '-o', 'y.tar', 'src'], mentions: /conflicts/, noOutput: 'y.tar' },
  { name: 'create: --compress gzip', args: ['create', '--compress', 'gzip', '-o', 'z.tar', 'src'], mentions: /gzip/, noOutput: 'z.tar' },
  { name: 'create: --level not a number', args: ['create', '--level', 'high', '-o', 'l.tar.zst', 'src'], mentions: /level/, noOutput: 'l.tar.zst' },
  { name: 'create: --level out of range', args: ['create', '--level', '99', '-o', 'l.tar.zst', 'src'], mentions: /level|22/, noOutput: 'l.tar.zst' },
  { name: 'create: --retries negative', args: ['create', '--retries', '-1', '-o', 'r.tar', 'src'], noOutput: 'r.tar' },
  { name: 'create: --strategy unknown', args: ['create', '--strategy', 'teleport', '-o', 's.tar', 'src'], mentions: /teleport/, noOutput: 's.tar' },
  { name: 'create: output in a missing directory', args: ['create', '-o', 'no/such/dir/x.tar', 'src'], mentions: /no\/such\/dir/ },
  { name: 'create: -C missing directory', args: ['create', '-C', 'nowhere', '-o', 'c.tar', 'src'], mentions: /nowhere/, noOutput: 'c.tar' },
  { name: 'create: --config missing', args: ['create', '--config', 'missing.json', '-o', 'm.tar', 'src'], mentions: /missing\.json/, noOutput: 'm.tar' },
  { name: 'create: --config with a bad value', args: ['create', '--config', 'config-bad.json', '-o', 'm.tar', 'src'], mentions: /retries/, noOutput: 'm.tar' },
  { name: 'create: --config with an unknown key', args: ['create', '--config', 'config-unknown.json', '-o', 'm.tar', 'src'], mentions: /frobnicate/, noOutput: 'm.tar' },
  { name: 'create: --config not JSON', args: ['create', '--config', 'config-nojson.json', '-o', 'm.tar', 'src'], mentions: /config-nojson/, noOutput: 'm.tar' },
  { name: 'verify: missing file', args: ['verify', 'missing.tar'], mentions: /missing\.tar/ },
  { name: 'verify: a directory', args: ['verify', 'src'], mentions: /src/ },
  { name: 'verify: garbage', args: ['verify', 'garbage.tar'], mentions: /garbage\.tar|not a tar/ },
  { name: 'verify: text named .tar.zst', args: ['verify', 'text.tar.zst'], mentions: /not a tar/ },
  { name: 'verify: empty file', args: ['verify', 'empty.tar'], mentions: /not a tar|empty/ },
  { name: 'verify: three bytes', args: ['verify', 'short.tar'], mentions: /not a tar/ },
  { name: 'verify: unknown flag', args: ['verify', '--frobnicate', 'garbage.tar'], mentions: /frobnicate/ },
  { name: 'verify: no archive', args: ['verify'], mentions: /archive/ },
  { name: 'verify: --against missing directory', args: ['verify', '--against'], mentions: /against/ },
  { name: 'list: missing file', args: ['list', 'missing.tar'], mentions: /missing\.tar/ },
  { name: 'list: a directory', args: ['list', 'src'], mentions: /src/ },
  { name: 'list: garbage', args: ['list', 'garbage.tar'], mentions: /not a tar/ },
  { name: 'list: text named .tar.zst', args: ['list', 'text.tar.zst'], mentions: /not a tar/ },
  { name: 'list: empty file', args: ['list', 'empty.tar'] },
  { name: 'list: unknown flag', args: ['list', '--frobnicate', 'garbage.tar'], mentions: /frobnicate/ },
  { name: 'list: no archive', args: ['list'], mentions: /archive/ },
];

describe('bad input: exit 2 and one line', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await runCli(c.args, { cwd: work, timeoutMs: 30_000 });
      expectOneLine(r, c.mentions);
      if (c.noOutput) expect(fs.existsSync(path.join(work, c.noOutput)), `${c.noOutput} must not exist`).toBe(false);
      // No temporary files left beside the target either.
      expect(fs.readdirSync(work).filter((n) => n.includes('.safebak-'))).toEqual([]);
    });
  }

  it('no command at all: exit 2 with the usage text (like git and tar)', async () => {
    const r = await runCli([], { cwd: work, timeoutMs: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^Usage: safebak/);
    expect(r.stdout.length).toBe(0);
  });

  it('stdin that is not an archive: verify - and list - exit 2', async () => {
    for (const cmd of ['verify', 'list']) {
      const r = await runCli([cmd, '-'], { cwd: work, input: 'hello, I am not a tarball\n'.repeat(50), timeoutMs: 30_000 });
      expectOneLine(r, /not a tar/);
    }
  });

  it('empty stdin: verify - exits 2', async () => {
    const r = await runCli(['verify', '-'], { cwd: work, input: '', timeoutMs: 30_000 });
    expectOneLine(r);
  });

  it('a source root that does not exist is fatal (exit 2, one line), and no archive is written', async () => {
    const r = await runCli(['create', '-o', 'partial.tar', 'src', 'does-not-exist'], { cwd: work, timeoutMs: 30_000 });
    expectOneLine(r, /does-not-exist: source root is missing: no such file or directory \(ENOENT\); no archive written/);
    expect(fs.existsSync(path.join(work, 'partial.tar'))).toBe(false);
  });
});
