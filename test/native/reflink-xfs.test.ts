import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { FS_MAGIC, allocAligned, cloneToTmpfile, fsTypeName, openDirect, preadDirect, statfsType } from '../../src/native/native.js';
import { nativeMissing } from './native-available.js';

interface XfsMount {
  mountPoint: string | null;
  reason: string;
  cleanup: () => Promise<void>;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function commandFailure(err: unknown): string {
  const e = err as { stderr?: Buffer; message?: string };
  return (e.stderr?.toString().trim() || e.message || String(err)).split('\n')[0] ?? '';
}

// A 300 MiB image (xfs's minimum) with reflink=1, loop-mounted: a real
// filesystem that clones, whatever the temp dir sits on.
async function mountXfs(): Promise<XfsMount> {
  const none = async (): Promise<void> => {};
  if (nativeMissing) return { mountPoint: null, reason: 'native addon unavailable', cleanup: none };
  if (process.platform !== 'linux') return { mountPoint: null, reason: 'Linux only', cleanup: none };
  try {
    run('mkfs.xfs', ['-V']);
  } catch {
    return { mountPoint: null, reason: 'mkfs.xfs not found (apt-get install xfsprogs)', cleanup: none };
  }
  const work = await mkdtemp(join(tmpdir(), 'safebak-xfs-'));
  const image = join(work, 'xfs.img');
  const mountPoint = join(work, 'mnt');
  let mounted = false;
  const cleanup = async (): Promise<void> => {
    if (mounted) run('umount', [mountPoint]);
    await rm(work, { recursive: true, force: true });
  };
  try {
    run('truncate', ['-s', '300M', image]);
    run('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
    await mkdir(mountPoint);
    run('mount', ['-o', 'loop', image, mountPoint]);
    mounted = true;
    return { mountPoint, reason: 'mounted', cleanup };
  } catch (err) {
    await cleanup();
    return { mountPoint: null, reason: `cannot mount an xfs image: ${commandFailure(err)}`, cleanup: none };
  }
}

const xfs = await mountXfs();
if (xfs.mountPoint === null) console.warn(`reflink tests skipped: ${xfs.reason}`);

describe.skipIf(xfs.mountPoint === null)('reflink snapshot on xfs', () => {
  const mnt = xfs.mountPoint ?? '';
  const fds: number[] = [];

  afterAll(async () => {
    for (const fd of fds.splice(0)) closeSync(fd);
    await xfs.cleanup();
  });

  it('the loop mount is xfs', async () => {
    expect(fsTypeName(await statfsType(mnt))).toBe('xfs');
    expect(await statfsType(mnt)).toBe(FS_MAGIC.xfs);
  });

  it('cloneToTmpfile keeps the original bytes after the source is rewritten in place', async () => {
    const SIZE = 1024 * 1024;
    const src = join(mnt, 'source');
    writeFileSync(src, Buffer.alloc(SIZE, 'A'));
    const srcFd = openSync(src, 'r');
    fds.push(srcFd);

    const clone = await cloneToTmpfile(srcFd, mnt, src);
    fds.push(clone);
    expect(fstatSync(clone).size).toBe(SIZE);

    const writer = openSync(src, 'r+');
    writeSync(writer, Buffer.alloc(SIZE, 'D'), 0, SIZE, 0);
    closeSync(writer);

    const got = Buffer.alloc(SIZE);
    expect(readSync(clone, got, 0, SIZE, 0)).toBe(SIZE);
    expect(got.equals(Buffer.alloc(SIZE, 'A'))).toBe(true);
    const now = Buffer.alloc(SIZE);
    readSync(srcFd, now, 0, SIZE, 0);
    expect(now.equals(Buffer.alloc(SIZE, 'D'))).toBe(true);
  });

  it('O_DIRECT on xfs: block-multiple requests, short count at EOF', async () => {
    const LENGTH = 70_000;
    const src = join(mnt, 'odd');
    const content = Buffer.alloc(LENGTH);
    for (let i = 0; i < LENGTH; i++) content[i] = i % 253;
    writeFileSync(src, content);
    const fd = await openDirect(src);
    fds.push(fd);
    const buffer = allocAligned(128 * 1024);
    expect(await preadDirect(fd, buffer, buffer.length, 0, src)).toBe(LENGTH);
    expect(buffer.subarray(0, LENGTH).equals(content)).toBe(true);
  });

  it('cloneToTmpfile into a directory on another filesystem fails with EXDEV', async () => {
    const src = join(mnt, 'cross');
    writeFileSync(src, 'x');
    const fd = openSync(src, 'r');
    fds.push(fd);
    await expect(cloneToTmpfile(fd, tmpdir(), src)).rejects.toMatchObject({
      code: 'SAFEBAK_NATIVE',
      syscall: 'ioctl(FICLONE)',
      cause: { code: 'EXDEV' },
    });
  });
});
