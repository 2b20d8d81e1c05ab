import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allocAligned, openDirect, pipe2, preadDirect, splice, tee } from '../../src/native/native.js';
import { nativeMissing } from './native-available.js';
import { readExactly } from '../helpers/read-fd.js';

const SIZE = 64 * 1024;

function overwrite(path: string, byte: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, byte), 0, length, 0);
  } finally {
    closeSync(fd);
  }
}

async function spliceAll(fdIn: number, offIn: number, fdOut: number, length: number): Promise<number> {
  let moved = 0;
  while (moved < length) {
    const n = await splice(fdIn, offIn + moved, fdOut, null, length - moved);
    if (n === 0) break;
    moved += n;
  }
  return moved;
}

// A pattern that differs from block to block, so a misplaced block shows.
function pattern(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + (i >> 12)) % 251;
  return b;
}

describe.skipIf(nativeMissing)('splice and O_DIRECT', () => {
  let dir: string;
  const fds: number[] = [];
  const track = (...fd: number[]): void => void fds.push(...fd);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-splice-'));
  });
  afterAll(async () => {
    for (const fd of fds) closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });

  it('page-cache splice hazard: bytes spliced from a buffered fd change when the file is rewritten before the pipe is read', async () => {
    const path = join(dir, 'hazard');
    writeFileSync(path, Buffer.alloc(SIZE, 'A'));
    const fd = openSync(path, 'r');
    const [r, w] = pipe2();
    track(fd, r, w);

    expect(await spliceAll(fd, 0, w, SIZE)).toBe(SIZE);
    overwrite(path, 'D', SIZE);

    // The pipe held references to the page-cache pages, not copies: the
    // "already read" data is now the writer's. This is the seed's bug class.
    const got = readExactly(r, SIZE);
    expect(got.length).toBe(SIZE);
    expect(got.equals(Buffer.alloc(SIZE, 'D'))).toBe(true);
  });

  it('O_DIRECT splice then tee: both pipes keep the bytes read even after the file is rewritten', async () => {
    const path = join(dir, 'safe');
    writeFileSync(path, Buffer.alloc(SIZE, 'A'));
    const fd = await openDirect(path);
    const [r1, w1] = pipe2();
    const [r2, w2] = pipe2();
    track(fd, r1, w1, r2, w2);

    expect(await spliceAll(fd, 0, w1, SIZE)).toBe(SIZE);
    expect(await tee(r1, w2, SIZE)).toBe(SIZE);
    overwrite(path, 'D', SIZE);

    const expected = Buffer.alloc(SIZE, 'A');
    expect(readExactly(r1, SIZE).equals(expected)).toBe(true);
    expect(readExactly(r2, SIZE).equals(expected)).toBe(true);
  });

  describe('a file whose length is not a block multiple (70,000 bytes)', () => {
    const LENGTH = 70_000;
    const CHUNK = 64 * 1024;
    let path: string;
    let content: Buffer;

    beforeAll(() => {
      path = join(dir, 'odd');
      content = pattern(LENGTH);
      writeFileSync(path, content);
    });

    it('preadDirect reads it with block-multiple requests and a short count at EOF', async () => {
      const fd = await openDirect(path);
      track(fd);
      const buffer = allocAligned(CHUNK);
      const parts: Buffer[] = [];
      const counts: number[] = [];
      for (let pos = 0; ; ) {
        const n = await preadDirect(fd, buffer, CHUNK, pos, path);
        counts.push(n);
        if (n === 0) break;
        parts.push(Buffer.from(buffer.subarray(0, n)));
        pos += n;
        if (n < CHUNK) {
          // Past a short count the next block-aligned request reads nothing.
          expect(await preadDirect(fd, buffer, CHUNK, Math.ceil(pos / 4096) * 4096, path)).toBe(0);
          break;
        }
      }
      expect(counts).toEqual([CHUNK, LENGTH - CHUNK]);
      expect(Buffer.concat(parts).equals(content)).toBe(true);
    });

    it('a splice from the O_DIRECT fd reads it the same way', async () => {
      const fd = await openDirect(path);
      const [r, w] = pipe2();
      track(fd, r, w);
      const parts: Buffer[] = [];
      const counts: number[] = [];
      for (let pos = 0; ; ) {
        const n = await splice(fd, pos, w, null, CHUNK, 0, path);
        counts.push(n);
        if (n === 0) break;
        parts.push(readExactly(r, n));
        pos += n;
      }
      expect(counts).toEqual([CHUNK, LENGTH - CHUNK, 0]);
      expect(Buffer.concat(parts).equals(content)).toBe(true);
    });

    it('preadDirect into an unaligned Node Buffer fails with EINVAL, naming pread and the path', async () => {
      const fd = await openDirect(path);
      track(fd);
      // Offset 1 into an aligned buffer: misaligned whatever malloc returned.
      const unaligned = allocAligned(CHUNK + 4096).subarray(1, 1 + CHUNK);
      await expect(preadDirect(fd, unaligned, CHUNK, 0, path)).rejects.toMatchObject({
        code: 'SAFEBAK_NATIVE',
        syscall: 'pread',
        path,
        cause: { code: 'EINVAL' },
      });
    });
  });
});
