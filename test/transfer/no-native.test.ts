import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Set before the modules load: loadNative() reads it once per module graph, and vitest gives each test file its own.
process.env['SAFEBAK_NO_NATIVE'] = '1';
const { createArchive } = await import('../../src/create/create-archive.js');
const { verifyArchive } = await import('../../src/verify/verify-archive.js');
const { loadNative } = await import('../../src/native/native.js');

describe('SAFEBAK_NO_NATIVE=1: every strategy falls back to copy and says why', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-nonative-'));
    await mkdir(join(dir, 'tree'));
    await writeFile(join(dir, 'tree', 'big.bin'), Buffer.alloc(2 * 1024 * 1024 + 3, 'n'));
    await writeFile(join(dir, 'tree', 'small.txt'), 'x');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the addon is off', () => {
    expect(loadNative().addon).toBeNull();
  });

  for (const strategy of ['auto', 'splice', 'snapshot', 'copy'] as const) {
    it(`--strategy ${strategy}`, async () => {
      const output = join(dir, `${strategy}.tar`);
      const result = await createArchive({ sources: ['tree'], cwd: dir, output, strategy });
      expect(result.status).toBe(0);
      expect(result.strategies.splice + result.strategies.snapshot).toBe(0);
      for (const r of result.records!.filter((x) => x.type === 'file')) {
        expect(r.strategy).toBe('copy');
        if (strategy === 'copy') expect(r.strategyReason).toMatch(/forced by --strategy copy/);
        else if (strategy === 'auto') expect(r.strategyReason).toMatch(/native addon unavailable.*SAFEBAK_NO_NATIVE/);
        else expect(r.strategyReason).toMatch(new RegExp(`--strategy ${strategy} fell back to copy: native addon unavailable`));
      }
      expect((await verifyArchive(output)).status).toBe(0);
    });
  }
});
