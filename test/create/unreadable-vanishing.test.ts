import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive, listArchive, verifyArchive } from '../../src/index.js';
import { readEntries } from '../helpers/archive-bytes.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree, dir, file } from '../helpers/tree.js';

/**
 * Unreadable and vanishing files (DESIGN §6): reported, never fatal. The run
 * exits 1, names them in its summary and in the manifest, and everything
 * else is archived whole; verify then says "sound, with flagged files" (1).
 */
let work: string;
beforeAll(() => {
  work = makeTempDir('unreadable', true);
});
afterAll(() => {
  spawnSync('chmod', ['-R', 'u+rwx', work]);
  removeDir(work);
});

/** The manifest lines of an archive: every segment, parsed. */
async function manifestOf(archive: string): Promise<Record<string, unknown>[]> {
  const entries = await readEntries(archive);
  return entries
    .filter((e) => e.entry.name.startsWith('.safebak/manifest-'))
    .flatMap((e) => e.data.toString('utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('unreadable files (EACCES, run as nobody)', () => {
  let root: string;
  let out: string;
  beforeAll(() => {
    root = path.join(work, 'src');
    buildTree(root, {
      t: dir(
        {
          'a.txt': file('readable a\n', { mode: 0o644 }),
          'secret.key': file('top secret\n', { mode: 0o000 }),
          'locked-dir': dir({ 'inside.txt': file('cannot list me\n', { mode: 0o644 }) }, { mode: 0o000 }),
          'z.txt': file('readable z\n', { mode: 0o644 }),
          sub: dir({ 'b.bin': file(Buffer.alloc(2_000_000, 'b'), { mode: 0o644 }), 'no-read.bin': file(Buffer.alloc(3_000_000, 'n'), { mode: 0o200 }) }, { mode: 0o755 }),
        },
        { mode: 0o755 },
      ),
    });
    fs.chmodSync(root, 0o755);
    out = path.join(work, 'out');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
  });

  it('exits 1, names each unreadable path on stderr and in the manifest, and archives the rest whole', async () => {
    const archive = path.join(out, 'u.tar.zst');
    const r = await runCli(['create', '-o', archive, '-C', root, 't'], { asNobody: true, timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(1);
    for (const p of ['t/secret.key', 't/locked-dir', 't/sub/no-read.bin']) {
      expect(r.stderr.split('\n').some((l) => l.includes(p) && /denied|EACCES|unreadable|cannot read/i.test(l)), `${p} in:\n${r.stderr}`).toBe(true);
    }
    expect(r.stderr).toMatch(/skipped/);
    expect(r.stderr).toContain('verified by read-back');

    const manifest = await manifestOf(archive);
    const skipped = manifest.filter((m) => m.kind === 'skipped').map((m) => String(m.path).replace(/\/$/, ''));
    expect(skipped.sort()).toEqual(['t/locked-dir', 't/secret.key', 't/sub/no-read.bin']);
    const footer = manifest.find((m) => m.kind === 'footer')!;
    expect(footer.skipped).toBe(3);

    const entries = await readEntries(archive);
    const content = new Map(entries.map((e) => [e.entry.name, e.data]));
    expect(content.get('t/a.txt')!.toString()).toBe('readable a\n');
    expect(content.get('t/z.txt')!.toString()).toBe('readable z\n');
    expect(content.get('t/sub/b.bin')!.equals(Buffer.alloc(2_000_000, 'b'))).toBe(true);
    expect(content.has('t/secret.key')).toBe(false);
    expect(content.has('t/sub/no-read.bin')).toBe(false);

    const v = await runCli(['verify', archive]);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain('sound, with flagged files');
    expect(v.stderr).toContain('t/secret.key');
  });

  it('a source root named on the command line that cannot be read is fatal: exit 2, no archive', async () => {
    const archive = path.join(out, 'u2.tar');
    const r = await runCli(['create', '-o', archive, '-C', root, 't/secret.key', 't/a.txt'], { asNobody: true, timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/t\/secret\.key: source root cannot be read: permission denied \(EACCES\); no archive written/);
    expect(fs.existsSync(archive)).toBe(false);
  });
});

describe('vanishing files', () => {
  it('files deleted by another process during the walk: exit 1, named, the rest complete', async () => {
    const root = path.join(work, 'vanish');
    const spec: Record<string, Record<string, string>> = {};
    for (let d = 0; d < 6; d++) {
      const files: Record<string, string> = {};
      for (let f = 0; f < 150; f++) files[`f${String(f).padStart(3, '0')}`] = `dir ${d} file ${f}\n`.repeat(1 + (f % 7));
      spec[`d${d}`] = files;
    }
    buildTree(root, { t: spec });
    const doomed = Array.from({ length: 40 }, (_, i) => `t/d0/f${String(100 + i).padStart(3, '0')}`);
    let deleted = false;
    const output = path.join(work, 'vanish.tar');
    const result = await createArchive({
      sources: ['t'],
      cwd: root,
      output,
      // Small read-ahead so that some doomed files are listed (readdir) but not yet opened when they go.
      readAhead: 2,
      onProgress: (p) => {
        if (!deleted && p.phase === 'archive' && p.files === 20) {
          deleted = true;
          // Another process removes them, while the run is inside t/d0.
          const rm = spawnSync('rm', ['-f', ...doomed.map((d) => path.join(root, d))]);
          expect(rm.status).toBe(0);
        }
      },
    });
    expect(deleted).toBe(true);
    expect(result.status).toBe(1);
    const flaggedPaths = result.flagged.map((f) => f.path);
    for (const d of doomed) expect(flaggedPaths, d).toContain(d);
    for (const f of result.flagged) expect(f.reasons.join(' ')).toMatch(/vanished/);

    const manifest = await manifestOf(output);
    const recorded = new Set(
      manifest
        .filter((m) => m.kind === 'skipped' || (m.kind === 'entry' && m.status === 'changed' && (m.reasons as string[]).includes('vanished')))
        .map((m) => m.path),
    );
    for (const d of doomed) expect(recorded.has(d), `${d} in the manifest`).toBe(true);

    // The rest is complete and exact.
    const entries = await readEntries(output);
    const files = entries.filter((e) => e.entry.type === 'file' && !e.entry.name.startsWith('.safebak/'));
    expect(files.length).toBe(6 * 150 - doomed.length);
    for (const e of files) {
      const [, d, f] = /t\/d(\d)\/f(\d+)/.exec(e.entry.name)!;
      expect(e.data.toString()).toBe(`dir ${Number(d)} file ${Number(f)}\n`.repeat(1 + (Number(f) % 7)));
    }
    const v = await verifyArchive(output);
    expect(v.status).toBe(1);
    expect(v.problems).toEqual([]);
    const cli = await runCli(['verify', output]);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain(doomed[0]);
  });

  it('a child deleting files while the CLI runs: every vanished file is named, and nothing archived is wrong', async () => {
    const root = path.join(work, 'vanish-cli');
    const spec: Record<string, string> = {};
    for (let f = 0; f < 3000; f++) spec[`f${String(f).padStart(4, '0')}`] = `file ${f}\n`.repeat(50);
    buildTree(root, { t: spec });
    const output = path.join(work, 'vanish-cli.tar.zst');
    const deleter = spawn('python3', [
      '-c',
      'import os, sys, time\nd = sys.argv[1]\nfor i in range(2999, 0, -7):\n    os.unlink(os.path.join(d, "f%04d" % i))\n    time.sleep(0.0005)\n',
      path.join(root, 't'),
    ]);
    const deleterDone = new Promise((resolve) => deleter.on('close', resolve));
    const r = await runCli(['create', '-o', output, '-C', root, 't'], { timeoutMs: 60_000 });
    await deleterDone;
    expect([0, 1]).toContain(r.status);
    const entries = await readEntries(output);
    const archived = entries.filter((e) => e.entry.type === 'file' && !e.entry.name.startsWith('.safebak/'));
    for (const e of archived) {
      const n = Number(/f(\d+)$/.exec(e.entry.name)![1]);
      expect(e.data.toString()).toBe(`file ${n}\n`.repeat(50));
    }
    const manifest = await manifestOf(output);
    const vanished = manifest.filter((m) => m.kind === 'skipped' || (m.kind === 'entry' && m.status !== 'ok')).map((m) => String(m.path));
    for (const p of vanished) expect(r.stderr).toContain(p);
    expect(r.status).toBe(vanished.length > 0 ? 1 : 0);
    console.log(`vanishing (CLI): ${archived.length} archived, ${vanished.length} reported vanished, exit ${r.status}`);
  });
});
