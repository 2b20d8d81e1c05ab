import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive } from '../../src/index.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * Streamed chunks and staging buffers are reused once the output released
 * them. Reusing one too early would put later bytes where earlier ones
 * belong while the checksum still describes the earlier ones, so every
 * output kind is checked by GNU tar extracting files larger than the pool
 * and comparing them with their sources.
 */
let work: string;
let src: string;
const sums = new Map<string, string>();

beforeAll(() => {
  work = makeTempDir('buffer-reuse');
  src = path.join(work, 'src');
  fs.mkdirSync(src);
  // Larger than the pool (16 × 1 MiB), with an uneven tail, plus small files that go through the staging buffer.
  const files: [string, Buffer][] = [['big.bin', randomBytes(40 * 1024 * 1024 + 777)], ['mid.bin', randomBytes(3 * 1024 * 1024 + 5)]];
  for (let i = 0; i < 300; i++) files.push([`s${i}.txt`, randomBytes(i * 97)]);
  for (const [name, data] of files) {
    fs.writeFileSync(path.join(src, name), data);
    sums.set(name, createHash('sha256').update(data).digest('hex'));
  }
});
afterAll(() => removeDir(work));

function checkExtracted(archive: string, dest: string): void {
  fs.mkdirSync(dest);
  execFileSync('tar', ['-xf', archive, '-C', dest]);
  for (const [name, sum] of sums) {
    expect(createHash('sha256').update(fs.readFileSync(path.join(dest, 'src', name))).digest('hex'), name).toBe(sum);
  }
}

describe('buffer reuse', () => {
  for (const kind of ['tar', 'tar.zst'] as const) {
    it(`a .${kind} file output holds every byte of its sources`, async () => {
      const out = path.join(work, `out.${kind}`);
      const r = await createArchive({ sources: ['src'], cwd: work, output: out });
      expect(r.status).toBe(0);
      expect(r.verification.performed).toBe(true);
      checkExtracted(out, path.join(work, `x-${kind}`));
    });
  }

  it('a host stream that holds chunks after their callbacks gets buffers nobody reuses', async () => {
    const out = path.join(work, 'stream.tar');
    // A PassThrough keeps written chunks queued until they are read: read slowly, so it holds many.
    const host = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
    const draining = (async () => {
      await new Promise((r) => setTimeout(r, 300));
      await pipeline(host, fs.createWriteStream(out));
    })();
    const r = await createArchive({ sources: ['src'], cwd: work, output: host, compress: 'none' });
    expect(r.status).toBe(0);
    await draining;
    checkExtracted(out, path.join(work, 'x-stream'));
  });
});
