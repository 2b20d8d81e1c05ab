import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeHeader, padded } from '../../src/archive/tar-header.js';
import type { TarHeader } from '../../src/archive/tar-header.js';
import { readSmallFiles, releaseEntries } from '../../src/native/batch.js';
import type { SmallFileRead } from '../../src/native/batch.js';
import { loadNative } from '../../src/native/native.js';
import { metadataChanges } from '../../src/transfer/stability.js';
import { startWriter } from '../helpers/concurrent-writer.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { nativeMissing } from './native-available.js';

const OPTIONS = { maxBytes: 1024 * 1024, lease: false, paranoid: false, recentSeconds: 0 };

/** What the TS writer puts in the archive for this read under `name`: header blocks, data, padding. */
function tsEntry(read: SmallFileRead, name: string, data: Buffer): Buffer {
  const ns = read.before.mtimeNs;
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  const h: TarHeader = {
    name,
    type: 'file',
    size: read.length,
    mode: Number(read.before.mode & 0o7777n),
    uid: Number(read.before.uid),
    gid: Number(read.before.gid),
    mtimeSec: Number(sec),
    mtimeNsec: Number(nsec),
  };
  const body = Buffer.alloc(padded(data.length));
  data.copy(body);
  return Buffer.concat([encodeHeader(h), body]);
}

function entryOf(read: SmallFileRead): Buffer {
  return read.entries.subarray(read.entryStart, read.entryEnd);
}

/** Names that take every branch of the ustar/pax encoder: splits, stand-ins, UTF-16 surrogates. */
const NAMES = [
  'a',
  'dir/file.txt',
  'x'.repeat(100),
  'x'.repeat(101),
  `${'p'.repeat(155)}/${'n'.repeat(100)}`,
  `${'p'.repeat(156)}/${'n'.repeat(99)}`,
  `${'p'.repeat(154)}/${'n'.repeat(101)}`,
  `${'d/'.repeat(60)}end`,
  `${'d/'.repeat(128)}e`,
  'x'.repeat(300),
  'caf\u00e9/na\u00efve.txt',
  '\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb',
  'emoji/\u{1f600}\u{1f4a9}.txt',
  `${'\u{1f600}'.repeat(60)}/tail`,
  'ctl/\x01\x1f\x7f\ttab',
  'lone/\ud800surrogate',
  'trailing/\u00e9',
  `${'\u00e9'.repeat(120)}`,
];

/** A seeded mix of the awkward characters, at every length up to past the ustar limits. */
function fuzzNames(count: number): string[] {
  const alphabet = ['a', 'b', '/', '.', '\u00e9', '\u{1f600}', '\x7f', ' ', '\u4e2d'];
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = 1 + next(300);
    let s = '';
    for (let k = 0; k < len; k++) s += alphabet[next(alphabet.length)];
    out.push(s);
  }
  return out;
}

describe.skipIf(nativeMissing)('readSmallFiles encodes tar entries byte for byte as the TS encoder', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTempDir('native-header');
  });
  afterAll(() => removeDir(dir));

  /** One file with this content and mtime, read under every name of `names`. */
  async function check(content: Buffer, mtime: [number, number], names: string[], uid?: number): Promise<SmallFileRead[]> {
    const path = join(dir, 'f');
    writeFileSync(path, content);
    if (uid !== undefined) chownSync(path, uid, uid + 1);
    loadNative().addon!.utimensat(path, mtime[0], mtime[1], true);
    const reads = (await readSmallFiles(
      names.map(() => path),
      names,
      OPTIONS,
    ))!;
    reads.forEach((read, i) => {
      expect(read.error).toBeUndefined();
      expect(read.length).toBe(content.length);
      expect(entryOf(read).equals(tsEntry(read, names[i]!, content)), `entry for ${JSON.stringify(names[i])}`).toBe(true);
    });
    return reads;
  }

  it('for long, split, non-ASCII, control-character and surrogate names', async () => {
    await check(Buffer.from('hello\n'), [1_700_000_000, 123_456_789], NAMES);
  });

  it('for seeded random names of up to 300 characters', async () => {
    await check(Buffer.from('x'.repeat(700)), [1_600_000_000, 5], fuzzNames(300));
  });

  it('for whole-second, nanosecond, pre-epoch and past-octal mtimes', async () => {
    const times: [number, number][] = [
      [1_700_000_000, 0],
      [1_700_000_000, 120_000_000],
      [1_700_000_000, 1],
      [-2, 750_000_000],
      [-5, 0],
      [0, 0],
      [9_000_000_000, 5],
      [0o77777777777, 0],
      [0o77777777777 + 1, 0],
    ];
    for (const t of times) {
      const [read] = await check(Buffer.from('t'), t, ['times/file', 'x'.repeat(120)]);
      // The stat really carries the time asked for, so the case is the one named.
      expect(read!.before.mtimeNs).toBe(BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]));
    }
  });

  it('for empty files, block-sized files and a file of one byte past a block', async () => {
    for (const size of [0, 511, 512, 513, 4096, 70_000]) {
      const content = Buffer.alloc(size, 0x61 + (size % 26));
      const [read] = await check(content, [1_700_000_000, 999_999_999], ['sizes/f']);
      expect(read!.entryEnd - read!.entryStart).toBe(1536 + padded(size));
    }
  });

  it.skipIf(process.getuid?.() !== 0)('for ids past the octal fields (pax uid and gid records)', async () => {
    for (const uid of [0o7777777 - 1, 0o7777777, 0o7777777 + 1, 3_000_000_000]) {
      await check(Buffer.from('ids'), [1_700_000_000, 0], ['ids/f', 'x'.repeat(150)], uid);
    }
  });

  it('lays out a batch of many files back to back, each entry at its own span', async () => {
    const paths: string[] = [];
    const names: string[] = [];
    const contents: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const content = Buffer.alloc(i * 97, String.fromCharCode(0x41 + (i % 26)));
      const path = join(dir, `batch-${i}`);
      writeFileSync(path, content);
      paths.push(path);
      names.push(`batch/${i}`);
      contents.push(content);
    }
    paths.splice(7, 0, join(dir, 'missing'));
    names.splice(7, 0, 'batch/missing');
    contents.splice(7, 0, Buffer.alloc(0));
    const reads = (await readSmallFiles(paths, names, OPTIONS))!;
    let at = 0;
    reads.forEach((read, i) => {
      if (i === 7) {
        expect(read.error?.code).toBe('ENOENT');
        return;
      }
      expect(read.entryStart).toBe(at);
      expect(entryOf(read).equals(tsEntry(read, names[i]!, contents[i]!))).toBe(true);
      at = read.entryEnd;
    });
    expect(reads[0]!.entries.length).toBe(at);
  });

  it('a released batch reads as empty (a stale view throws), and the batches that reuse its memory are still right', async () => {
    const path = join(dir, 'reuse');
    for (let round = 0; round < 20; round++) {
      const content = Buffer.alloc(1000 + round * 3000, 0x30 + round);
      writeFileSync(path, content);
      const names = Array.from({ length: 10 }, (_, i) => `round-${round}/${i}`);
      const reads = (await readSmallFiles(
        names.map(() => path),
        names,
        OPTIONS,
      ))!;
      reads.forEach((read, i) => expect(entryOf(read).equals(tsEntry(read, names[i]!, content))).toBe(true));
      const entries = reads[0]!.entries;
      expect(entries.length).toBeGreaterThan(0);
      releaseEntries(entries);
      expect(entries.length).toBe(0);
      expect(() => entryOf(reads[3]!)).toThrow(/detached/);
      // Give the release's finalizer its turn, so that the next round takes the block back.
      await new Promise((resolve) => setImmediate(resolve));
    }
  });

  it('refuses names that do not match the paths one to one', async () => {
    await expect(readSmallFiles(['/a', '/b'], ['a'], OPTIONS)).rejects.toThrow(/one to one/);
    const addon = loadNative().addon!;
    expect(() => addon.readSmallFiles(2, '/a\0/b', 'a', 1024, false, false, 0)).toThrow(/one name per file/);
    expect(() => addon.readSmallFiles(1, '/a\0/b', 'a', 1024, false, false, 0)).toThrow(/one name per file/);
    expect(() => addon.readSmallFiles(2, '/a\0/b', 'a\0b\0c', 1024, false, false, 0)).toThrow(/one name per file/);
    expect(() => addon.readSmallFiles(0, '', 'x', 1024, false, false, 0)).toThrow(/one name per file/);
  });

  it('flags a file rewritten during the batch: the moved bit agrees with the full stat comparison', async () => {
    const path = join(dir, 'live');
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x41));
    const writer = await startWriter('held', path, 64 * 1024, { chunk: 4096 });
    let moved = 0;
    let still = 0;
    try {
      const deadline = Date.now() + 5000;
      while ((moved === 0 || still === 0) && Date.now() < deadline) {
        const names = Array.from({ length: 64 }, (_, i) => `live/${i}`);
        const reads = (await readSmallFiles(
          names.map(() => path),
          names,
          { ...OPTIONS, recentSeconds: 5 },
        ))!;
        for (const read of reads) {
          expect(read.error).toBeUndefined();
          const changes = metadataChanges(read.before, read.after);
          expect(read.moved, JSON.stringify(changes)).toBe(changes.length > 0);
          if (read.moved) moved++;
          else still++;
        }
        releaseEntries(reads[0]!.entries);
      }
    } finally {
      await writer.stop();
    }
    // Both cases were seen, so the agreement above was tested both ways.
    expect(moved).toBeGreaterThan(0);
  });
});
