import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveFileWriter } from '../../src/archive/archive-file-writer.js';
import { zstdEncoder } from '../../src/archive/zstd-encoder.js';
import type { StageEncoder } from '../../src/archive/zstd-encoder.js';
import { loadNative, nativeConstants } from '../../src/native/native.js';
import { withRamfs } from '../helpers/ramfs.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/** Whether O_DIRECT opens in `dir`: where it does not, the writer must write everything buffered. */
function directOpens(dir: string): boolean {
  const probe = path.join(dir, 'direct-probe');
  fs.writeFileSync(probe, '');
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_RDONLY | fs.constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe);
  }
}

/** A seeded sequence of chunks: tiny, block-sized, odd and larger than a stage. */
function chunks(seed: number, total: number): Buffer[] {
  let x = seed;
  const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const sizes = [1, 511, 512, 4096, 4097, 65536, 1024 * 1024, 1024 * 1024 + 3, 3 * 1024 * 1024];
  const out: Buffer[] = [];
  let sum = 0;
  while (sum < total) {
    const size = Math.min(sizes[next() % sizes.length]!, total - sum);
    const chunk = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) chunk[i] = next() >>> 24;
    out.push(chunk);
    sum += size;
  }
  return out;
}

async function writeAll(writer: ArchiveFileWriter, parts: Buffer[]): Promise<void> {
  for (const part of parts) {
    if (!writer.write(part)) await new Promise((resolve) => writer.once('drain', resolve));
  }
}

function ended(writer: ArchiveFileWriter): Promise<void> {
  return new Promise((resolve, reject) => {
    writer.once('error', reject);
    writer.end(() => resolve());
  });
}

/** Writes `parts` into a new file at `file` through a writer, to the end; returns the writer. */
async function writeFile(file: string, parts: Buffer[], encoder: StageEncoder | null = null): Promise<ArchiveFileWriter> {
  const fd = fs.openSync(file, 'wx');
  try {
    const writer = new ArchiveFileWriter(fd, file, encoder);
    await writeAll(writer, parts);
    await ended(writer);
    return writer;
  } finally {
    fs.closeSync(fd);
  }
}

/** The descriptor's open flags as the kernel reports them (/proc/self/fdinfo, octal). */
function openFlags(fd: number): number {
  const line = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('flags:'))!;
  return parseInt(line.split(/\s+/)[1]!, 8);
}

describe('ArchiveFileWriter', () => {
  let dir: string;
  let direct: boolean;
  beforeAll(() => {
    dir = makeTempDir('file-writer');
    direct = loadNative().addon !== null && directOpens(dir);
    if (!direct) console.log(`direct writes not expected here: ${loadNative().addon === null ? 'no native addon' : `O_DIRECT does not open in ${dir}`}`);
  });
  afterAll(() => removeDir(dir));

  it('writes exactly the bytes it was given, whole aligned stages with O_DIRECT', async () => {
    const parts = chunks(7, 9 * 1024 * 1024 + 1234);
    const file = path.join(dir, 'plain.tar');
    const writer = await writeFile(file, parts);
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true);
    // Every stage but the last, partial one: 9 whole MiB.
    expect(writer.directBytes).toBe(direct ? 9 * 1024 * 1024 : 0);
  });

  it('compresses straight into its stages: zstd -d gives back exactly the bytes written', async () => {
    // Text-like and random parts: zstd's output then comes in pieces of every size.
    const parts = chunks(5, 6 * 1024 * 1024 + 77).map((c, i) => (i % 2 === 0 ? Buffer.from(c.toString('base64').slice(0, c.length)) : c));
    const file = path.join(dir, 'compressed.tar.zst');
    const writer = await writeFile(file, parts, zstdEncoder(3));
    const size = fs.statSync(file).size;
    expect(size).toBeLessThan(Buffer.concat(parts).length);
    const decoded = execFileSync('zstd', ['-dc', file], { maxBuffer: 64 * 1024 * 1024 });
    expect(decoded.equals(Buffer.concat(parts))).toBe(true);
    expect(writer.directBytes).toBe(direct ? size - (size % (1024 * 1024)) : 0);
  });

  it('hands a plain descriptor to a raw writer and continues after its bytes, realigning', async () => {
    const before = chunks(11, 2 * 1024 * 1024 + 700);
    const raw = Buffer.alloc(5000, 0x72);
    const after = chunks(13, 4 * 1024 * 1024 + 99);
    const file = path.join(dir, 'raw.tar');
    const fd = fs.openSync(file, 'wx');
    try {
      const writer = new ArchiveFileWriter(fd, file);
      await writeAll(writer, before);
      await writer.flushed();
      if (loadNative().addon !== null) expect(openFlags(fd) & nativeConstants().O_DIRECT).toBe(0);
      // What splice with a null offset does: write at the descriptor's own offset.
      fs.writeSync(fd, raw);
      const directBefore = writer.directBytes;
      await writeAll(writer, after);
      await ended(writer);
      expect(fs.readFileSync(file).equals(Buffer.concat([...before, raw, ...after]))).toBe(true);
      // After the raw bytes one stage ends on the boundary, and the next whole ones go direct again.
      if (direct) expect(writer.directBytes - directBefore).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('copyIn puts pieces in the stages in stream order, and declines whenever that order would break', async () => {
    const parts = chunks(17, 12 * 1024 * 1024 + 321);
    const file = path.join(dir, 'copy-in.tar');
    const fd = fs.openSync(file, 'wx');
    try {
      const writer = new ArchiveFileWriter(fd, file);
      // A 5 MiB write fills all four stages and waits for a free one: a piece copied in now would overtake it (declined).
      const big = chunks(19, 5 * 1024 * 1024);
      const sent: Buffer[] = [...big];
      for (const b of big) writer.write(b);
      expect(writer.writableLength).toBeGreaterThan(0);
      expect(writer.copyIn(parts[0]!, 0, parts[0]!.length)).toBe(false);
      let copied = 0;
      let declined = 0;
      for (const [i, part] of parts.entries()) {
        sent.push(part);
        if (i % 3 !== 0 && writer.copyIn(part, 0, part.length)) copied++;
        else {
          if (i % 3 !== 0) declined++;
          if (!writer.write(part)) await new Promise((resolve) => writer.once('drain', resolve));
        }
      }
      expect(copied).toBeGreaterThan(0);
      expect(declined).toBeGreaterThan(0);
      // After flushed() the offset is the file's business (a raw writer may append): declined until the next write.
      await writer.flushed();
      expect(writer.copyIn(Buffer.from('x'), 0, 1)).toBe(false);
      await ended(writer);
      expect(writer.copyIn(Buffer.from('x'), 0, 1)).toBe(false);
      expect(fs.readFileSync(file).equals(Buffer.concat(sent))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
    // With an encoder every byte must pass it.
    const zfile = path.join(dir, 'copy-in.tar.zst');
    const zfd = fs.openSync(zfile, 'wx');
    try {
      const writer = new ArchiveFileWriter(zfd, zfile, zstdEncoder(3));
      expect(writer.copyIn(Buffer.from('abc'), 0, 3)).toBe(false);
      await ended(writer);
    } finally {
      fs.closeSync(zfd);
    }
  });

  it('writes everything buffered where O_DIRECT is refused (ramfs)', async (ctx) => {
    await withRamfs(ctx, async (mnt) => {
      expect(directOpens(mnt)).toBe(false);
      const parts = chunks(17, 3 * 1024 * 1024 + 5);
      const file = path.join(mnt, 'out.tar');
      const writer = await writeFile(file, parts);
      expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true);
      expect(writer.directBytes).toBe(0);
    });
  });

  it('fails with the write error (ENOSPC) and rejects flushed(), never hangs', async () => {
    const fd = fs.openSync('/dev/full', 'w');
    try {
      const writer = new ArchiveFileWriter(fd, '/dev/full');
      const failed = new Promise<Error>((resolve) => writer.once('error', resolve));
      writer.write(Buffer.alloc(3 * 1024 * 1024, 1));
      await expect(failed).resolves.toMatchObject({ code: 'ENOSPC' });
      await expect(writer.flushed()).rejects.toBeTruthy();
      expect(writer.destroyed).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });
});
