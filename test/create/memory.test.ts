import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliMeasuringRss } from '../helpers/max-rss.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

/**
 * Memory stays bounded whatever the file sizes (DESIGN §3): a 2 GiB file
 * (sparse, so the test costs no disk) archived to .tar.zst with read-back
 * verification, then verified again, each with the child's peak RSS — the
 * kernel's ru_maxrss — under 200 MiB. A resource bound, not a timing.
 */
const LIMIT = 200 * 2 ** 20;
let work: string;
beforeAll(() => {
  work = makeTempDir('memory');
  fs.mkdirSync(path.join(work, 'src'));
  execFileSync('truncate', ['-s', '2G', path.join(work, 'src/sparse-2g')]);
  // A little real data at both ends so that the entry is not all zeros.
  const fd = fs.openSync(path.join(work, 'src/sparse-2g'), 'r+');
  fs.writeSync(fd, Buffer.from('head of the big file'), 0, 20, 0);
  fs.writeSync(fd, Buffer.from('tail of the big file'), 0, 20, 2 * 2 ** 30 - 20);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(work, 'src/small.txt'), 'small\n');
});
afterAll(() => removeDir(work));

describe('peak RSS with a 2 GiB file', () => {
  it('create .tar.zst (with read-back verification) and verify stay under 200 MiB', async () => {
    const archive = path.join(work, 'big.tar.zst');
    const created = await runCliMeasuringRss(['create', '-o', archive, '-C', path.join(work, 'src'), '.']);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stderr).toContain('verified by read-back');
    const verified = await runCliMeasuringRss(['verify', archive]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stderr).toMatch(/2\.0 GiB/);
    console.log(`peak RSS: create ${Math.round(created.maxRssBytes / 2 ** 20)} MiB, verify ${Math.round(verified.maxRssBytes / 2 ** 20)} MiB`);
    expect(created.maxRssBytes).toBeLessThan(LIMIT);
    expect(verified.maxRssBytes).toBeLessThan(LIMIT);
    // The probe measures something real: a node process is never below ~30 MiB.
    expect(verified.maxRssBytes).toBeGreaterThan(20 * 2 ** 20);
  });
});
