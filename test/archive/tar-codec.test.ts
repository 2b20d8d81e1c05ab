import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK, encodeHeader, formatPaxTime, padded, writeChecksum } from '../../src/archive/tar-header.js';
import type { TarHeader } from '../../src/archive/tar-header.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import type { ParsedEntry } from '../../src/archive/tar-parser.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * Parses a whole tar stream, fed in chunks of `chunk` bytes; `copied`: each
 * chunk in a buffer of its own, as a reader hands them out (so that where a
 * block starts in memory does not follow where it starts in the stream).
 */
function parseAll(bytes: Buffer, chunk = bytes.length, copied = false): { entries: ParsedEntry[]; data: Buffer[] } {
  const entries: ParsedEntry[] = [];
  const data: Buffer[] = [];
  let parts: Buffer[] = [];
  const parser = new TarParser({
    entry: (e) => {
      entries.push(e);
      parts = [];
    },
    data: (c) => parts.push(Buffer.from(c)),
    entryEnd: () => data.push(Buffer.concat(parts)),
  });
  for (let i = 0; i < bytes.length; i += chunk) parser.push(copied ? Buffer.from(bytes.subarray(i, i + chunk)) : bytes.subarray(i, i + chunk));
  parser.end();
  return { entries, data };
}

/** A tar stream of header + data for each entry, then the end marker. */
function tarOf(items: { h: TarHeader; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { h, data } of items) {
    parts.push(encodeHeader(h));
    if (data && data.length > 0) parts.push(data, Buffer.alloc(padded(data.length) - data.length));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

const base: TarHeader = { name: 'x', type: 'file', size: 0, mode: 0o644, uid: 1000, gid: 1000, mtimeSec: 1_700_000_000, mtimeNsec: 0 };

function nameOfLength(n: number, slashEvery = 40): string {
  let s = '';
  while (s.length < n) s += s.length > 0 && s.length % slashEvery === 0 && s.length < n - 1 ? '/' : 'a';
  return s;
}

describe('tar header encoding round-trips through the parser', () => {
  const lengths = [1, 99, 100, 101, 155, 156, 254, 255, 256, 257, 300, 1000, 4000];
  for (const n of lengths) {
    for (const slashes of [true, false]) {
      it(`name of ${n} bytes${slashes ? ' with slashes' : ' without a slash'}`, () => {
        const name = slashes ? nameOfLength(n) : 'b'.repeat(n);
        expect(name.length).toBe(n);
        const { entries } = parseAll(tarOf([{ h: { ...base, name } }]));
        expect(entries[0]!.name).toBe(name);
      });
    }
  }

  it('a 100-byte name fits the ustar field, a 101-byte one a prefix split, a 101-byte slashless one pax', () => {
    expect(encodeHeader({ ...base, name: 'a'.repeat(100) }).length).toBe(BLOCK);
    expect(encodeHeader({ ...base, name: 'p'.repeat(50) + '/' + 'a'.repeat(50) }).length).toBe(BLOCK);
    expect(encodeHeader({ ...base, name: 'a'.repeat(101) }).length).toBeGreaterThan(BLOCK);
  });

  it('non-ASCII names and link targets go through pax as UTF-8', () => {
    const items = [
      { h: { ...base, name: 'héllo wörld ✓.txt' } },
      { h: { ...base, name: '日本語/ファイル', type: 'dir' as const } },
      { h: { ...base, name: 'lnk', type: 'symlink' as const, linkTarget: 'ziel-ü' } },
      { h: { ...base, name: 'emoji-😀', type: 'hardlink' as const, linkTarget: 'héllo wörld ✓.txt' } },
    ];
    const { entries } = parseAll(tarOf(items));
    expect(entries.map((e) => e.name)).toEqual(['héllo wörld ✓.txt', '日本語/ファイル/', 'lnk', 'emoji-😀']);
    expect(entries.map((e) => e.linkTarget)).toEqual([undefined, undefined, 'ziel-ü', 'héllo wörld ✓.txt']);
  });

  it('sizes above 8 GiB survive (header only; the parser reports the size)', () => {
    const size = 9 * 1024 ** 3 + 7;
    const header = encodeHeader({ ...base, size });
    // Feed just the header: the parser must announce the entry with its size before any data.
    const seen: ParsedEntry[] = [];
    const parser = new TarParser({ entry: (e) => seen.push(e), data: () => {}, entryEnd: () => {} });
    parser.push(header);
    expect(seen[0]!.size).toBe(size);
    // GNU tar and pax readers take the pax size; the ustar field carries base-256 as well.
    expect(header.toString('latin1')).toContain(` size=${size}\n`);
  });

  it('base-256 size fields are read', () => {
    const h = encodeHeader({ ...base, size: 0 });
    h[124] = 0x80;
    h.fill(0, 125, 136);
    h.writeUIntBE(2 ** 40, 130, 6);
    writeChecksum(h);
    const seen: ParsedEntry[] = [];
    new TarParser({ entry: (e) => seen.push(e), data: () => {}, entryEnd: () => {} }).push(h);
    expect(seen[0]!.size).toBe(2 ** 40);
  });

  describe('header checksums', () => {
    // A name with bytes above 127 (UTF-8 é) in the ustar field makes the signed and unsigned sums differ.
    const header = (): Buffer => {
      const h = encodeHeader({ ...base, name: 'placeholder' });
      expect(h.length).toBe(BLOCK);
      h.fill(0, 0, 100);
      h.write('caf\u00e9-\u00e9t\u00e9', 0, 'utf8');
      return h;
    };
    const parse = (h: Buffer): ParsedEntry[] => {
      const seen: ParsedEntry[] = [];
      new TarParser({ entry: (e) => seen.push(e), data: () => {}, entryEnd: () => {} }).push(h);
      return seen;
    };
    const writeSum = (h: Buffer, sum: number): void => {
      h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
      h[154] = 0;
      h[155] = 0x20;
    };
    const sums = (h: Buffer): { unsigned: number; signed: number } => {
      let unsigned = 0;
      let signed = 0;
      for (let i = 0; i < BLOCK; i++) {
        const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
        unsigned += b;
        signed += b > 127 ? b - 256 : b;
      }
      return { unsigned, signed };
    };

    it('the unsigned sum (what POSIX and GNU tar write) is accepted', () => {
      const h = header();
      expect(sums(h).signed).not.toBe(sums(h).unsigned);
      writeSum(h, sums(h).unsigned);
      expect(parse(h)[0]!.name).toBe('caf\u00e9-\u00e9t\u00e9');
    });

    it('the signed sum some old tars wrote is accepted', () => {
      const h = header();
      writeSum(h, sums(h).signed);
      expect(parse(h)[0]!.name).toBe('caf\u00e9-\u00e9t\u00e9');
    });

    it('a sum off by one either way, or by 256, is a damaged header', () => {
      for (const delta of [-1, 1, 256, -256]) {
        const h = header();
        writeSum(h, sums(h).unsigned + delta);
        expect(() => parse(h)).toThrow(/header checksum mismatch/);
      }
    });

    it('all bytes 0xff: both sums are right at their extremes (the checksum passes, the format check fails)', () => {
      const h = Buffer.alloc(BLOCK, 0xff);
      for (const sum of [sums(h).unsigned, sums(h).signed]) {
        if (sum < 0) continue; // a negative sum has no octal field
        writeSum(h, sum);
        expect(() => parse(h)).toThrow(/unknown header format/);
      }
      writeSum(h, sums(h).unsigned - 1);
      expect(() => parse(h)).toThrow(/header checksum mismatch/);
    });

    it('a flipped bit anywhere in the header, checksum field included, is caught', () => {
      const good = header();
      for (let at = 0; at < BLOCK; at += 7) {
        const h = Buffer.from(good);
        h[at] = h[at]! ^ 0x04;
        expect(() => parse(h), `byte ${at}`).toThrow(/damaged|not a tar archive/);
      }
    });
  });

  const times: [number, number][] = [
    [0, 0],
    [1_700_000_000, 123_456_789],
    [1_700_000_000, 1],
    [1_700_000_000, 999_999_999],
    [-1, 0],
    [-1, 500_000_000],
    [-2, 750_000_000],
    [-86_400 * 365 * 50, 42],
    [2 ** 33 + 5, 0],
    [2 ** 40, 100],
  ];
  for (const [sec, nsec] of times) {
    it(`mtime ${sec}.${String(nsec).padStart(9, '0')} round-trips`, () => {
      const { entries } = parseAll(tarOf([{ h: { ...base, mtimeSec: sec, mtimeNsec: nsec } }]));
      expect([entries[0]!.mtimeSec, entries[0]!.mtimeNsec]).toEqual([sec, nsec]);
    });
  }

  it('pax times are written as GNU tar writes them', () => {
    expect(formatPaxTime(1_700_000_000, 123_456_789)).toBe('1700000000.123456789');
    expect(formatPaxTime(1_700_000_000, 500_000_000)).toBe('1700000000.5');
    expect(formatPaxTime(-2, 750_000_000)).toBe('-1.25');
  });

  it('uids and gids beyond the octal field go to pax', () => {
    const { entries } = parseAll(tarOf([{ h: { ...base, uid: 2 ** 31, gid: 4_000_000_000 } }]));
    expect([entries[0]!.uid, entries[0]!.gid]).toEqual([2 ** 31, 4_000_000_000]);
  });

  it('device numbers and fifo, dir, symlink, hard link types round-trip', () => {
    const items: { h: TarHeader; data?: Buffer }[] = [
      { h: { ...base, name: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3 } },
      { h: { ...base, name: 'dev/sda', type: 'blockdev', devmajor: 8, devminor: 0 } },
      { h: { ...base, name: 'p', type: 'fifo' } },
      { h: { ...base, name: 'd', type: 'dir' } },
      { h: { ...base, name: 'f', size: 3 }, data: Buffer.from('abc') },
      { h: { ...base, name: 's', type: 'symlink', linkTarget: '../f' } },
      { h: { ...base, name: 'h', type: 'hardlink', linkTarget: 'f' } },
    ];
    const { entries, data } = parseAll(tarOf(items));
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['dev/null', 'chardev'],
      ['dev/sda', 'blockdev'],
      ['p', 'fifo'],
      ['d/', 'dir'],
      ['f', 'file'],
      ['s', 'symlink'],
      ['h', 'hardlink'],
    ]);
    expect([entries[0]!.devmajor, entries[0]!.devminor, entries[1]!.devmajor]).toEqual([1, 3, 8]);
    expect(data[4]!.toString()).toBe('abc');
  });
});

describe('the parser fed one byte at a time gives the same result', () => {
  it('for a mixed archive with pax headers and data of every padding', () => {
    const items: { h: TarHeader; data?: Buffer }[] = [];
    for (let i = 0; i < 12; i++) {
      const size = [0, 1, 511, 512, 513, 1023, 1024, 1025, 3000, 10, 100, 7][i]!;
      const data = Buffer.alloc(size, 0x61 + i);
      items.push({ h: { ...base, name: `${'dir/'.repeat(i * 8)}f${i}-é`, size, mtimeNsec: i * 1000 + 1 }, data });
    }
    const bytes = tarOf(items);
    const whole = parseAll(bytes);
    // 1026 and 4097 put whole header blocks at every offset modulo 4 inside a chunk, read in place or not.
    for (const chunk of [1, 7, 511, 512, 513, 1026, 4097]) {
      for (const copied of [false, true]) {
        const chunked = parseAll(bytes, chunk, copied);
        expect(chunked.entries).toEqual(whole.entries);
        expect(chunked.data).toEqual(whole.data);
      }
    }
    // The same bytes in memory that does not start on a word.
    const shifted = Buffer.alloc(bytes.length + 1).subarray(1);
    bytes.copy(shifted);
    expect(parseAll(shifted)).toEqual(whole);
    expect(parseAll(shifted, 1026)).toEqual(whole);
    expect(whole.data.map((d) => d.length)).toEqual([0, 1, 511, 512, 513, 1023, 1024, 1025, 3000, 10, 100, 7]);
  });

  it('for an archive GNU tar wrote', () => {
    const dir = makeTempDir('gnutar-chunks');
    try {
      fs.mkdirSync(path.join(dir, 'src/' + 'long'.repeat(40)), { recursive: true });
      fs.writeFileSync(path.join(dir, 'src/' + 'long'.repeat(40) + '/file-ñ'), 'x'.repeat(777));
      fs.symlinkSync('file', path.join(dir, 'src/link'));
      for (const format of ['gnu', 'pax', 'ustar']) {
        const archive = path.join(dir, `${format}.tar`);
        try {
          execFileSync('tar', ['--format', format, '-cf', archive, '-C', dir, 'src'], { stdio: 'ignore' });
        } catch {
          // ustar cannot hold the 160-byte component; the other two formats are the point.
          continue;
        }
        const bytes = fs.readFileSync(archive);
        const whole = parseAll(bytes);
        expect(whole.entries.some((e) => e.name.endsWith('/file-ñ')), format).toBe(true);
        expect(parseAll(bytes, 1)).toEqual(whole);
      }
    } finally {
      removeDir(dir);
    }
  });
});

describe('header bytes match GNU tar for the same metadata', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTempDir('gnutar-bytes');
  });
  afterAll(() => removeDir(dir));

  /** GNU tar's header block(s) for one path, with the pax header's variable parts pinned. */
  function gnuHeader(name: string, args: string[]): Buffer {
    const archive = path.join(dir, 'g.tar');
    execFileSync(
      'tar',
      ['--format=posix', '--pax-option=exthdr.name=PaxHeaders/%f,delete=atime,delete=ctime', '--numeric-owner', '--owner=1000', '--group=1000', '--no-recursion', '-cf', archive, '-C', dir, ...args, name],
      { stdio: 'ignore' },
    );
    return fs.readFileSync(archive);
  }

  it('a plain file with whole-second mtime: one ustar block, byte for byte', () => {
    fs.writeFileSync(path.join(dir, 'plain'), 'hello');
    execFileSync('touch', ['-d', '@1700000000', path.join(dir, 'plain')]);
    fs.chmodSync(path.join(dir, 'plain'), 0o640);
    const gnu = gnuHeader('plain', []);
    const ours = encodeHeader({ name: 'plain', type: 'file', size: 5, mode: 0o640, uid: 1000, gid: 1000, mtimeSec: 1_700_000_000, mtimeNsec: 0 });
    // GNU tar also fills uname/gname (265–328) and writes "0000000" device numbers (329–344)
    // for a regular file, where we leave NULs; every other byte must be the same.
    const g = Buffer.from(gnu.subarray(0, BLOCK));
    expect(g.subarray(0, 148)).toEqual(ours.subarray(0, 148));
    expect(g.subarray(156, 265)).toEqual(ours.subarray(156, 265));
    expect(g.subarray(345, BLOCK)).toEqual(ours.subarray(345, BLOCK));
  });

  it('a file with a nanosecond mtime: the same pax records as GNU tar', () => {
    fs.writeFileSync(path.join(dir, 'nano'), 'x');
    execFileSync('touch', ['-d', '@1700000000.123456789', path.join(dir, 'nano')]);
    const gnu = gnuHeader('nano', []);
    const ours = encodeHeader({ name: 'nano', type: 'file', size: 1, mode: 0o644, uid: 1000, gid: 1000, mtimeSec: 1_700_000_000, mtimeNsec: 123_456_789 });
    expect(String.fromCharCode(gnu[156]!)).toBe('x');
    expect(String.fromCharCode(ours[156]!)).toBe('x');
    const gnuPax = gnu.toString('utf8', BLOCK, BLOCK + Number.parseInt(gnu.toString('latin1', 124, 135), 8));
    const oursPax = ours.toString('utf8', BLOCK, BLOCK + Number.parseInt(ours.toString('latin1', 124, 135), 8));
    expect(oursPax).toBe(gnuPax);
  });

  it('a long path: the same pax path record as GNU tar', () => {
    const name = 'z'.repeat(120) + '/' + 'y'.repeat(150);
    fs.mkdirSync(path.join(dir, 'z'.repeat(120)));
    fs.writeFileSync(path.join(dir, name), '');
    execFileSync('touch', ['-d', '@1700000000', path.join(dir, name)]);
    const gnu = gnuHeader(name, []);
    const ours = encodeHeader({ name, type: 'file', size: 0, mode: 0o644, uid: 1000, gid: 1000, mtimeSec: 1_700_000_000, mtimeNsec: 0 });
    const paxOf = (b: Buffer): string => b.toString('utf8', BLOCK, BLOCK + Number.parseInt(b.toString('latin1', 124, 135), 8));
    expect(paxOf(ours)).toBe(paxOf(gnu));
  });
});
