import { closeSync, fstatSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { FS_MAGIC, allocAligned, cloneToTmpfile, fsTypeName, openDirect, preadDirect, statfsType } from '../../src/native/native.js';
import { nativeMissing } from './native-available.js';
import { mountXfs } from '../helpers/xfs-mount.js';

const xfs = await mountXfs(nativeMissing ? 'native addon unavailable' : null);
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
