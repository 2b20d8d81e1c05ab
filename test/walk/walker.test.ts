import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive, listArchive } from '../../src/index.js';
import { createExcludeMatcher } from '../../src/walk/exclude.js';
import { archiveNameOf, walk } from '../../src/walk/walker.js';
import type { WalkItem } from '../../src/walk/walker.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree, fifo, socket, symlink } from '../helpers/tree.js';

async function walkAll(root: string, sources: string[], opts: { exclude?: string[]; oneFileSystem?: boolean } = {}): Promise<WalkItem[]> {
  const out: WalkItem[] = [];
  for await (const item of walk(sources, { cwd: root, exclude: createExcludeMatcher(opts.exclude ?? []), oneFileSystem: opts.oneFileSystem ?? false })) {
    out.push(item);
  }
  return out;
}
const names = (items: WalkItem[]): string[] => items.map((i) => i.name);

let work: string;
beforeAll(() => {
  work = makeTempDir('walk');
});
afterAll(() => removeDir(work));

describe('order', () => {
  it('is depth-first with each directory sorted by the bytes of its names', async () => {
    const root = path.join(work, 'order');
    buildTree(root, {
      t: { b: '', B: '', a: { z: '', A: '' }, 'a-b': '', 'a.b': '', _: '', é: '', e: '', '10': '', '9': '', ' space': '' },
    });
    expect(names(await walkAll(root, ['t']))).toEqual([
      't',
      't/ space',
      't/10',
      't/9',
      't/B',
      't/_',
      't/a',
      't/a/A',
      't/a/z',
      't/a-b',
      't/a.b',
      't/b',
      't/e',
      't/é',
    ]);
  });

  it('keeps the sources in the order given, and names them as given (leading / and ../ stripped)', async () => {
    const root = path.join(work, 'sources');
    buildTree(root, { z: 'z', a: { f: 'f' } });
    expect(names(await walkAll(root, ['z', 'a', './a/f']))).toEqual(['z', 'a', 'a/f', 'a/f']);
    expect(archiveNameOf('/etc/passwd')).toBe('etc/passwd');
    expect(archiveNameOf('../../x/y/')).toBe('x/y');
    expect(archiveNameOf('./a//b/./c')).toBe('a/b/c');
    expect(archiveNameOf('/')).toBe('');
  });

  it('never follows a symlink to a directory', async () => {
    const root = path.join(work, 'links');
    buildTree(root, { t: { real: { inside: 'x' }, ln: symlink('real'), loop: symlink('loop') } });
    const items = await walkAll(root, ['t']);
    expect(names(items)).toEqual(['t', 't/ln', 't/loop', 't/real', 't/real/inside']);
    expect(items.find((i) => i.name === 't/ln')).toMatchObject({ kind: 'entry', type: 'symlink', linkTarget: 'real' });
  });
});

describe('excludes', () => {
  let root: string;
  beforeAll(() => {
    root = path.join(work, 'excl');
    buildTree(root, {
      t: {
        'keep.txt': '',
        'drop.log': '',
        deep: { 'x.log': '', 'y.txt': '', node_modules: { pkg: { 'index.js': '' } } },
        node_modules: { 'a.js': '' },
        cache: { 'a.tmp': '', 'b.dat': '', sub: { 'c.tmp': '' } },
      },
    });
  });

  it('a basename glob matches at any depth', async () => {
    const got = names(await walkAll(root, ['t'], { exclude: ['*.log'] }));
    expect(got).not.toContain('t/drop.log');
    expect(got).not.toContain('t/deep/x.log');
    expect(got).toContain('t/deep/y.txt');
  });

  it('an excluded directory is pruned with everything below it', async () => {
    const got = names(await walkAll(root, ['t'], { exclude: ['node_modules'] }));
    expect(got.filter((n) => n.includes('node_modules'))).toEqual([]);
    expect(got).toContain('t/deep/y.txt');
  });

  it('a glob with a slash matches the whole archive name', async () => {
    const got = names(await walkAll(root, ['t'], { exclude: ['t/cache/*.tmp'] }));
    expect(got).not.toContain('t/cache/a.tmp');
    expect(got).toContain('t/cache/b.dat');
    expect(got).toContain('t/cache/sub/c.tmp');
    const got2 = names(await walkAll(root, ['t'], { exclude: ['t/cache/**/*.tmp'] }));
    expect(got2).not.toContain('t/cache/sub/c.tmp');
  });

  it('--exclude reaches the archive through the CLI, repeatable', async () => {
    const out = path.join(work, 'excl.tar');
    const r = await runCli(['create', '-o', out, '-C', root, '--exclude', '*.log', '--exclude', 'node_modules', 't']);
    expect(r.status).toBe(0);
    const listed = (await listArchive(out)).entries.map((e) => e.path);
    expect(listed.some((n) => n.endsWith('.log') || n.includes('node_modules'))).toBe(false);
    expect(listed).toContain('t/keep.txt');
  });
});

describe('special files', () => {
  it('a FIFO with no writer is recorded as metadata and never opened (create does not hang)', async () => {
    const root = path.join(work, 'fifo');
    buildTree(root, { t: { before: 'b', pipe: fifo({ mode: 0o640 }), after: 'a' } });
    const r = await runCli(['create', '-o', path.join(work, 'fifo.tar'), '-C', root, 't'], { timeoutMs: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const entries = (await listArchive(path.join(work, 'fifo.tar'))).entries;
    expect(entries.find((e) => e.path === 't/pipe')).toMatchObject({ type: 'fifo', mode: 0o640, size: 0 });
  });

  it('a socket is skipped with a note, not a problem (exit 0)', async () => {
    const root = path.join(work, 'sock');
    buildTree(root, { t: { 'a.txt': 'a', 'daemon.sock': socket() } });
    expect(fs.lstatSync(path.join(root, 't/daemon.sock')).isSocket()).toBe(true);
    const items = await walkAll(root, ['t']);
    expect(items.find((i) => i.name === 't/daemon.sock')).toMatchObject({ kind: 'skip', problem: false });
    const result = await createArchive({ sources: ['t'], cwd: root, output: path.join(work, 'sock.tar') });
    expect(result.status).toBe(0);
    expect(result.notes.map((n) => n.path)).toEqual(['t/daemon.sock']);
    expect(result.flagged).toEqual([]);
    const r = await runCli(['create', '-o', path.join(work, 'sock2.tar'), '-C', root, 't']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/note: t\/daemon\.sock: socket/);
  });
});

describe('--one-file-system', () => {
  const root = () => path.join(work, 'ofs');
  let mounted = false;
  let reason = '';
  beforeAll(() => {
    buildTree(root(), { t: { 'a.txt': 'a', mnt: {} } });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path.join(root(), 't/mnt')], { stdio: 'pipe' });
      mounted = true;
      fs.writeFileSync(path.join(root(), 't/mnt/on-tmpfs.txt'), 'other fs');
    } catch (err) {
      reason = (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
      console.warn(`--one-file-system tests skipped: cannot mount a tmpfs (${reason})`);
    }
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [path.join(root(), 't/mnt')]);
  });

  it('stays on the source’s filesystem: the mount point is archived, its contents are not', async (ctx) => {
    if (!mounted) ctx.skip();
    expect(names(await walkAll(root(), ['t']))).toEqual(['t', 't/a.txt', 't/mnt', 't/mnt/on-tmpfs.txt']);
    expect(names(await walkAll(root(), ['t'], { oneFileSystem: true }))).toEqual(['t', 't/a.txt', 't/mnt']);
    const out = path.join(work, 'ofs.tar');
    const r = await runCli(['create', '--one-file-system', '-o', out, '-C', root(), 't']);
    expect(r.status).toBe(0);
    expect((await listArchive(out)).entries.map((e) => e.path)).toEqual(['t/', 't/a.txt', 't/mnt/']);
  });
});
