import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK, encodeHeader, padded, writeChecksum } from '../../src/archive/tar-header.js';
import type { TarHeader } from '../../src/archive/tar-header.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { TarWalk } from '../../src/archive/tar-walk.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree, hardlink, symlink } from '../helpers/tree.js';

// The walk the decoding thread makes to hash files ahead of verify's parser:
// wherever it reports an entry's data, the TarParser must find exactly that.

interface Range {
  at: number;
  length: number;
}

/** Where the TarParser finds each entry's data (entries that carry some). */
function parserRanges(tar: Buffer): Range[] {
  const out: Range[] = [];
  let first = true;
  const parser = new TarParser({
    entry: () => {
      first = true;
    },
    data: (chunk, offset) => {
      if (first) out.push({ at: offset, length: 0 });
      first = false;
      out[out.length - 1]!.length += chunk.length;
    },
    entryEnd: () => {},
  });
  parser.push(tar);
  return out;
}

/** What the walk reports, the stream fed to it in pieces of `piece` bytes. */
function walkRanges(tar: Buffer, piece: number): { found: Range[]; stopped: boolean } {
  const walk = new TarWalk();
  const found: Range[] = [];
  for (let start = 0; start < tar.length; start += piece) {
    walk.scan(tar.subarray(start, start + piece), start, (at, length) => found.push({ at, length }));
  }
  return { found, stopped: walk.stopped };
}

/** The parser's ranges that lie wholly inside one piece: exactly what the walk must report. */
function expected(ranges: Range[], piece: number): Range[] {
  return ranges.filter((r) => Math.floor(r.at / piece) === Math.floor((r.at + r.length - 1) / piece));
}

const PIECES = [BLOCK, 4096, 64 * 1024, 1024 * 1024, 1 << 30];

function header(h: Partial<TarHeader> & { name: string }): Buffer {
  return encodeHeader({ type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtimeSec: 1_700_000_000, mtimeNsec: 0, ...h });
}

/** An extended header block of typeflag `flag` ('x', 'g', 'L') with its body, padded. */
function extended(flag: string, body: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const block = header({ name: 'ext', size: bytes.length });
  block[156] = flag.charCodeAt(0);
  writeChecksum(block);
  return Buffer.concat([block, bytes, Buffer.alloc(padded(bytes.length) - bytes.length)]);
}

const record = (key: string, value: string): string => {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return `${len}${body}`;
};

const data = (n: number): Buffer => Buffer.concat([randomBytes(n), Buffer.alloc(padded(n) - n)]);
const END = Buffer.alloc(2 * BLOCK);

let work: string;
beforeAll(() => {
  work = makeTempDir('tar-walk');
  const tree: Record<string, unknown> = {
    'empty.txt': '',
    'one.txt': 'x',
    'block.bin': randomBytes(512),
    'big.bin': randomBytes(3 * 1024 * 1024 + 17),
    [`${'long-directory-name-'.repeat(4)}/${'and-a-long-file-name-'.repeat(4)}.txt`]: 'deep\n',
    sub: { 'a.txt': 'a\n'.repeat(3000), 'b.bin': randomBytes(70_000) },
    'link-to-one': symlink('one.txt'),
    'far-link': symlink(`${'t'.repeat(150)}/target`),
    'hard-to-one': hardlink('one.txt'),
  };
  for (let i = 0; i < 300; i++) tree[`f${i}.txt`] = `${i} `.repeat(i * 7);
  buildTree(path.join(work, 'src'), tree as Parameters<typeof buildTree>[1]);
});
afterAll(() => removeDir(work));

describe('TarWalk against the TarParser', () => {
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`GNU tar --format=${format}: every range the walk reports is the parser's, and it misses none in a piece`, () => {
      const args = ['-cf', '-', `--format=${format}`, '-C', path.join(work, 'src')];
      // ustar cannot hold the long names; the rest of the tree it can.
      const names = format === 'ustar' ? ['empty.txt', 'one.txt', 'block.bin', 'big.bin', 'sub', 'link-to-one', 'hard-to-one'] : ['.'];
      const tar = execFileSync('tar', [...args, ...names], { maxBuffer: 1 << 26 });
      const ranges = parserRanges(tar);
      expect(ranges.length).toBeGreaterThanOrEqual(5);
      for (const piece of PIECES) {
        const { found, stopped } = walkRanges(tar, piece);
        expect(found, `pieces of ${piece}`).toEqual(expected(ranges, piece));
        // It stops at the end-of-archive marker, not before.
        expect(stopped).toBe(true);
      }
    });
  }

  it('pax size, path and sparse keys, global headers, GNU long names and old-style directories move the walk as they move the parser', () => {
    const tar = Buffer.concat([
      // A pax size overrides the header's (writers put 0 there for sizes beyond 8 GiB).
      extended('x', record('size', '3000') + record('mtime', '1700000000.5')),
      header({ name: 'pax-sized.bin', size: 0 }),
      data(3000),
      // A global header that says nothing about sizes is skipped over.
      extended('g', record('comment', 'made by hand')),
      header({ name: 'after-global.txt', size: 10 }),
      data(10),
      // A regular-file flag with a trailing slash is an old-style directory: no data, whatever its size field.
      header({ name: 'old-dir/', size: 700 }),
      // The same through a pax path and a GNU long name.
      extended('x', record('path', 'pax-dir/')),
      header({ name: 'placeholder', size: 900 }),
      extended('L', 'gnu-long-dir/\0'),
      header({ name: 'placeholder', size: 1100 }),
      // A sparse file carries data whatever its name says.
      extended('x', record('GNU.sparse.major', '1') + record('GNU.sparse.minor', '0') + record('path', 'sparse-dir/')),
      header({ name: 'sparse', size: 1024 }),
      data(1024),
      header({ name: 'last.bin', size: 5000 }),
      data(5000),
      END,
    ]);
    const ranges = parserRanges(tar);
    expect(ranges.map((r) => r.length)).toEqual([3000, 10, 1024, 5000]);
    for (const piece of PIECES) expect(walkRanges(tar, piece).found, `pieces of ${piece}`).toEqual(expected(ranges, piece));
  });

  it('an extended header that straddles two pieces is gathered across them', () => {
    const long = 'd/'.repeat(400) + 'file.txt';
    const tar = Buffer.concat([header({ name: 'pad.bin', size: 1024 - BLOCK }), data(1024 - BLOCK), extended('x', record('path', long) + record('size', '600')), header({ name: 'x', size: 0 }), data(600), END]);
    const ranges = parserRanges(tar);
    expect(ranges).toEqual([{ at: BLOCK, length: 512 }, { at: tar.length - END.length - padded(600), length: 600 }]);
    expect(walkRanges(tar, 1024).found).toEqual(expected(ranges, 1024));
    expect(walkRanges(tar, BLOCK).found).toEqual(expected(ranges, BLOCK));
  });
});

describe('TarWalk on damaged or foreign streams', () => {
  it('a damaged header stops the walk: nothing after it is reported, and it never throws', () => {
    const good = Buffer.concat([header({ name: 'a.bin', size: 2000 }), data(2000), header({ name: 'b.bin', size: 3000 }), data(3000)]);
    const damaged = Buffer.concat([good, Buffer.from(good)]);
    // The third header's magic is gone: the walk cannot tell where its data ends.
    damaged.write('xxxxx', good.length + 257, 'latin1');
    for (const piece of PIECES) {
      const { found, stopped } = walkRanges(damaged, piece);
      expect(stopped).toBe(true);
      expect(found.every((r) => r.at + r.length <= good.length)).toBe(true);
    }
    expect(walkRanges(damaged, 1 << 20).found).toEqual([{ at: BLOCK, length: 2000 }, { at: BLOCK + padded(2000) + BLOCK, length: 3000 }]);
  });

  it('malformed numbers and pax records stop it', () => {
    const badSize = header({ name: 'a.bin', size: 100 });
    badSize.write('12345678x   ', 124, 'latin1');
    writeChecksum(badSize);
    expect(walkRanges(Buffer.concat([badSize, data(100), END]), 1 << 20)).toEqual({ found: [], stopped: true });
    for (const body of ['8 size=1\n', 'abc size=1\n', '11 size=-5\n', '8 nokey\n', record('size', '9'.repeat(20))]) {
      const tar = Buffer.concat([extended('x', body), header({ name: 'b.bin', size: 100 }), data(100), END]);
      expect(walkRanges(tar, 1 << 20), JSON.stringify(body)).toEqual({ found: [], stopped: true });
    }
  });

  it('random bytes are not followed at all', () => {
    for (let i = 0; i < 20; i++) expect(walkRanges(randomBytes(64 * 1024), 4096)).toEqual({ found: [], stopped: true });
  });
});
