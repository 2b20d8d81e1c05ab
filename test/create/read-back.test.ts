import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive, verifyArchive } from '../../src/index.js';
import type { Logger } from 'pino';
import pino from 'pino';
import { loadNative } from '../../src/native/native.js';
import { runCli } from '../helpers/cli.js';
import { withRamfs } from '../helpers/ramfs.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * Create's read-back (DESIGN §7) must verify what landed in the file, not
 * what safebak meant to write: bytes changed in the temporary file behind
 * safebak's back, after they were written, fail the run (exit 3) and no
 * archive appears under the final name. The read-back follows the writing
 * (worker thread for the CLI, this thread for the library run from sources)
 * or, without the addon, runs after it; every mode must catch the damage.
 */
let work: string;
let src: string;
const native = loadNative().addon !== null;
const BIG = 96 * 1024 * 1024;

beforeAll(() => {
  work = makeTempDir('read-back');
  src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'd'), { recursive: true });
  // Large enough that the read-back runs alongside the writing, not only after it.
  fs.writeFileSync(path.join(src, 'd', 'big.bin'), randomBytes(BIG));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, 'd', `small-${i}.txt`), `file ${i}\n`.repeat(100));
  const old = new Date(Date.now() - 3600_000);
  for (const name of fs.readdirSync(path.join(src, 'd'))) fs.utimesSync(path.join(src, 'd', name), old, old);
});
afterAll(() => removeDir(work));

/** Waits for the run's temporary file, then overwrites 512 bytes at `offset` once they were written. */
async function damageTemporary(dir: string, offset: number, stop: { done: boolean }): Promise<string | null> {
  while (!stop.done) {
    const temp = fs.readdirSync(dir).find((n) => n.endsWith('.tmp'));
    if (temp !== undefined) {
      const full = path.join(dir, temp);
      try {
        if (fs.statSync(full).size >= offset + 1024 * 1024) {
          const fd = fs.openSync(full, fs.constants.O_WRONLY);
          fs.writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, offset);
          fs.closeSync(fd);
          return full;
        }
      } catch {
        // Renamed or removed between the listing and the stat: keep looking.
      }
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  return null;
}

/** The debug line that says how the read-back ran, and why it ran after the writing if it did. */
interface ReadBackLine {
  msg: string;
  mode?: string;
  why?: string;
}

function memoryLogger(lines: string[]): Logger {
  return pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
}

describe('read-back verification', () => {
  it(`the CLI fails with exit 3 when the written file is damaged before it is read back (${native ? 'worker thread' : 'after the writing'})`, async () => {
    const outDir = path.join(work, 'cli-out');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'a.tar');
    const log = path.join(work, 'cli.log');
    const stop = { done: false };
    const running = runCli(['create', '-o', out, '-C', src, '--log-level', 'debug', '--log-file', log, 'd']);
    const damaged = damageTemporary(outDir, 2048, stop);
    const r = await running;
    stop.done = true;
    expect(await damaged).not.toBeNull();
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('read-back verification failed');
    expect(fs.readdirSync(outDir)).toEqual([]);
    const logged = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReadBackLine).find((l) => l.msg === 'read-back verification');
    expect(logged?.mode).toBe(native ? 'worker' : 'after');
    if (native) expect(logged?.why).toBeUndefined();
    else expect(logged?.why).toMatch(/^no native addon/);
  });

  it(`the library refuses a damaged temporary file the same way (${native ? 'following on this thread' : 'after the writing'})`, async () => {
    const outDir = path.join(work, 'lib-out');
    fs.mkdirSync(outDir);
    const lines: string[] = [];
    const stop = { done: false };
    const running = createArchive({ sources: ['d'], cwd: src, output: path.join(outDir, 'a.tar'), logger: memoryLogger(lines) });
    const damaged = damageTemporary(outDir, 4096, stop);
    await expect(running).rejects.toMatchObject({ code: 'SAFEBAK_VERIFY_FAILED' });
    stop.done = true;
    expect(await damaged).not.toBeNull();
    expect(fs.readdirSync(outDir)).toEqual([]);
    const logged = lines.map((l) => JSON.parse(l) as ReadBackLine).find((l) => l.msg === 'read-back verification');
    expect(logged?.mode).toBe(native ? 'following' : 'after');
    if (!native) expect(logged?.why).toMatch(/^no native addon/);
  });

  it('where the archive cannot be read directly (ramfs), it is read back after the writing, and the log says why', async (ctx) => {
    if (!native) {
      console.log('skipped: without the native addon nothing is read directly anywhere (the tests above cover it)');
      ctx.skip();
    }
    await withRamfs(ctx, async (mnt) => {
      const small = path.join(work, 'small-src');
      fs.mkdirSync(path.join(small, 'd'), { recursive: true });
      for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(small, 'd', `f${i}.txt`), `file ${i}\n`.repeat(1000));
      const lines: string[] = [];
      const result = await createArchive({ sources: ['d'], cwd: small, output: path.join(mnt, 'a.tar'), logger: memoryLogger(lines) });
      expect(result.status).toBe(0);
      const logged = lines.map((l) => JSON.parse(l) as ReadBackLine).find((l) => l.msg === 'read-back verification');
      expect(logged?.mode).toBe('after');
      expect(logged?.why).toMatch(/^cannot open it for direct reads: /);
      expect((await verifyArchive(path.join(mnt, 'a.tar'))).status).toBe(0);
    });
  });

  it('an undamaged run verifies every byte it wrote, and an independent verify agrees', async () => {
    const out = path.join(work, 'good.tar.zst');
    const r = await runCli(['create', '-o', out, '-C', src, 'd']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('verified by read-back');
    const v = await verifyArchive(out);
    expect(v.status).toBe(0);
    expect(v.bytes).toBeGreaterThanOrEqual(BIG);
  });
});
