import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readFileSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { SafebakError } from '../../src/errors.js';
import {
  FS_MAGIC,
  addSeals,
  allocAligned,
  cloneToTmpfile,
  errnoCode,
  fadvise,
  fionread,
  fsTypeName,
  getPipeSize,
  getSeals,
  loadNative,
  memfdCreate,
  nativeConstants,
  openDirect,
  openTmpfile,
  openat2,
  pipe2,
  pipeMaxSize,
  setDirect,
  setPipeSize,
  startWriteback,
  statfsType,
} from '../../src/native/native.js';
import { nativeMissing } from './native-available.js';

// fdinfo's `flags:` is octal; O_CLOEXEC shows there, which JS cannot read otherwise.
function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return parseInt(m?.[1] ?? 'NaN', 8);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe.skipIf(nativeMissing)('native syscalls', () => {
  let dir: string;
  const fds: number[] = [];
  const track = <T extends number>(fd: T): T => (fds.push(fd), fd);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-native-'));
  });
  afterAll(async () => {
    for (const fd of fds) closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });

  it('loadNative is probed once per process', () => {
    expect(loadNative()).toBe(loadNative());
    expect(loadNative().reason).toMatch(/^loaded .*safebak_native\.node$/);
  });

  it('pipe2 gives a close-on-exec pipe; fionread counts the bytes queued', () => {
    const [r, w] = pipe2().map(track) as [number, number];
    const { O_CLOEXEC, O_NONBLOCK } = nativeConstants();
    expect(fdFlags(r) & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(fdFlags(r) & O_NONBLOCK).toBe(0);
    expect(fionread(r)).toBe(0);
    writeSync(w, Buffer.alloc(1000, 'x'));
    expect(fionread(r)).toBe(1000);
    const [nr] = pipe2(true).map(track) as [number, number];
    expect(fdFlags(nr) & O_NONBLOCK).toBe(O_NONBLOCK);
  });

  it('setPipeSize grows a pipe up to pipe-max-size', () => {
    const [, w] = pipe2().map(track) as [number, number];
    const max = pipeMaxSize();
    expect(max).toBe(Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8')));
    expect(getPipeSize(w)).toBe(64 * 1024);
    const size = setPipeSize(w, 256 * 1024);
    expect(size).toBe(256 * 1024);
    expect(getPipeSize(w)).toBe(size);
    expect(setPipeSize(w, max)).toBe(max);
  });

  it('fadvise accepts each advice', async () => {
    const path = join(dir, 'advised');
    writeFileSync(path, Buffer.alloc(8192, 'a'));
    const fd = track(openSync(path, 'r'));
    for (const advice of ['sequential', 'willneed', 'noreuse', 'dontneed'] as const) {
      await expect(fadvise(fd, 0, 0, advice, path)).resolves.toBeUndefined();
    }
  });

  it('startWriteback writes dirty pages back without waiting, and names a bad descriptor', async () => {
    const path = join(dir, 'written-back');
    const fd = track(openSync(path, 'w'));
    writeSync(fd, Buffer.alloc(1024 * 1024, 'b'));
    await expect(startWriteback(fd, 0, 1024 * 1024, path)).resolves.toBeUndefined();
    await expect(startWriteback(1_000_000, 0, 4096, path)).rejects.toMatchObject({ code: 'SAFEBAK_NATIVE', message: expect.stringContaining('sync_file_range') });
  });

  it('setDirect turns O_DIRECT on and off, and says EINVAL where it is refused', () => {
    const path = join(dir, 'direct-toggle');
    const fd = track(openSync(path, 'w'));
    const { O_DIRECT } = nativeConstants();
    setDirect(fd, true, path);
    expect(fdFlags(fd) & O_DIRECT).toBe(O_DIRECT);
    // Direct writes need aligned memory, length and offset.
    expect(writeSync(fd, allocAligned(4096), 0, 4096, 0)).toBe(4096);
    setDirect(fd, false, path);
    expect(fdFlags(fd) & O_DIRECT).toBe(0);
    const full = track(openSync('/dev/full', 'w'));
    const err = thrown(() => setDirect(full, true, '/dev/full'));
    expect(err).toMatchObject({ code: 'SAFEBAK_NATIVE', message: expect.stringContaining('F_SETFL') });
    expect(errnoCode(err)).toBe('EINVAL');
  });

  describe('openat2', () => {
    let base: string;
    let dirfd: number;

    beforeAll(async () => {
      base = join(dir, 'root');
      await mkdir(base);
      writeFileSync(join(base, 'inside'), 'inside');
      writeFileSync(join(dir, 'x'), 'outside');
      symlinkSync('inside', join(base, 'link'));
      dirfd = track(openSync(base, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY));
    });

    it('opens a plain name beneath the directory, close-on-exec', () => {
      const { O_RDONLY, O_CLOEXEC, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS } = nativeConstants();
      const fd = track(openat2(dirfd, 'inside', O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS));
      expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
      const buf = Buffer.alloc(16);
      expect(buf.subarray(0, readSync(fd, buf, 0, 16, 0)).toString()).toBe('inside');
    });

    it('RESOLVE_BENEATH refuses ../x with EXDEV', () => {
      const { O_RDONLY, RESOLVE_BENEATH } = nativeConstants();
      const err = thrown(() => openat2(dirfd, '../x', O_RDONLY, 0, RESOLVE_BENEATH));
      expect(err).toBeInstanceOf(SafebakError);
      expect(err).toMatchObject({ code: 'SAFEBAK_NATIVE', syscall: 'openat2', path: '../x' });
      expect(errnoCode(err)).toBe('EXDEV');
    });

    it('RESOLVE_NO_SYMLINKS refuses a symlink with ELOOP', () => {
      const { O_RDONLY, RESOLVE_NO_SYMLINKS } = nativeConstants();
      expect(errnoCode(thrown(() => openat2(dirfd, 'link', O_RDONLY, 0, RESOLVE_NO_SYMLINKS)))).toBe('ELOOP');
    });

    it('creates with O_CREAT|O_EXCL and the given mode, and refuses to create twice', () => {
      const { O_CREAT, O_EXCL, O_WRONLY, RESOLVE_BENEATH } = nativeConstants();
      const flags = O_CREAT | O_EXCL | O_WRONLY;
      const fd = track(openat2(dirfd, 'created', flags, 0o640, RESOLVE_BENEATH));
      writeSync(fd, 'new');
      expect(readFileSync(join(base, 'created'), 'utf8')).toBe('new');
      expect(errnoCode(thrown(() => openat2(dirfd, 'created', flags, 0o640, RESOLVE_BENEATH)))).toBe('EEXIST');
    });
  });

  it('openTmpfile gives an anonymous file that reads back what was written', async () => {
    const fd = track(await openTmpfile(dir));
    writeSync(fd, 'scratch', 0);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, readSync(fd, buf, 0, 16, 0)).toString()).toBe('scratch');
  });

  it('a sealed memfd refuses writes', () => {
    const { F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE } = nativeConstants();
    const fd = track(memfdCreate('safebak-test'));
    writeSync(fd, 'frozen', 0);
    const seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    addSeals(fd, seals);
    expect(getSeals(fd)).toBe(seals);
    expect((thrown(() => writeSync(fd, 'X', 0)) as NodeJS.ErrnoException).code).toBe('EPERM');
  });

  it('statfsType names the temp dir filesystem as stat -f does', async () => {
    const type = await statfsType(dir);
    const expected = parseInt(execFileSync('stat', ['-f', '-c', '%t', dir], { encoding: 'utf8' }).trim(), 16);
    expect(type).toBe(expected);
    expect(fsTypeName(FS_MAGIC.xfs)).toBe('xfs');
    expect(fsTypeName(0x1234)).toBe('0x1234');
  });

  it('cloneToTmpfile on a filesystem that cannot clone rejects with ENOTSUP/EXDEV/EINVAL', async (ctx) => {
    const type = await statfsType(dir);
    if (type !== FS_MAGIC.ext4 && type !== FS_MAGIC.tmpfs) {
      console.warn(`skipped: ${dir} is ${fsTypeName(type)}, which may clone`);
      ctx.skip();
    }
    const src = join(dir, 'noclone');
    writeFileSync(src, 'data');
    const fd = track(openSync(src, 'r'));
    const err: unknown = await cloneToTmpfile(fd, dir, src).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SAFEBAK_NATIVE', syscall: 'ioctl(FICLONE)', path: src });
    expect(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL']).toContain(errnoCode(err));
  });

  it('errno failures become SafebakErrors naming syscall and path; the errno stays on the cause', async () => {
    const missing = join(dir, 'missing');
    const err: unknown = await openDirect(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafebakError);
    expect(err).toMatchObject({ code: 'SAFEBAK_NATIVE', syscall: 'open', path: missing });
    expect((err as Error).message).toBe(`${missing}: open failed: no such file or directory (ENOENT)`);
    expect((err as Error).cause).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: missing });

    symlinkSync('missing', join(dir, 'dangling'));
    expect(errnoCode(await openDirect(join(dir, 'dangling')).catch((e: unknown) => e))).toBe('ELOOP');
  });

  it('argument errors are TypeErrors, not system errors', () => {
    expect(() => setPipeSize('x' as unknown as number, 1)).toThrow(TypeError);
  });
});

describe('without the addon', () => {
  it('SAFEBAK_NO_NATIVE=1 disables it with a plain reason, and helpers throw SAFEBAK_NATIVE', async () => {
    const saved = process.env['SAFEBAK_NO_NATIVE'];
    process.env['SAFEBAK_NO_NATIVE'] = '1';
    try {
      vi.resetModules();
      const fresh = await import('../../src/native/native.js');
      expect(fresh.loadNative()).toEqual({ addon: null, reason: 'native addon disabled by SAFEBAK_NO_NATIVE=1', file: null });
      expect(() => fresh.pipe2()).toThrow(/native addon unavailable: native addon disabled by SAFEBAK_NO_NATIVE=1/);
      await expect(fresh.openDirect('/nonexistent')).rejects.toMatchObject({ code: 'SAFEBAK_NATIVE' });
    } finally {
      if (saved === undefined) delete process.env['SAFEBAK_NO_NATIVE'];
      else process.env['SAFEBAK_NO_NATIVE'] = saved;
      vi.resetModules();
    }
  });
});
