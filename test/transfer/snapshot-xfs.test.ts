import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { createArchive } from '../../src/create/create-archive.js';
import { verifyArchive } from '../../src/verify/verify-archive.js';
import { nativeMissing } from '../native/native-available.js';
import { mountXfs } from '../helpers/xfs-mount.js';
import { createIntoSlowPipe, exited, oneVersion, startRewriter, tarEntries } from './harness.js';

const xfs = await mountXfs(nativeMissing ? 'native addon unavailable' : null);
if (xfs.mountPoint === null) console.warn(`snapshot-on-xfs tests skipped: ${xfs.reason}`);

describe.skipIf(xfs.mountPoint === null)('the snapshot strategy on a filesystem that clones (loop xfs, reflink=1)', () => {
  const mnt = xfs.mountPoint ?? '';
  const out = (name: string): string => join(mnt, '..', name);

  afterAll(async () => {
    await xfs.cleanup();
  });

  it('forced snapshot uses the reflink clone and archives exact bytes', async () => {
    await mkdir(join(mnt, 'tree'), { recursive: true });
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 'x');
    await writeFile(join(mnt, 'tree', 'big.bin'), data);
    await writeFile(join(mnt, 'tree', 'small.txt'), 'small\n');
    const result = await createArchive({ sources: ['tree'], cwd: mnt, output: out('forced.tar'), strategy: 'snapshot' });
    expect(result.status).toBe(0);
    for (const r of result.records!.filter((x) => x.type === 'file')) {
      expect(r.strategy).toBe('snapshot');
      expect(r.strategyReason).toMatch(/reflink clone/);
    }
    const entries = await tarEntries(await readFile(out('forced.tar')));
    expect(entries.find((e) => e.name === 'tree/big.bin')!.data.equals(data)).toBe(true);
  });

  it('auto snapshots large files here (the filesystem clones), copies small ones', async () => {
    const result = await createArchive({ sources: ['tree'], cwd: mnt, output: out('auto.tar'), strategy: 'auto' });
    const big = result.records!.find((r) => r.path === 'tree/big.bin')!;
    expect(big.strategy).toBe('snapshot');
    expect(big.strategyReason).toMatch(/clones.*reflink clone/);
    expect(result.records!.find((r) => r.path === 'tree/small.txt')!.strategy).toBe('copy');
  });

  it('auto with zstd output still snapshots large files: the reflink is free', async () => {
    const result = await createArchive({ sources: ['tree'], cwd: mnt, output: out('auto.tar.zst'), strategy: 'auto' });
    const big = result.records!.find((r) => r.path === 'tree/big.bin')!;
    expect(big.strategy).toBe('snapshot');
    expect(big.strategyReason).toMatch(/reflink is free/);
    expect((await verifyArchive(out('auto.tar.zst'))).status).toBe(0);
  });

  it('snapshot into a slow pipe while a writer rewrites a file in place: one whole version or flagged', async () => {
    const size = 4 * 1024 * 1024;
    const live = join(mnt, 'tree', 'live.bin');
    await writeFile(live, Buffer.alloc(size, 'A'));
    const writer = await startRewriter(live, 'hold', size, 0.05);
    let result;
    try {
      result = await createIntoSlowPipe({ sources: ['tree'], cwd: mnt, strategy: 'snapshot', compress: 'none' }, out('live.captured'), 2);
    } finally {
      writer.kill();
      await exited(writer);
    }
    expect((await verifyArchive(out('live.captured'))).problems).toEqual([]);
    const entries = (await tarEntries(await readFile(out('live.captured')))).filter((e) => e.name === 'tree/live.bin');
    const recs = result.records!.filter((r) => r.path === 'tree/live.bin');
    recs.forEach((r, i) => {
      expect(r.strategyReason).toMatch(/reflink clone/);
      if (r.status === 'ok') expect(oneVersion(entries[i]!.data)).toBe(true);
    });
  });
});
