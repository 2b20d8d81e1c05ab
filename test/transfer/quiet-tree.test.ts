import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createArchive } from '../../src/create/create-archive.js';
import { verifyArchive } from '../../src/verify/verify-archive.js';
import { nativeMissing } from '../native/native-available.js';
import { createIntoSlowPipe, tarEntries } from './harness.js';

function patterned(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed + (i >> 12)) % 251;
  return b;
}

const FILES: Record<string, Buffer> = {
  'tiny.txt': Buffer.from('hello\n'),
  'empty.bin': Buffer.alloc(0),
  'odd-300001.bin': patterned(300_001, 1),
  'aligned-1m.bin': patterned(1024 * 1024, 2),
  'big-5m-plus.bin': patterned(5 * 1024 * 1024 + 123, 3),
};

describe.skipIf(nativeMissing)('a quiet tree comes out exact with every strategy and output', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-quiet-'));
    await mkdir(join(dir, 'src'));
    for (const [name, data] of Object.entries(FILES)) await writeFile(join(dir, 'src', name), data);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const strategy of ['splice', 'snapshot', 'auto', 'copy'] as const) {
    for (const to of ['pipe', 'tar', 'zst'] as const) {
      it(`${strategy} → ${to}`, async () => {
        const out = join(dir, `${strategy}-${to}.${to === 'zst' ? 'tar.zst' : 'tar'}`);
        // spliceMinBytes lowered so that auto's splice branch runs on test-sized files.
        const options = { sources: ['src'], cwd: dir, strategy, spliceMinBytes: 1024 * 1024, compress: to === 'zst' ? ('zstd' as const) : ('none' as const) };
        const result = to === 'pipe' ? await createIntoSlowPipe(options, out, 0) : await createArchive({ ...options, output: out });
        expect(result.status).toBe(0);
        const verified = await verifyArchive(out);
        expect(verified.status, JSON.stringify(verified.problems)).toBe(0);
        const records = result.records!.filter((r) => r.type === 'file');
        for (const r of records) expect(r.strategyReason, r.path).toBeTruthy();
        if (to !== 'zst') {
          const entries = await tarEntries(await readFile(out));
          for (const [name, data] of Object.entries(FILES)) {
            const e = entries.find((x) => x.name === `src/${name}`);
            expect(e?.data.equals(data), name).toBe(true);
          }
        }
        const big = records.find((r) => r.path === 'src/big-5m-plus.bin')!;
        if (to === 'zst' && strategy === 'splice') {
          expect(big.strategy).toBe('copy');
          expect(big.strategyReason).toMatch(/fell back to copy.*zstd/);
        } else if (strategy !== 'auto' && to !== 'zst') {
          expect(big.strategy).toBe(strategy);
        }
        // auto splices into a pipe; into a file a buffered copy measured faster (choose.ts).
        if (strategy === 'auto' && to === 'pipe') expect(big.strategy).toBe('splice');
        if (strategy === 'auto' && to === 'tar') expect(big.strategy).toBe('copy');
        if (strategy === 'auto') expect(records.find((r) => r.path === 'src/tiny.txt')!.strategy).toBe('copy');
      });
    }
  }
});
