import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listArchive } from '../../src/list/list-archive.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { flipBit } from '../helpers/corrupt.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

const dir = makeTempDir('extract-cli');
afterAll(() => removeDir(dir));

function makeTree(): string {
  const src = join(dir, 'src');
  mkdirSync(join(src, 'docs'), { recursive: true });
  writeFileSync(join(src, 'docs', 'a.txt'), 'alpha\n'.repeat(100));
  writeFileSync(join(src, 'docs', 'b.txt'), 'bravo\n'.repeat(100));
  writeFileSync(join(src, 'c.bin'), Buffer.alloc(5000, 7));
  return src;
}

describe('safebak extract (CLI)', () => {
  const src = makeTree();

  it('restores a whole archive, and only the PATHs asked for', async () => {
    expect((await runCli(['create', '-o', join(dir, 'a.tar'), '-C', dir, 'src'])).status).toBe(0);
    const all = join(dir, 'all');
    mkdirSync(all);
    const r = await runCli(['extract', join(dir, 'a.tar'), '-C', all]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/installed.*verified against its manifest record/);
    expect(readFileSync(join(all, 'src', 'docs', 'b.txt'))).toEqual(readFileSync(join(src, 'docs', 'b.txt')));

    const some = join(dir, 'some');
    mkdirSync(some);
    const p = await runCli(['extract', join(dir, 'a.tar'), '-C', some, '--strip-components', '1', 'src/docs']);
    expect(p.status).toBe(0);
    expect(existsSync(join(some, 'docs', 'a.txt'))).toBe(true);
    expect(existsSync(join(some, 'c.bin'))).toBe(false);
  });

  it('exits 3, names the damaged file and installs the rest', async () => {
    const archive = join(dir, 'b.tar');
    expect((await runCli(['create', '-o', archive, '-C', dir, 'src'])).status).toBe(0);
    const entry = (await listArchive(archive)).entries.find((e) => e.path === 'src/docs/a.txt')!;
    // The data starts one block after the header (the name fits ustar; a pax mtime adds two blocks).
    const dataAt = entry.offset + (entry.mtimeNsec === 0 ? 512 : 1536);
    flipBit(archive, dataAt + 10);
    const out = join(dir, 'damaged');
    mkdirSync(out);
    const r = await runCli(['extract', archive, '-C', out]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/NOT-INSTALLED: src\/docs\/a\.txt/);
    expect(existsSync(join(out, 'src', 'docs', 'a.txt'))).toBe(false);
    expect(readFileSync(join(out, 'src', 'docs', 'b.txt'), 'utf8')).toBe('bravo\n'.repeat(100));
  });

  it('exits 2 with one line for a target that does not exist, and for an unknown flag', async () => {
    const missing = await runCli(['extract', join(dir, 'a.tar'), '-C', join(dir, 'nope')]);
    expect(missing.status).toBe(2);
    expect(stderrLines(missing)).toHaveLength(1);
    const flag = await runCli(['extract', join(dir, 'a.tar'), '--overwrite-everything']);
    expect(flag.status).toBe(2);
    expect(stderrLines(flag)).toHaveLength(1);
  });
});
