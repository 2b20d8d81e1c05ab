import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createArchive, extractArchive, listArchive, SafebakError, verifyArchive } from '../../src/index.js';
import type { CreateProgress } from '../../src/index.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.restoreAllMocks());

function tree(name: string, files: Record<string, string | Buffer>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `safebak-embed-${name}-`));
  dirs.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

/** A host's Writable that keeps what it is sent. */
function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

describe('embedding: streams as target and source', () => {
  it('creates into a Writable, then verifies, lists and extracts from Readables', async () => {
    const src = tree('stream', { 'a.txt': 'alpha\n', 'd/b.bin': Buffer.alloc(3 * 2 ** 20, 9) });
    const { sink, bytes } = collector();
    const progress: CreateProgress[] = [];
    const result = await createArchive({ sources: ['a.txt', 'd'], cwd: src, output: sink, compress: 'zstd', onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({ status: 0, output: null, compression: 'zstd', totals: { files: 2 } });
    expect(result.verification).toEqual({ performed: false, reason: expect.stringMatching(/safebak verify/) });
    expect(progress.at(-1)).toMatchObject({ phase: 'archive', files: 2, bytes: 6 + 3 * 2 ** 20, path: 'd/b.bin' });
    expect(progress.every((p) => p.strategy === undefined || ['copy', 'splice', 'snapshot'].includes(p.strategy))).toBe(true);
    const archive = bytes();
    const verified = await verifyArchive(Readable.from([archive]));
    expect(verified).toMatchObject({ status: 0, kind: 'safebak', complete: true, files: 2 });
    const listed = await listArchive(Readable.from([archive]));
    expect(listed.entries.map((e) => e.path)).toEqual(['a.txt', 'd/', 'd/b.bin']);
    const target = tree('stream-out', {});
    const extracted = await extractArchive(Readable.from([archive]), { cwd: target });
    expect(extracted.status).toBe(0);
    expect(fs.readFileSync(path.join(target, 'd/b.bin')).equals(fs.readFileSync(path.join(src, 'd/b.bin')))).toBe(true);
  });

  it('a Writable that fails rejects with a SafebakError, not a raw stream error', async () => {
    const src = tree('stream-fail', { 'big.bin': Buffer.alloc(4 * 2 ** 20, 1) });
    let written = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb(written > 2 ** 20 ? Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) : null);
      },
    });
    await expect(createArchive({ sources: ['big.bin'], cwd: src, output: sink })).rejects.toMatchObject({
      name: 'SafebakError',
      code: 'SAFEBAK_IO',
      message: 'the archive stream was closed by its reader: the archive is incomplete',
    });
  });
});

describe('embedding: AbortSignal', () => {
  it('aborts in the middle of a huge file: rejects with signal.reason within a second, temporary removed', async () => {
    const src = tree('abort', { 'a-first.txt': 'first\n' });
    const huge = path.join(src, 'b-huge.img');
    fs.closeSync(fs.openSync(huge, 'w'));
    fs.truncateSync(huge, 64 * 2 ** 30); // 64 GiB sparse: minutes to read, nothing on disk
    const out = tree('abort-out', {});
    const controller = new AbortController();
    const reason = new Error('host shutting down');
    let abortedAt = 0;
    const run = createArchive({
      sources: ['a-first.txt', 'b-huge.img'],
      cwd: src,
      output: path.join(out, 'x.tar.zst'),
      strategy: 'copy',
      signal: controller.signal,
      onProgress: () => {
        if (abortedAt) return;
        // After the first file: the huge one is being read now.
        setTimeout(() => {
          abortedAt = Date.now();
          controller.abort(reason);
        }, 200);
      },
    });
    await expect(run).rejects.toBe(reason);
    const took = Date.now() - abortedAt;
    expect(took).toBeLessThan(1000);
    expect(fs.readdirSync(out)).toEqual([]);
    console.log(`abort mid-file: rejected ${took} ms after abort()`);
  });

  it('an aborted Writable target is destroyed, so the host sees the stream end in error', async () => {
    const src = tree('abort-stream', { 'big.img': Buffer.alloc(0) });
    fs.truncateSync(path.join(src, 'big.img'), 16 * 2 ** 30);
    const { sink } = collector();
    const controller = new AbortController();
    const run = createArchive({ sources: ['big.img'], cwd: src, output: sink, strategy: 'copy', signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(sink.destroyed).toBe(true);
  });
});

describe('embedding: no global state, no console, a host logger', () => {
  it('two archives created concurrently in one process do not interfere (and aborting one spares the other)', async () => {
    const a = tree('conc-a', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a/${i}.txt`, `a${i}\n`.repeat(i + 1)])));
    const b = tree('conc-b', Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`b/${i}.bin`, Buffer.alloc(5000 + i, i)])));
    const c = tree('conc-c', { 'c.img': Buffer.alloc(0) });
    fs.truncateSync(path.join(c, 'c.img'), 16 * 2 ** 30);
    const out = tree('conc-out', {});
    const controller = new AbortController();
    const [ra, rb, rc] = await Promise.allSettled([
      createArchive({ sources: ['a'], cwd: a, output: path.join(out, 'a.tar.zst') }),
      createArchive({ sources: ['b'], cwd: b, output: path.join(out, 'b.tar') }),
      createArchive({ sources: ['c.img'], cwd: c, output: path.join(out, 'c.tar.zst'), strategy: 'copy', signal: controller.signal, onProgress: () => {} }),
      new Promise((r) => setTimeout(r, 300)).then(() => controller.abort()),
    ]);
    expect(ra.status === 'fulfilled' && ra.value.totals.files).toBe(200);
    expect(rb.status === 'fulfilled' && rb.value.totals.files).toBe(150);
    expect(rc.status).toBe('rejected');
    expect(fs.readdirSync(out).sort()).toEqual(['a.tar.zst', 'b.tar']);
    const la = await listArchive(path.join(out, 'a.tar.zst'));
    const lb = await listArchive(path.join(out, 'b.tar'));
    expect(la.entries.every((e) => e.path.startsWith('a'))).toBe(true);
    expect(lb.entries.every((e) => e.path.startsWith('b'))).toBe(true);
    expect((await verifyArchive(path.join(out, 'a.tar.zst'))).status).toBe(0);
    expect((await verifyArchive(path.join(out, 'b.tar'))).status).toBe(0);
  });

  it('logs only through the host pino logger, with component bindings; never prints, never exits', async () => {
    const lines: Record<string, unknown>[] = [];
    const host = pino({ level: 'debug', base: { app: 'host-backup' } }, { write: (s: string) => lines.push(JSON.parse(s)) }).child({ job: 'nightly-42' });
    const out = vi.spyOn(process.stdout, 'write');
    const err = vi.spyOn(process.stderr, 'write');
    const cons = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('process.exit called');
    }) as never);
    const src = tree('logger', { 'ok.txt': 'ok\n' });
    const dest = tree('logger-out', {});
    // A socket is passed over with a note; a missing source root is fatal, and neither prints.
    const socket = net.createServer();
    await new Promise<void>((resolve) => socket.listen(path.join(src, 'sock'), resolve));
    await createArchive({ sources: ['ok.txt', 'sock'], cwd: src, output: path.join(dest, 'l.tar'), logger: host });
    socket.close();
    await expect(createArchive({ sources: ['missing.txt'], cwd: src, output: path.join(dest, 'm.tar'), logger: host })).rejects.toMatchObject({
      code: 'SAFEBAK_SOURCE_MISSING',
    });
    await verifyArchive(path.join(dest, 'l.tar'), { logger: host });
    await listArchive(path.join(dest, 'l.tar'));
    await expect(createArchive({ sources: [], output: path.join(dest, 'x.tar') })).rejects.toBeInstanceOf(SafebakError);
    // Silent without a logger.
    await createArchive({ sources: ['ok.txt'], cwd: src, output: path.join(dest, 'silent.tar') });
    const printed = [out, err, ...cons].map((s) => s.mock.calls.length);
    vi.restoreAllMocks();
    expect(printed).toEqual(printed.map(() => 0));
    expect(exit).not.toHaveBeenCalled();
    const create = lines.filter((l) => l.component === 'create');
    expect(create.length).toBeGreaterThan(0);
    expect(create.every((l) => l.app === 'host-backup' && l.job === 'nightly-42')).toBe(true);
    expect(create.some((l) => l.msg === 'archive complete')).toBe(true);
    expect(create.some((l) => l.path === 'sock' && l.level === 30 && l.msg === 'passed over')).toBe(true);
  });

  it('throws SafebakErrors with stable codes and exit statuses', async () => {
    await expect(createArchive({ sources: [], output: '/tmp/x.tar' })).rejects.toMatchObject({ code: 'SAFEBAK_USAGE', exitStatus: 2 });
    await expect(verifyArchive(Readable.from([Buffer.from('this is not a tar archive at all')]))).rejects.toMatchObject({ code: 'SAFEBAK_NOT_AN_ARCHIVE', exitStatus: 2 });
    await expect(createArchive({ sources: ['etc'], cwd: '/', output: '/nonexistent-dir/x.tar' })).rejects.toMatchObject({ code: 'SAFEBAK_IO', path: '/nonexistent-dir/x.tar' });
  });
});
