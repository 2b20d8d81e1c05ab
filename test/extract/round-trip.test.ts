/**
 * create → extract gives back the same tree; one flipped bit, a truncation
 * or a tampered record keeps exactly the affected files out; streaming with
 * small segments holds a bounded number of temporary files.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeRecord, formatManifestTime, segmentName } from '../../src/archive/manifest.js';
import type { EntryRecord } from '../../src/archive/manifest.js';
import { TarWriter } from '../../src/archive/tar-writer.js';
import { createArchive } from '../../src/create/create-archive.js';
import { extractArchive } from '../../src/extract/extract-archive.js';
import { resolverModes, snapshot, tempFilesBelow } from './helpers.js';

const isRoot = process.geteuid?.() === 0;

/** Sets nanosecond mtimes bottom-up, symlinks included (Node cannot: libuv truncates to microseconds). */
function setNanosecondTimes(root: string): void {
  const script = `
import os, sys
root = sys.argv[1]
n = 0
for dirpath, dirnames, filenames in os.walk(root, topdown=False):
    for name in filenames + dirnames:
        n += 1
        os.utime(os.path.join(dirpath, name), ns=(1600000000_000000000, 1600000000_000000000 + n * 1_000_111_123), follow_symlinks=False)
os.utime(root, ns=(1600000000_000000000, 1611111111_123456789))
`;
  const r = spawnSync('python3', ['-c', script, root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

/** The awkward tree: every entry type, modes, owners, long and non-ASCII names, a file spanning many read chunks. */
function buildAwkwardTree(tree: string): void {
  const f = (rel: string, data: string | Buffer, mode = 0o644): void => {
    fs.mkdirSync(join(tree, rel, '..'), { recursive: true });
    fs.writeFileSync(join(tree, rel), data);
    fs.chmodSync(join(tree, rel), mode);
  };
  f('plain.txt', 'plain\n', 0o640);
  f('exec.sh', '#!/bin/sh\necho hi\n', 0o755);
  f('empty.txt', '');
  f('big.bin', randomBytes(3 * 1024 * 1024 + 17));
  f('sub/deeper/file.txt', 'deep\n');
  f(`${'L'.repeat(120)}/${'n'.repeat(200)}.txt`, 'long name\n');
  f('café/naïve-日本語 ☃.txt', 'non-ascii\n');
  f('hard1', 'linked\n');
  fs.linkSync(join(tree, 'hard1'), join(tree, 'sub', 'hard2'));
  fs.mkdirSync(join(tree, 'empty-dir'));
  fs.chmodSync(join(tree, 'empty-dir'), 0o711);
  fs.symlinkSync('sub/deeper/file.txt', join(tree, 'link-rel'));
  fs.symlinkSync('does/not/exist', join(tree, 'dangling'));
  fs.symlinkSync('/etc/hostname', join(tree, 'abs-link'));
  spawnSync('mkfifo', [join(tree, 'fifo')]);
  f('ro/inside.txt', 'in a read-only dir\n');
  fs.chmodSync(join(tree, 'ro'), 0o555);
  if (isRoot) {
    f('setuid', 'suid\n');
    fs.chmodSync(join(tree, 'setuid'), 0o4755);
    fs.chownSync(join(tree, 'plain.txt'), 1234, 5678);
    fs.lchownSync(join(tree, 'link-rel'), 4321, 8765);
    fs.chownSync(join(tree, 'empty-dir'), 1000, 1000);
  }
  setNanosecondTimes(tree);
}

describe.each(resolverModes)('round trip and integrity (%s resolver)', (resolver) => {
  let base: string;
  let src: string;
  let dst: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'safebak-extract-'));
    src = join(base, 'src');
    dst = join(base, 'dst');
    fs.mkdirSync(join(src, 'tree'), { recursive: true });
    fs.mkdirSync(dst);
  });

  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('create → extract restores an identical tree: contents, modes, owners, mtimes, symlinks (dangling too), hard links, empty dirs, long and non-ASCII names', async () => {
    buildAwkwardTree(join(src, 'tree'));
    const created = await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar.zst') });
    expect(created.status).toBe(0);
    const result = await extractArchive(join(base, 'a.tar.zst'), { cwd: dst, resolver });
    expect(result.problems).toEqual([]);
    expect(result.entries.filter((e) => e.outcome !== 'installed')).toEqual([]);
    expect(result.status).toBe(0);
    expect(result.kind).toBe('safebak');
    expect(result.complete).toBe(true);
    const micro = !result.nanosecondTimes;
    expect(snapshot(join(dst, 'tree'), { microseconds: micro })).toEqual(snapshot(join(src, 'tree'), { microseconds: micro }));
    expect(tempFilesBelow(dst)).toEqual([]);
  });

  it('one flipped bit in one file: that file alone is not installed, the rest is, status 3', async () => {
    const tree = join(src, 'tree');
    fs.writeFileSync(join(tree, 'a.txt'), 'first\n');
    fs.writeFileSync(join(tree, 'flip.txt'), 'FLIP-ME-'.repeat(1000));
    fs.writeFileSync(join(tree, 'z.txt'), 'last\n');
    await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar') });
    const bytes = fs.readFileSync(join(base, 'a.tar'));
    const at = bytes.indexOf('FLIP-ME-FLIP') + 4000;
    bytes[at]! ^= 0x10;
    fs.writeFileSync(join(base, 'a.tar'), bytes);

    const result = await extractArchive(join(base, 'a.tar'), { cwd: dst, resolver });
    expect(result.status).toBe(3);
    expect(result.entries.find((e) => e.path === 'tree/flip.txt')).toMatchObject({ outcome: 'not-installed', reason: expect.stringMatching(/sha256/) });
    expect(result.entries.filter((e) => e.outcome !== 'installed').map((e) => e.path)).toEqual(['tree/flip.txt']);
    expect(fs.existsSync(join(dst, 'tree', 'flip.txt'))).toBe(false);
    expect(fs.readFileSync(join(dst, 'tree', 'a.txt'), 'utf8')).toBe('first\n');
    expect(fs.readFileSync(join(dst, 'tree', 'z.txt'), 'utf8')).toBe('last\n');
    expect(tempFilesBelow(dst)).toEqual([]);
  });

  it('truncated archive: files whose segment was read are installed, the rest are not, status 3, no temporary file left', async () => {
    const tree = join(src, 'tree');
    for (let i = 0; i < 6; i++) fs.writeFileSync(join(tree, `f${i}.txt`), `file ${i}\n`);
    fs.writeFileSync(join(tree, 'z-big.bin'), randomBytes(200_000));
    await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar'), segmentEntries: 2 });
    const bytes = fs.readFileSync(join(base, 'a.tar'));
    fs.writeFileSync(join(base, 'cut.tar'), bytes.subarray(0, bytes.length - 150_000));

    const result = await extractArchive(join(base, 'cut.tar'), { cwd: dst, resolver });
    expect(result.status).toBe(3);
    expect(result.complete).toBe(false);
    expect(result.problems.join('\n')).toMatch(/truncated/);
    expect(result.entries.find((e) => e.path === 'tree/z-big.bin')).toMatchObject({ outcome: 'not-installed' });
    expect(fs.readFileSync(join(dst, 'tree', 'f0.txt'), 'utf8')).toBe('file 0\n');
    expect(fs.existsSync(join(dst, 'tree', 'z-big.bin'))).toBe(false);
    expect(tempFilesBelow(dst)).toEqual([]);
  });

  it('streaming with a segment every 3 entries: temporary files stay bounded by the segment size', async () => {
    const tree = join(src, 'tree');
    for (let d = 0; d < 3; d++) {
      fs.mkdirSync(join(tree, `d${d}`));
      for (let i = 0; i < 10; i++) fs.writeFileSync(join(tree, `d${d}`, `f${i}.bin`), randomBytes(20_000 + i));
    }
    await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar.zst'), segmentEntries: 3 });

    // Hand the archive over in small pieces and count the temporary files on disk before each one.
    const whole = fs.readFileSync(join(base, 'a.tar.zst'));
    let offset = 0;
    let peakOnDisk = 0;
    const input = new Readable({
      read() {
        peakOnDisk = Math.max(peakOnDisk, tempFilesBelow(dst).length);
        const piece = whole.subarray(offset, offset + 4096);
        offset += piece.length;
        this.push(piece.length > 0 ? piece : null);
      },
    });
    const result = await extractArchive(input, { cwd: dst, resolver });
    expect(result.status).toBe(0);
    expect(result.totals.installed).toBe(34);
    expect(peakOnDisk).toBeGreaterThan(0);
    expect(peakOnDisk).toBeLessThanOrEqual(3);
    expect(result.totals.peakPending).toBeLessThanOrEqual(3);
    const micro = !result.nanosecondTimes;
    expect(snapshot(join(dst, 'tree'), { microseconds: micro })).toEqual(snapshot(join(src, 'tree'), { microseconds: micro }));
    console.info(`streaming extract: peak temporary files on disk ${peakOnDisk}, pending ${result.totals.peakPending} (segments of 3 entries)`);
  });

  it('abort mid-archive: rejects with the reason and leaves no temporary file', async () => {
    const tree = join(src, 'tree');
    for (let i = 0; i < 20; i++) fs.writeFileSync(join(tree, `f${i}.bin`), randomBytes(100_000));
    await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar') });
    const controller = new AbortController();
    const reason = new Error('stop');
    const run = extractArchive(fs.createReadStream(join(base, 'a.tar'), { highWaterMark: 64 * 1024 }), {
      cwd: dst,
      resolver,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.entries >= 5) controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(tempFilesBelow(dst)).toEqual([]);
  });

  describe('manifest records', () => {
    /** Writes entries (each with its own record fields) and one final segment, as safebak does. */
    async function handBuilt(files: { name: string; data: string; record?: Partial<EntryRecord> }[]): Promise<Buffer> {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const writer = new TarWriter(out);
      const lines = [encodeRecord({ kind: 'header', format: 'safebak-manifest', version: 1, hash: 'sha256', createdAt: new Date().toISOString(), tool: 'test', sources: [], segmentEntries: 10_000 })];
      for (const f of files) {
        const data = Buffer.from(f.data);
        const h = { name: f.name, type: 'file' as const, size: data.length, mode: 0o644, uid: 0, gid: 0, mtimeSec: 1_700_000_000, mtimeNsec: 5 };
        const offset = await writer.entry(h, data);
        const record: EntryRecord = {
          kind: 'entry', path: f.name, type: 'file', size: data.length, sha256: createHash('sha256').update(data).digest('hex'),
          mode: h.mode, uid: 0, gid: 0, mtime: formatManifestTime(h.mtimeSec, h.mtimeNsec), offset, strategy: 'copy', attempt: 1, status: 'ok',
          ...f.record,
        };
        lines.push(encodeRecord(record));
      }
      lines.push(encodeRecord({ kind: 'footer', entries: files.length, files: files.length, bytes: 0, flagged: 0, skipped: 0, segments: 1 }));
      const body = Buffer.from(lines.join(''));
      await writer.entry({ name: segmentName(1), type: 'file', size: body.length, mode: 0o644, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0 }, body);
      await writer.finish();
      out.end();
      return Buffer.concat(chunks);
    }

    it('a retried file: only the effective (last) attempt is installed, the changed one is skipped', async () => {
      const archive = await handBuilt([
        { name: 'f.txt', data: 'torn attempt', record: { status: 'changed', reasons: ['mtime changed'] } },
        { name: 'f.txt', data: 'good retry', record: { attempt: 2 } },
      ]);
      const result = await extractArchive(Readable.from([archive]), { cwd: dst, resolver });
      expect(result.status).toBe(0);
      expect(result.entries.map((e) => e.outcome)).toEqual(['skipped', 'installed']);
      expect(fs.readFileSync(join(dst, 'f.txt'), 'utf8')).toBe('good retry');
      expect(tempFilesBelow(dst)).toEqual([]);
    });

    it('a tampered record (sha256 of other bytes): nothing under that name, status 3', async () => {
      const archive = await handBuilt([
        { name: 'ok.txt', data: 'fine' },
        { name: 'bad.txt', data: 'evil bytes', record: { sha256: createHash('sha256').update('good bytes').digest('hex') } },
      ]);
      fs.writeFileSync(join(dst, 'bad.txt'), 'previous version');
      const result = await extractArchive(Readable.from([archive]), { cwd: dst, resolver });
      expect(result.status).toBe(3);
      expect(result.entries.find((e) => e.path === 'bad.txt')).toMatchObject({ outcome: 'not-installed' });
      expect(fs.readFileSync(join(dst, 'bad.txt'), 'utf8')).toBe('previous version');
      expect(fs.readFileSync(join(dst, 'ok.txt'), 'utf8')).toBe('fine');
    });

    it('an entry without a record: not installed, status 3', async () => {
      const archive = await handBuilt([{ name: 'recorded.txt', data: 'a' }, { name: 'smuggled.txt', data: 'b', record: { offset: 999_999 } }]);
      const result = await extractArchive(Readable.from([archive]), { cwd: dst, resolver });
      expect(result.status).toBe(3);
      expect(result.entries.find((e) => e.path === 'smuggled.txt')).toMatchObject({ outcome: 'not-installed', reason: expect.stringMatching(/no manifest record/) });
      expect(fs.existsSync(join(dst, 'smuggled.txt'))).toBe(false);
    });
  });

  it('partial extraction by path and --strip-components; --keep-existing keeps what is there', async () => {
    const tree = join(src, 'tree');
    fs.mkdirSync(join(tree, 'keep', 'inner'), { recursive: true });
    fs.writeFileSync(join(tree, 'keep', 'inner', 'a.txt'), 'a');
    fs.writeFileSync(join(tree, 'keep', 'b.txt'), 'b');
    fs.writeFileSync(join(tree, 'other.txt'), 'other');
    await createArchive({ sources: ['tree'], cwd: src, output: join(base, 'a.tar') });
    fs.writeFileSync(join(dst, 'b.txt'), 'mine');
    const result = await extractArchive(join(base, 'a.tar'), {
      cwd: dst,
      resolver,
      paths: ['tree/keep', 'tree/missing'],
      stripComponents: 2,
      keepExisting: true,
    });
    expect(result.notFound).toEqual(['tree/missing']);
    expect(result.status).toBe(1);
    expect(fs.readFileSync(join(dst, 'inner', 'a.txt'), 'utf8')).toBe('a');
    expect(fs.readFileSync(join(dst, 'b.txt'), 'utf8')).toBe('mine');
    expect(result.entries.find((e) => e.path === 'tree/keep/b.txt')).toMatchObject({ outcome: 'skipped' });
    expect(fs.existsSync(join(dst, 'other.txt'))).toBe(false);
  });
});
