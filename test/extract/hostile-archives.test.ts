/**
 * Security regression tests: each builds an archive that tries one way out
 * of the target, extracts it, and checks that a sentinel tree beside the
 * target is exactly as before, that the entry is named with a reason, and
 * the status. Every test runs with both resolvers (openat2, and the
 * O_NOFOLLOW descriptor walk used without the native addon).
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArchive } from '../../src/extract/extract-archive.js';
import type { ExtractResult } from '../../src/extract/extract-archive.js';
import { buildTar, resolverModes, snapshot, tempFilesBelow } from './helpers.js';
import type { Member } from './helpers.js';

describe.each(resolverModes)('hostile archives (%s resolver)', (resolver) => {
  let base: string;
  let target: string;
  let outside: string;
  let before: Record<string, string>;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'safebak-hostile-'));
    target = join(base, 'target');
    outside = join(base, 'outside');
    fs.mkdirSync(target);
    fs.mkdirSync(join(outside, 'dir'), { recursive: true });
    fs.writeFileSync(join(outside, 'secret.txt'), 'do not touch\n');
    fs.writeFileSync(join(outside, 'dir', 'file.txt'), 'nor this\n');
    before = snapshot(base, { exclude: ['target', 'archive.tar'], skipRootMeta: true });
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function extract(members: Member[], options: Parameters<typeof extractArchive>[1] = {}): Promise<ExtractResult> {
    const archive = join(base, 'archive.tar');
    buildTar(archive, members);
    const result = await extractArchive(archive, { cwd: target, resolver, ...options });
    expect(result.resolver).toBe(resolver);
    // Nothing outside the target changed, and no temporary file is left anywhere.
    expect(snapshot(base, { exclude: ['target', 'archive.tar'], skipRootMeta: true })).toEqual(before);
    expect(tempFilesBelow(base)).toEqual([]);
    return result;
  }

  function outcomeOf(result: ExtractResult, path: string) {
    const o = result.entries.find((e) => e.path === path);
    expect(o, `an outcome for ${path}`).toBeDefined();
    return o!;
  }

  it('absolute path: the leading / is stripped with a warning, the file lands inside the target', async () => {
    const name = join(outside, 'abs.txt');
    const result = await extract([{ name, data: 'abs' }]);
    expect(result.status).toBe(0);
    expect(result.warnings.join('\n')).toMatch(/removed leading '\/' from 1 entry name/);
    expect(fs.readFileSync(join(target, name.slice(1)), 'utf8')).toBe('abs');
    expect(fs.existsSync(name)).toBe(false);
  });

  it('////-prefixed path: every leading slash is stripped', async () => {
    const name = `////${outside.slice(1)}/slashes.txt`;
    const result = await extract([{ name, data: 'x' }]);
    expect(result.status).toBe(0);
    expect(result.warnings.join('\n')).toMatch(/leading '\/'/);
    expect(fs.readFileSync(join(target, outside, 'slashes.txt'), 'utf8')).toBe('x');
  });

  it('../ path: refused, naming the entry', async () => {
    const result = await extract([{ name: '../outside/dotdot.txt', data: 'pwned' }, { name: 'ok.txt', data: 'ok' }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, '../outside/dotdot.txt')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/'\.\.'/) });
    expect(outcomeOf(result, 'ok.txt').outcome).toBe('installed');
  });

  it('a/b/../../../x: refused although it starts inside', async () => {
    const result = await extract([{ name: 'a/b/../../../outside/x.txt', data: 'pwned' }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'a/b/../../../outside/x.txt').outcome).toBe('refused');
  });

  it('symlink to an outside directory, then a file through it: the file is refused, the symlink is made', async () => {
    const result = await extract([
      { name: 'evil', type: 'symlink', link: outside },
      { name: 'evil/pwned.txt', data: 'pwned' },
    ]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'evil/pwned.txt')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/evil is a symlink/) });
    expect(fs.readlinkSync(join(target, 'evil'))).toBe(outside);
  });

  it('relative symlink up, then a file through it: refused', async () => {
    const result = await extract([
      { name: 'up', type: 'symlink', link: '..' },
      { name: 'up/outside/pwned.txt', data: 'pwned' },
    ]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'up/outside/pwned.txt').outcome).toBe('refused');
  });

  it('directory, then a symlink of the same name, then a file through it: no escape', async () => {
    const result = await extract([
      { name: 'd', type: 'dir' },
      { name: 'd', type: 'symlink', link: outside },
      { name: 'd/pwned.txt', data: 'pwned' },
    ]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'd/pwned.txt').outcome).toBe('refused');
    expect(fs.lstatSync(join(target, 'd')).isDirectory()).toBe(true);
  });

  it('chain of symlinks leading out, then a file through the first: refused', async () => {
    const result = await extract([
      { name: 'l1', type: 'symlink', link: 'l2' },
      { name: 'l2', type: 'symlink', link: 'l3' },
      { name: 'l3', type: 'symlink', link: '../outside' },
      { name: 'l1/pwned.txt', data: 'pwned' },
    ]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'l1/pwned.txt').outcome).toBe('refused');
  });

  it('symlink planted by an earlier run, then a file through it: the kernel refuses the lookup', async () => {
    fs.symlinkSync(outside, join(target, 'planted'));
    const result = await extract([{ name: 'planted/pwned.txt', data: 'pwned' }, { name: 'planted/dir/file.txt', data: 'pwned' }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'planted/pwned.txt')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/planted is a symlink/) });
    expect(outcomeOf(result, 'planted/dir/file.txt').outcome).toBe('refused');
  });

  it('hard link to an outside file by absolute name: refused (not a file extracted in this run)', async () => {
    const result = await extract([
      { name: 'h1', type: 'hardlink', link: join(outside, 'secret.txt') },
      { name: 'h1', data: 'overwrite through the link' },
    ]);
    expect(outcomeOf(result, 'h1').outcome).toBe('refused');
    expect(result.status).toBe(1);
    expect(fs.statSync(join(outside, 'secret.txt')).nlink).toBe(1);
  });

  it('hard link to an outside file via ..: refused', async () => {
    const result = await extract([{ name: 'h2', type: 'hardlink', link: '../outside/secret.txt' }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'h2')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/hard link target/) });
  });

  it('hard link to a file extracted earlier: made', async () => {
    const result = await extract([
      { name: 'real.txt', data: 'shared' },
      { name: 'alias.txt', type: 'hardlink', link: 'real.txt' },
    ]);
    expect(result.status).toBe(0);
    expect(fs.statSync(join(target, 'alias.txt')).ino).toBe(fs.statSync(join(target, 'real.txt')).ino);
  });

  it('symlink standing where a later regular file goes: replaced, never written through', async () => {
    const result = await extract([
      { name: 'f', type: 'symlink', link: join(outside, 'secret.txt') },
      { name: 'f', data: 'pwned' },
    ]);
    expect(result.status).toBe(0);
    expect(fs.lstatSync(join(target, 'f')).isFile()).toBe(true);
    expect(fs.readFileSync(join(target, 'f'), 'utf8')).toBe('pwned');
  });

  it('symlink planted before the run where a regular file goes: replaced, never written through', async () => {
    fs.symlinkSync(join(outside, 'secret.txt'), join(target, 'f'));
    const result = await extract([{ name: 'f', data: 'pwned' }]);
    expect(result.status).toBe(0);
    expect(fs.readFileSync(join(target, 'f'), 'utf8')).toBe('pwned');
  });

  it('pax path header that escapes: refused by its pax name, not the harmless ustar one', async () => {
    const result = await extract([{ name: 'innocent.txt', data: 'pwned', pax: { path: '../outside/pax.txt' } }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, '../outside/pax.txt').outcome).toBe('refused');
    expect(fs.existsSync(join(target, 'innocent.txt'))).toBe(false);
  });

  it('pax linkpath that escapes on a hard link: refused', async () => {
    const result = await extract([{ name: 'hl', type: 'hardlink', link: 'x', pax: { linkpath: '../outside/secret.txt' } }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'hl').outcome).toBe('refused');
  });

  it('device node without the devices option: refused', async () => {
    const result = await extract([{ name: 'null', type: 'chr' }]);
    expect(result.status).toBe(1);
    expect(outcomeOf(result, 'null')).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/device node/) });
    expect(fs.existsSync(join(target, 'null'))).toBe(false);
  });

  it.runIf(process.geteuid?.() === 0)('device node with the devices option (as root): made', async () => {
    const result = await extract([{ name: 'null', type: 'chr' }], { devices: true });
    expect(result.status).toBe(0);
    const st = fs.lstatSync(join(target, 'null'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(fs.statSync('/dev/null').rdev);
  });

  it('an archive without a manifest says that nothing could be verified', async () => {
    const result = await extract([{ name: 'plain.txt', data: 'plain' }, { name: 'fifo', type: 'fifo' }]);
    expect(result.status).toBe(0);
    expect(result.kind).toBe('foreign');
    expect(result.warnings.join('\n')).toMatch(/no manifest: nothing could be verified/);
    expect(fs.lstatSync(join(target, 'fifo')).isFIFO()).toBe(true);
  });
});
