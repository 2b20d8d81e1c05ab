import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive, listArchive } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree, file, hardlink, symlink } from '../helpers/tree.js';

let work: string;
const T = 1_700_000_000_500_000_000n;
beforeAll(async () => {
  work = makeTempDir('list');
  buildTree(path.join(work, 'src'), {
    t: { 'a.txt': file('alpha\n', { mode: 0o640, mtimeNs: T }), sub: { 'b.bin': Buffer.alloc(3000, 1) }, ln: symlink('a.txt'), hl: hardlink('t/a.txt') },
  });
  await createArchive({ sources: ['t'], cwd: path.join(work, 'src'), output: path.join(work, 'a.tar.zst') });
  execFileSync('tar', ['-czf', path.join(work, 'gnu.tar.gz'), '-C', path.join(work, 'src'), 't']);
});
afterAll(() => removeDir(work));

describe('safebak list', () => {
  it('prints entry names in archive order, manifest segments left out', async () => {
    const r = await runCli(['list', path.join(work, 'a.tar.zst')]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean)).toEqual(['t/', 't/a.txt', 't/hl', 't/ln', 't/sub/', 't/sub/b.bin']);
    expect(r.stderr).toBe('');
  });

  it('--long shows mode, owner, size, time and link targets like tar -tv', async () => {
    const r = await runCli(['list', '--long', path.join(work, 'a.tar.zst')]);
    const lines = r.stdout.toString().split('\n');
    expect(lines.find((l) => l.endsWith(' t/a.txt'))).toMatch(/^-rw-r----- \d+\/\d+ +6 2023-11-14 22:13 t\/a\.txt$/);
    expect(lines.find((l) => l.includes('t/ln'))).toMatch(/^lrwxrwxrwx .* t\/ln -> a\.txt$/);
    expect(lines.find((l) => l.includes('t/hl'))).toMatch(/^h.* t\/hl link to t\/a\.txt$/);
  });

  it('--json joins each entry with its manifest record', async () => {
    const r = await runCli(['list', '--json', path.join(work, 'a.tar.zst')]);
    const doc = JSON.parse(r.stdout.toString()) as { hasManifest: boolean; compression: string; entries: Record<string, unknown>[] };
    expect(doc.hasManifest).toBe(true);
    expect(doc.compression).toBe('zstd');
    const a = doc.entries.find((e) => e.path === 't/a.txt')!;
    expect(a).toMatchObject({ type: 'file', size: 6, mode: 0o640, status: 'ok', mtimeSec: 1_700_000_000, mtimeNsec: 500_000_000 });
    expect(a.sha256).toBe(createHash('sha256').update('alpha\n').digest('hex'));
  });

  it('reads stdin and foreign GNU tar .tar.gz (compression from magic bytes)', async () => {
    const r = await runCli(['list', '-'], { input: fs.readFileSync(path.join(work, 'gnu.tar.gz')) });
    expect(r.status).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['t/', 't/a.txt', 't/hl', 't/ln', 't/sub/', 't/sub/b.bin']);
    const lib = await listArchive(path.join(work, 'gnu.tar.gz'));
    expect(lib).toMatchObject({ compression: 'gzip', hasManifest: false });
  });

  it('a truncated archive lists what is there, then exits 3', async () => {
    const tar = path.join(work, 'plain.tar');
    await createArchive({ sources: ['t'], cwd: path.join(work, 'src'), output: tar });
    const cut = path.join(work, 'cut.tar');
    // Cut inside the third entry's headers: the first two are whole.
    const third = (await listArchive(tar)).entries[2]!;
    fs.writeFileSync(cut, fs.readFileSync(tar).subarray(0, third.offset + 100));
    const r = await runCli(['list', cut]);
    expect(r.status).toBe(3);
    expect(r.stdout.toString()).toBe('t/\nt/a.txt\n');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/truncated/);
  });
});
