import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { diffTrees, snapshotTree } from '../helpers/compare-trees.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree, dir, fifo, file, hardlink, symlink } from '../helpers/tree.js';

// GNU tar and bsdtar must read our archives with nothing but the decompressor (DESIGN §4).
const env = { ...process.env, LC_ALL: 'C.UTF-8' };
const hasBsdtar = (() => {
  try {
    execFileSync('bsdtar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasBsdtar) console.warn('bsdtar tests skipped: bsdtar is not installed (apt-get install -y libarchive-tools)');

const T = 1_700_000_000_123_456_789n;
const longDir = 'd'.repeat(60) + '/' + 'e'.repeat(60); // 121 bytes
const component200 = 'n'.repeat(200);

function fixture(root: string): void {
  buildTree(root, {
    t: dir(
      {
        'plain.txt': file('hello\n', { mode: 0o644, mtimeNs: T }),
        'exec.sh': file('#!/bin/sh\necho hi\n', { mode: 0o755, mtimeNs: T + 1n }),
        'private': file('secret', { mode: 0o600, mtimeNs: T + 999_999_998n }),
        'empty': file('', { mode: 0o640, mtimeNs: T + 2_000_000_000n }),
        'whole-second': file('x', { mtimeNs: 1_600_000_000_000_000_000n }),
        'binary.bin': file(Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff)), { mtimeNs: T + 5n }),
        'large.bin': file(Buffer.alloc(1_500_000, 0x5a), { mtimeNs: T + 6n }),
        'emptydir': dir({}, { mode: 0o750, mtimeNs: T + 7n }),
        'sticky': dir({ inner: file('i', { mtimeNs: T }) }, { mode: 0o1777, mtimeNs: T + 8n }),
        'link-to-plain': symlink('plain.txt', { mtimeNs: T + 9n }),
        'dangling': symlink('does/not/exist', { mtimeNs: T + 10n }),
        'hard-a': file('shared inode\n', { mtimeNs: T + 11n }),
        'hard-b': hardlink('t/hard-a'),
        'pipe': fifo({ mode: 0o600, mtimeNs: T + 12n }),
        [longDir]: dir({ ['f'.repeat(30) + '.txt']: file('long path, 156 bytes\n', { mtimeNs: T + 13n }) }),
        [component200]: dir({ [component200 + '.data']: file('over 255 bytes\n', { mtimeNs: T + 14n }) }, { mtimeNs: T + 15n }),
        'héllo wörld ✓.txt': file('non-ascii\n', { mtimeNs: T + 16n }),
        '日本語': dir({ 'ファイル.txt': file('utf-8 everywhere\n', { mtimeNs: T + 17n }) }, { mtimeNs: T + 18n }),
        'link-long': symlink('x'.repeat(150), { mtimeNs: T + 19n }),
        'link-ü': symlink('héllo wörld ✓.txt', { mtimeNs: T + 20n }),
        'exactly-100': file('a', { mtimeNs: T + 21n }),
      },
      { mode: 0o755, mtimeNs: T + 100n },
    ),
  });
  // Rename to exact lengths that sit on the ustar boundaries (the name as archived is "t/…").
  fs.renameSync(path.join(root, 't/exactly-100'), path.join(root, 't/' + 'k'.repeat(98)));
}

const formats = [
  { ext: 'tar', gnu: ['-xf'], bsd: ['-xf'], gnuList: ['-tf'] },
  { ext: 'tar.zst', gnu: ['--zstd', '-xf'], bsd: ['-xf'], gnuList: ['--zstd', '-tf'] },
] as const;

describe('GNU tar and bsdtar read our archives byte-identically', () => {
  let work: string;
  let src: string;
  let expected: ReturnType<typeof snapshotTree>;

  beforeAll(async () => {
    work = makeTempDir('interop');
    src = path.join(work, 'src');
    fixture(src);
    // The dir mtimes were set bottom-up; renaming 'exactly-100' touched t's mtime, so set it again.
    execFileSync('python3', ['-c', `import os; os.utime(${JSON.stringify(path.join(src, 't'))}, ns=(${T + 100n}, ${T + 100n}))`]);
    expected = snapshotTree(path.join(src, 't'));
    for (const f of formats) {
      const r = await runCli(['create', '-o', path.join(work, `a.${f.ext}`), '-C', src, 't'], { cwd: work });
      expect(r.stderr).toContain('verified by read-back');
      expect(r.status).toBe(0);
    }
  });
  afterAll(() => removeDir(work));

  for (const f of formats) {
    it(`GNU tar lists every entry of .${f.ext}`, () => {
      const out = execFileSync('tar', [...f.gnuList, path.join(work, `a.${f.ext}`)], { env, encoding: 'utf8' });
      const names = out.split('\n').filter(Boolean).map((n) => n.replace(/\/$/, ''));
      const want = expected.map((e) => (e.rel === '' ? 't' : `t/${e.rel}`));
      expect(names.filter((n) => !n.startsWith('.safebak')).sort()).toEqual(want.sort());
      expect(names.filter((n) => n.startsWith('.safebak/manifest-'))).toHaveLength(1);
    });

    for (const tool of ['gnu', 'bsd'] as const) {
      it.skipIf(tool === 'bsd' && !hasBsdtar)(`${tool === 'gnu' ? 'GNU tar' : 'bsdtar'} extracts .${f.ext} identical to the source`, () => {
        const out = path.join(work, `out-${tool}-${f.ext}`);
        fs.mkdirSync(out);
        const args = tool === 'gnu' ? [...f.gnu, path.join(work, `a.${f.ext}`), '-C', out, '--numeric-owner'] : [...f.bsd, path.join(work, `a.${f.ext}`), '-C', out, '--numeric-owner'];
        execFileSync(tool === 'gnu' ? 'tar' : 'bsdtar', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
        const actual = snapshotTree(path.join(out, 't'));
        expect(diffTrees(expected, actual)).toEqual([]);
        const a = fs.lstatSync(path.join(out, 't/hard-a'));
        const b = fs.lstatSync(path.join(out, 't/hard-b'));
        expect(b.ino).toBe(a.ino);
        expect(a.nlink).toBe(2);
        expect(fs.readFileSync(path.join(out, '.safebak/manifest-000001.jsonl'), 'utf8')).toMatch(/"kind":"footer"/);
      });
    }
  }

  it('bsdtar lists the same names as our own list', async () => {
    if (!hasBsdtar) return;
    const bsd = execFileSync('bsdtar', ['-tf', path.join(work, 'a.tar.zst')], { env, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/\/$/, ''));
    const ours = await runCli(['list', path.join(work, 'a.tar.zst')]);
    expect(ours.status).toBe(0);
    const listed = ours.stdout.toString('utf8').split('\n').filter(Boolean).map((n) => n.replace(/\/$/, ''));
    expect(bsd.filter((n) => !n.startsWith('.safebak'))).toEqual(listed);
  });

  it('GNU tar reports no warnings about our headers', () => {
    const r = execFileSync('tar', ['--zstd', '-tvf', path.join(work, 'a.tar.zst')], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r).toContain('t/' + component200 + '/' + component200 + '.data');
    expect(r).toContain('t/héllo wörld ✓.txt');
  });
});
