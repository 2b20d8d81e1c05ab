import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive } from '../../src/index.js';
import type { EntryRecord } from '../../src/index.js';
import { readEntries } from '../helpers/archive-bytes.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { nativeMissing } from '../native/native-available.js';

/**
 * Files from smallFileBytes up to wholeReadBytes going to a .tar: once their
 * filesystem is known not to clone, `auto` copies them whatever else the
 * probes find, and they are read ahead in native batches like small files.
 * Whichever way a file went, its record must give the reason the general
 * path gives (the streamed 2 MiB file's), and its bytes must be exact.
 */
describe.skipIf(nativeMissing)('whole reads of files above smallFileBytes into a .tar', () => {
  let work: string;
  const data = new Map<string, Buffer>();
  beforeAll(() => {
    work = makeTempDir('whole-read-reasons');
    fs.mkdirSync(path.join(work, 'tree'));
    // Walked first (its directory sorts names by bytes): its attempt probes the filesystem for reflinks.
    data.set('tree/a-streamed', randomBytes(2 * 1024 * 1024));
    // Enough batches of ~2 MiB that later ones are prepared after that probe.
    for (let i = 0; i < 60; i++) data.set(`tree/b-${String(i).padStart(2, '0')}`, randomBytes(300 * 1024 + i));
    for (const [name, bytes] of data) fs.writeFileSync(path.join(work, name), bytes);
  });
  afterAll(() => removeDir(work));

  it('records the same strategy reason as the streamed file, and exact bytes', async () => {
    const output = path.join(work, 'out.tar');
    const result = await createArchive({ sources: ['tree'], cwd: work, output });
    expect(result.status).toBe(0);
    expect(result.verification.performed).toBe(true);
    const files = (result.records as EntryRecord[]).filter((r) => r.type === 'file');
    expect(files.length).toBe(data.size);
    const streamed = files.find((r) => r.path === 'tree/a-streamed')!;
    expect(streamed.strategy).toBe('copy');
    const byOffset = new Map((await readEntries(output)).map((e) => [e.entry.offset, e]));
    for (const r of files) {
      expect([r.path, r.strategy, r.strategyReason]).toEqual([r.path, 'copy', streamed.strategyReason]);
      expect(byOffset.get(r.offset)?.data.equals(data.get(r.path)!), r.path).toBe(true);
    }
  });
});
