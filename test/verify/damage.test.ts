import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { padded } from '../../src/archive/tar-header.js';
import { createArchive, verifyArchive } from '../../src/index.js';
import { readEntries, tarBytesOf } from '../helpers/archive-bytes.js';
import type { EntryWithData } from '../helpers/archive-bytes.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { deleteSpanOf, flipBit, flipBitOf, truncateFile } from '../helpers/corrupt.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree } from '../helpers/tree.js';

// `safebak verify` exits 3 and names the damage (DESIGN §7, §8).
let work: string;
const zstd = (args: string[], input?: Buffer): Buffer => execFileSync('zstd', ['-q', ...args], { input, maxBuffer: 1 << 28 });

function copy(name: string, to: string): string {
  const p = path.join(work, to);
  fs.copyFileSync(path.join(work, name), p);
  return p;
}

function entryNamed(entries: EntryWithData[], name: string): EntryWithData {
  const e = entries.find((x) => x.entry.name === name);
  if (!e) throw new Error(`no entry ${name}`);
  return e;
}

/** The byte range an entry occupies in the tar stream: its headers, data and padding. */
function spanOf(e: EntryWithData): [number, number] {
  return [e.entry.offset, e.dataOffset + padded(e.data.length)];
}

beforeAll(async () => {
  work = makeTempDir('damage');
  const files: Record<string, string | Buffer> = {};
  for (let i = 0; i < 7; i++) files[`f${i}.dat`] = Buffer.alloc(3000 + i * 40_000, `payload ${i} `);
  buildTree(path.join(work, 'src'), { tree: { ...files, sub: { 'inner.txt': 'inner\n' } } });
  for (const [name, segmentEntries] of [
    ['one.tar', 10_000],
    ['one.tar.zst', 10_000],
    ['seg.tar', 2],
    ['seg.tar.zst', 2],
  ] as const) {
    const r = await createArchive({ sources: ['tree'], cwd: path.join(work, 'src'), output: path.join(work, name), segmentEntries });
    expect(r.status).toBe(0);
  }
});
afterAll(() => removeDir(work));

describe('intact archives', () => {
  for (const name of ['one.tar', 'one.tar.zst', 'seg.tar', 'seg.tar.zst']) {
    it(`${name} verifies with exit 0`, async () => {
      const r = await runCli(['verify', path.join(work, name)]);
      expect(r.stderr).toContain('intact');
      expect(r.status).toBe(0);
    });
  }

  it('seg.tar has several manifest segments', async () => {
    const v = await verifyArchive(path.join(work, 'seg.tar'));
    expect(v.segments).toBeGreaterThanOrEqual(4);
  });
});

describe('one flipped bit in a file’s data', () => {
  it('.tar: exit 3, and the file is named', async () => {
    const archive = copy('one.tar', 'flip.tar');
    const e = entryNamed(await readEntries(archive), 'tree/f3.dat');
    flipBit(archive, e.dataOffset + 1234, 5);
    const r = await runCli(['verify', archive]);
    expect(r.status).toBe(3);
    expect(stderrLines(r).some((l) => l.includes('DAMAGED') && l.includes('tree/f3.dat'))).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('.tar, the last byte of a file whose size is not a block multiple', async () => {
    const archive = copy('one.tar', 'flip-last.tar');
    const e = entryNamed(await readEntries(archive), 'tree/f1.dat');
    expect(e.data.length % 512).not.toBe(0);
    flipBit(archive, e.dataOffset + e.data.length - 1, 0);
    const r = await runCli(['verify', archive]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('tree/f1.dat');
  });

  it('.tar.zst, a bit in the compressed stream: exit 3', async () => {
    const size = fs.statSync(path.join(work, 'one.tar.zst')).size;
    for (const at of [Math.floor(size / 3), Math.floor(size / 2), size - 10]) {
      const archive = copy('one.tar.zst', `flipz-${at}.tar.zst`);
      flipBit(archive, at, 3);
      const r = await runCli(['verify', archive]);
      expect(r.status, `flip at ${at}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain('DAMAGED');
    }
  });

  it('.tar.zst recompressed after the flip (valid zstd checksum): our sha256 catches it and names the file', async () => {
    const tar = await tarBytesOf(path.join(work, 'one.tar.zst'));
    const e = entryNamed(await readEntries(tar), 'tree/f5.dat');
    const damaged = flipBitOf(tar, e.dataOffset + 100, 0);
    const archive = path.join(work, 'recompressed.tar.zst');
    fs.writeFileSync(archive, zstd(['--check', '-c'], damaged));
    execFileSync('zstd', ['-q', '-t', archive]);
    const r = await runCli(['verify', archive]);
    expect(r.status).toBe(3);
    expect(stderrLines(r).some((l) => l.includes('DAMAGED') && l.includes('tree/f5.dat'))).toBe(true);
  });
});

describe('truncation', () => {
  for (const name of ['one.tar', 'one.tar.zst', 'seg.tar', 'seg.tar.zst']) {
    it(`${name} cut in half, and cut by one byte: exit 3`, async () => {
      const size = fs.statSync(path.join(work, name)).size;
      for (const len of [Math.floor(size / 2), size - 1]) {
        const archive = copy(name, `cut-${len}-${name}`);
        truncateFile(archive, len);
        const r = await runCli(['verify', archive]);
        expect(r.status, `${name} cut to ${len}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toMatch(/truncated|incomplete|damaged/i);
      }
    });
  }

  it('seg.tar cut cleanly after a segment, with a fresh end marker: exit 3 (no footer)', async () => {
    const tar = fs.readFileSync(path.join(work, 'seg.tar'));
    const entries = await readEntries(tar);
    const seg2 = entryNamed(entries, '.safebak/manifest-000002.jsonl');
    const end = spanOf(seg2)[1];
    const archive = path.join(work, 'clean-cut.tar');
    fs.writeFileSync(archive, Buffer.concat([tar.subarray(0, end), Buffer.alloc(1024)]));
    const r = await runCli(['verify', archive]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/no manifest footer|incomplete/);
  });
});

describe('a missing manifest segment', () => {
  for (const name of ['seg.tar', 'seg.tar.zst']) {
    it(`${name} without segment 2: exit 3, the gap and the uncovered entries named`, async () => {
      const tar = await tarBytesOf(path.join(work, name));
      const entries = await readEntries(tar);
      const seg2 = entryNamed(entries, '.safebak/manifest-000002.jsonl');
      const [from, to] = spanOf(seg2);
      const cut = deleteSpanOf(tar, from, to - from);
      const archive = path.join(work, `noseg2-${name}`);
      fs.writeFileSync(archive, name.endsWith('.zst') ? zstd(['--check', '-c'], cut) : cut);
      const r = await runCli(['verify', archive]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/manifest segment 2 is missing/);
      // The entries that segment 2 covered are between segment 1 and segment 2.
      const seg1 = entries.findIndex((x) => x.entry.name === '.safebak/manifest-000001.jsonl');
      const seg2i = entries.indexOf(seg2);
      const uncovered = entries.slice(seg1 + 1, seg2i).map((x) => x.entry.name);
      expect(uncovered.length).toBeGreaterThan(0);
      for (const n of uncovered) expect(r.stderr).toContain(n);
    });
  }

  it('seg.tar without its last segment (the footer): exit 3', async () => {
    const tar = fs.readFileSync(path.join(work, 'seg.tar'));
    const entries = await readEntries(tar);
    const last = entries.filter((x) => x.entry.name.startsWith('.safebak/')).at(-1)!;
    const [from, to] = spanOf(last);
    const archive = path.join(work, 'nolast.tar');
    fs.writeFileSync(archive, deleteSpanOf(tar, from, to - from));
    const r = await runCli(['verify', archive]);
    expect(r.status).toBe(3);
  });
});
