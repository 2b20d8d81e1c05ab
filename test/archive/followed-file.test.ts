import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FollowedFile } from '../../src/archive/followed-file.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * The reader behind create's overlapped read-back: it must return exactly
 * the file's bytes while another writer is still appending, read only what
 * was written, and let go of the file when cancelled.
 */
const work = makeTempDir('followed');
/** Why direct reads are impossible here (no addon, a filesystem without O_DIRECT), or null. */
const unavailable = await (async () => {
  const probe = path.join(work, 'probe');
  fs.writeFileSync(probe, 'x');
  const opened = await FollowedFile.open(probe);
  if (typeof opened === 'string') {
    console.warn(`followed-file tests skipped: ${opened}`);
    return opened;
  }
  opened.cancel();
  await readAll(opened).catch(() => {});
  return null;
})();
afterAll(() => removeDir(work));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Appends `total` random bytes in uneven pieces, pausing now and then; returns their hash. */
async function appendSlowly(file: string, total: number): Promise<string> {
  const fd = fs.openSync(file, 'a');
  const hash = createHash('sha256');
  let written = 0;
  let n = 0;
  while (written < total) {
    const piece = randomBytes(Math.min(total - written, 1 + ((n * 7919) % (3 * 1024 * 1024))));
    fs.writeSync(fd, piece);
    hash.update(piece);
    written += piece.length;
    if (++n % 4 === 0) await sleep(2);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return hash.digest('hex');
}

async function readAll(followed: FollowedFile, onChunk?: () => void): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of followed.chunks()) {
    hash.update(chunk);
    bytes += chunk.length;
    onChunk?.();
  }
  return { sha256: hash.digest('hex'), bytes };
}

describe.skipIf(unavailable !== null)('FollowedFile', () => {
  it('reads a file that is still being appended to, byte for byte, starting before the writer ends', async () => {
    const file = path.join(work, 'growing');
    fs.writeFileSync(file, '');
    // Not a multiple of the block size: the last direct read is rounded up and comes back short.
    const total = 150 * 1024 * 1024 + 1234;
    const followed = await FollowedFile.open(file);
    if (typeof followed === 'string') throw new Error(followed);
    let writerDone = false;
    let chunksBeforeEnd = 0;
    const reading = readAll(followed, () => {
      if (!writerDone) chunksBeforeEnd++;
    });
    const written = await appendSlowly(file, total);
    writerDone = true;
    followed.end();
    const read = await reading;
    expect(read.bytes).toBe(total);
    expect(read.sha256).toBe(written);
    expect(chunksBeforeEnd).toBeGreaterThan(0);
  });

  it('reads a small file whole once it ended', async () => {
    const file = path.join(work, 'small');
    const data = randomBytes(10_000);
    fs.writeFileSync(file, data);
    const followed = await FollowedFile.open(file);
    if (typeof followed === 'string') throw new Error(followed);
    followed.end();
    const read = await readAll(followed);
    expect(read.sha256).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('rejects once cancelled and closes its descriptor', async () => {
    const file = path.join(work, 'cancelled');
    fs.writeFileSync(file, 'partial');
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    const followed = await FollowedFile.open(file);
    if (typeof followed === 'string') throw new Error(followed);
    const reading = readAll(followed);
    await sleep(20);
    followed.cancel(new Error('stop here'));
    await expect(reading).rejects.toThrow('stop here');
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fdsBefore);
  });

  it('says why a file cannot be read directly', async () => {
    const result = await FollowedFile.open(path.join(work, 'missing'));
    expect(typeof result).toBe('string');
    expect(result).toMatch(/no such file/);
  });
});
