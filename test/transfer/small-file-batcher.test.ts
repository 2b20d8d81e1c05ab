import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NotRegularFile } from '../../src/transfer/copy.js';
import { SmallFileBatcher } from '../../src/transfer/small-file-batcher.js';
import type { BatchOutcome, BatchedRead } from '../../src/transfer/small-file-batcher.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { nativeMissing } from '../native/native-available.js';

const OPTIONS = { maxBytes: 4096, lease: false, paranoid: false, recentSeconds: 0 };

function isRead(o: BatchOutcome): o is BatchedRead {
  return o !== null && !('error' in o);
}

describe.skipIf(nativeMissing)('SmallFileBatcher: one promise per batch, an outcome per file', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeTempDir('batcher');
    writeFileSync(join(dir, 'a'), 'alpha');
    writeFileSync(join(dir, 'big'), Buffer.alloc(5000));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
  });
  afterAll(() => removeDir(dir));

  it('gives each file of a batch its read, null when too large, or a failure coded as fs would', async () => {
    const batcher = new SmallFileBatcher(OPTIONS);
    const slots = ['a', 'big', 'missing', 'fifo'].map((n) => batcher.read(join(dir, n), `t/${n}`));
    expect(slots[0]!.outcome).toBeUndefined();
    batcher.flush();
    const [a, big, missing, fifo] = await Promise.all(slots.map((s) => s.wait()));
    expect(isRead(a!) && a.result.size === 5 && a.result.reasons.length === 0).toBe(true);
    expect(isRead(a!) && a.result.sha256).toBe(createHash('sha256').update('alpha').digest('hex'));
    expect(big).toBeNull();
    expect(missing !== null && 'error' in missing && (missing.error as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(fifo !== null && 'error' in fifo && fifo.error instanceof NotRegularFile).toBe(true);
    // Once back, every outcome reads synchronously.
    expect(slots[0]!.outcome).toBe(a);
  });

  it('flags a file that reads longer than its size said (grew), and one that reads exactly its size as ok', async () => {
    // /proc files stat as 0 bytes and read as more: the byte past the size must be asked for and seen.
    const batcher = new SmallFileBatcher(OPTIONS);
    const slots = ['/proc/self/status', join(dir, 'a')].map((p, i) => batcher.read(p, `g/${i}`));
    batcher.flush();
    const [proc, exact] = await Promise.all(slots.map((s) => s.wait()));
    expect(isRead(proc!) && proc.result.reasons).toContain('grew while being read');
    expect(isRead(exact!) && exact.result.reasons).toEqual([]);
  });

  it('sends a batch nobody flushed, on wait() or one turn of the event loop later', async () => {
    const batcher = new SmallFileBatcher(OPTIONS);
    const waited = batcher.read(join(dir, 'a'), 'w/a');
    expect(isRead(await waited.wait())).toBe(true);
    const later = batcher.read(join(dir, 'a'), 'l/a');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(later.outcome !== undefined && isRead(later.outcome)).toBe(true);
  });
});
