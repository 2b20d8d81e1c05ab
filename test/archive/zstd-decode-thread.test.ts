import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveInput } from '../../src/archive/input.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { decodeWorkerFile, decompressZstdInWorker } from '../../src/archive/zstd-decode-thread.js';
import { SafebakError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree } from '../helpers/tree.js';

// The zstd decoder on a worker thread, against the zstd CLI and the in-thread decoder.
let work: string;
let plain: Buffer;
/** Frames of plain, each compressed alone: the stream is their concatenation. */
let frames: Buffer[];
const zstd = (args: string[], input: Buffer): Buffer => execFileSync('zstd', ['-q', ...args], { input, maxBuffer: 1 << 28 });

beforeAll(() => {
  work = makeTempDir('decode-thread');
  // Random (incompressible), text and zero runs, about 9.5 MiB: more than the
  // ring holds, with frame ends that fall nowhere near a slot boundary.
  const text = Buffer.from('the quick brown fox jumps over the lazy dog, then over the fence\n'.repeat(40_000));
  plain = Buffer.concat([randomBytes(3_000_001), text, Buffer.alloc(2_500_003), randomBytes(1_500_007)]);
  const cuts = [0, 1_234_567, 4_000_000, 7_777_777, plain.length];
  frames = cuts.slice(1).map((end, i) => zstd(['--check', '-c'], plain.subarray(cuts[i]!, end)));
});
afterAll(() => removeDir(work));

function write(name: string, bytes: Buffer): string {
  const p = path.join(work, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Runs the worker decoder over a file, copying every chunk as a consumer must before asking for the next. */
async function decodeFile(file: string, slowEvery = 0): Promise<{ out: Buffer; chunks: number; maxChunk: number; error: unknown }> {
  const url = decodeWorkerFile();
  expect(url, 'dist/archive/zstd-decode-worker.js is built by the global setup').not.toBeNull();
  const fd = fs.openSync(file, 'r');
  const parts: Buffer[] = [];
  let maxChunk = 0;
  let error: unknown = null;
  try {
    let n = 0;
    for await (const chunk of decompressZstdInWorker(fd, file, url!).chunks) {
      // A slow consumer, holding its chunk: the worker fills every other slot and must wait for this one.
      if (slowEvery > 0 && ++n % slowEvery === 0) await sleep(15);
      parts.push(Buffer.from(chunk));
      maxChunk = Math.max(maxChunk, chunk.length);
    }
  } catch (err) {
    error = err;
  } finally {
    fs.closeSync(fd);
  }
  return { out: Buffer.concat(parts), chunks: parts.length, maxChunk, error };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('decoding on a worker thread', () => {
  it('gives the bytes the zstd CLI gives, across frames and reused slots', async () => {
    const file = write('multi.zst', Buffer.concat(frames));
    expect(sha(zstd(['-d', '-c'], fs.readFileSync(file)))).toBe(sha(plain));
    const r = await decodeFile(file);
    expect(r.error).toBeNull();
    expect(r.out.length).toBe(plain.length);
    expect(sha(r.out)).toBe(sha(plain));
    // Bounded pieces, and more of them than the ring has slots: slots were reused.
    expect(r.maxChunk).toBeLessThanOrEqual(1024 * 1024);
    expect(r.chunks).toBeGreaterThan(4);
  });

  it('a slow consumer, which keeps the ring full, still gets every byte in order', async () => {
    const file = write('slow.zst', Buffer.concat(frames));
    const r = await decodeFile(file, 2);
    expect(r.error).toBeNull();
    expect(sha(r.out)).toBe(sha(plain));
  });

  it('a damaged frame in the middle: the frames before it arrive whole, then SAFEBAK_ARCHIVE_CORRUPT', async () => {
    const bad = Buffer.from(frames[2]!);
    bad[Math.floor(bad.length / 2)]! ^= 0x10;
    const file = write('bad-middle.zst', Buffer.concat([frames[0]!, frames[1]!, bad, frames[3]!]));
    const r = await decodeFile(file);
    expect(r.error).toBeInstanceOf(SafebakError);
    expect((r.error as SafebakError).code).toBe('SAFEBAK_ARCHIVE_CORRUPT');
    expect((r.error as Error).message).toMatch(/zstd compression layer is damaged/);
    // Everything before the damaged frame was delivered, and it was right.
    expect(r.out.length).toBeGreaterThanOrEqual(4_000_000);
    expect(sha(r.out.subarray(0, 4_000_000))).toBe(sha(plain.subarray(0, 4_000_000)));
  });

  it('a stream cut inside a frame: SAFEBAK_ARCHIVE_CORRUPT, ends inside a frame', async () => {
    const whole = Buffer.concat(frames);
    const file = write('cut.zst', whole.subarray(0, whole.length - frames[3]!.length / 2));
    const r = await decodeFile(file);
    expect((r.error as SafebakError).code).toBe('SAFEBAK_ARCHIVE_CORRUPT');
    expect((r.error as Error).message).toMatch(/ends inside a frame/);
  });

  it('through openArchiveInput, with the thread and without: the same bytes, the same error', async () => {
    const damaged = Buffer.from(frames[1]!);
    damaged[100]! ^= 0x01;
    const inputs = [write('same-good.zst', Buffer.concat(frames)), write('same-bad.zst', Buffer.concat([frames[0]!, damaged, frames[2]!]))];
    const read = async (file: string, mode: '0' | '1'): Promise<{ bytes: Buffer; length: number; error: string | null }> => {
      const before = process.env['SAFEBAK_DECODE_THREAD'];
      process.env['SAFEBAK_DECODE_THREAD'] = mode;
      const input = await openArchiveInput(file, file);
      if (before === undefined) delete process.env['SAFEBAK_DECODE_THREAD'];
      else process.env['SAFEBAK_DECODE_THREAD'] = before;
      const parts: Buffer[] = [];
      let error: string | null = null;
      try {
        for await (const chunk of input.chunks) parts.push(Buffer.from(chunk));
      } catch (err) {
        error = `${(err as SafebakError).code}: ${(err as Error).message}`;
      } finally {
        input.close();
      }
      expect(input.compression).toBe('zstd');
      const bytes = Buffer.concat(parts);
      return { bytes, length: bytes.length, error };
    };
    const good = { threaded: await read(inputs[0]!, '1'), inline: await read(inputs[0]!, '0') };
    expect(good.threaded.error).toBeNull();
    expect(good.inline.error).toBeNull();
    expect(sha(good.threaded.bytes)).toBe(sha(plain));
    expect(sha(good.inline.bytes)).toBe(sha(plain));
    // Damaged: the same error; each delivers the intact frame before it, and the
    // decoded bytes agree as far as both go (where inside the damaged frame the
    // decoder stops depends on its output room per call).
    const bad = { threaded: await read(inputs[1]!, '1'), inline: await read(inputs[1]!, '0') };
    expect(bad.threaded.error).toMatch(/^SAFEBAK_ARCHIVE_CORRUPT: the zstd compression layer is damaged/);
    expect(bad.threaded.error).toBe(bad.inline.error);
    for (const r of [bad.threaded, bad.inline]) expect(r.length).toBeGreaterThanOrEqual(1_234_567);
    const common = Math.min(bad.threaded.length, bad.inline.length);
    expect(sha(bad.threaded.bytes.subarray(0, common))).toBe(sha(bad.inline.bytes.subarray(0, common)));
    expect(sha(bad.threaded.bytes.subarray(0, 1_234_567))).toBe(sha(plain.subarray(0, 1_234_567)));
  });
});

describe('hashing ahead on the decoding thread', () => {
  let tarFile: string;
  let tar: Buffer;
  /** Where each entry's data lies in the tar stream, as the TarParser finds it. */
  let ranges: { at: number; length: number }[];
  beforeAll(() => {
    const files: Record<string, Buffer> = {};
    // 3,000 files of 0–4 KiB: several slots' worth, entries cut anywhere by slot boundaries.
    for (let i = 0; i < 3000; i++) files[`f${i}`] = randomBytes((i * 1399) % 4097);
    buildTree(path.join(work, 'many'), { tree: files });
    tar = execFileSync('tar', ['-cf', '-', '--format=pax', '-C', path.join(work, 'many'), 'tree'], { maxBuffer: 1 << 26 });
    tarFile = write('many.tar.zst', zstd(['--check', '-c'], tar));
    ranges = [];
    let first = false;
    const parser = new TarParser({
      entry: () => {
        first = true;
      },
      data: (chunk, offset) => {
        if (first) ranges.push({ at: offset, length: chunk.length });
        else ranges[ranges.length - 1]!.length += chunk.length;
        first = false;
      },
      entryEnd: () => {},
    });
    parser.push(tar);
    expect(ranges.length).toBe(2999); // f0 is empty
  });

  /** Decodes with hashing ahead in `mode`; asks for every range that lies in the chunk handed out. */
  async function takeAll(mode: 'all' | 'none'): Promise<{ taken: number; wrong: string[]; offByOne: number }> {
    const before = process.env['SAFEBAK_DECODE_HASH'];
    process.env['SAFEBAK_DECODE_HASH'] = mode;
    const fd = fs.openSync(tarFile, 'r');
    let taken = 0;
    let offByOne = 0;
    const wrong: string[] = [];
    try {
      const { chunks, digests } = decompressZstdInWorker(fd, tarFile, decodeWorkerFile()!, true);
      let start = 0;
      for await (const chunk of chunks) {
        const end = start + chunk.length;
        for (const r of ranges) {
          if (r.at < start || r.at + r.length > end) continue;
          // A range one byte off is never answered.
          if (digests.take(r.at, r.length + 1) !== null) offByOne++;
          const digest = digests.take(r.at, r.length);
          if (digest === null) continue;
          taken++;
          if (digest !== sha(tar.subarray(r.at, r.at + r.length))) wrong.push(`${r.at}+${r.length}`);
        }
        start = end;
      }
      expect(start).toBe(tar.length);
    } finally {
      fs.closeSync(fd);
      if (before === undefined) delete process.env['SAFEBAK_DECODE_HASH'];
      else process.env['SAFEBAK_DECODE_HASH'] = before;
    }
    return { taken, wrong, offByOne };
  }

  it('every file that lies wholly in a chunk comes with the SHA-256 of exactly its bytes', async () => {
    const r = await takeAll('all');
    expect(r.wrong).toEqual([]);
    expect(r.offByOne).toBe(0);
    // All but the few files cut by a slot boundary.
    expect(r.taken).toBeGreaterThan(2999 - Math.ceil(tar.length / 2 ** 20) - 1);
  });

  it('SAFEBAK_DECODE_HASH=none: nothing is hashed ahead', async () => {
    expect(await takeAll('none')).toEqual({ taken: 0, wrong: [], offByOne: 0 });
  });
});
