import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createArchive } from '../../src/create/create-archive.js';
import { LEASE_BROKEN } from '../../src/transfer/lease.js';
import { verifyArchive } from '../../src/verify/verify-archive.js';
import { nativeMissing } from '../native/native-available.js';
import { createIntoSlowPipe, exited } from './harness.js';

const BIG = 24 * 1024 * 1024;

/** A child that opens `path` for writing (optionally after a delay), reports how long the open took, and holds it for `holdMs`. */
function openForWrite(path: string, delayMs: number, holdMs: number): { child: ChildProcess; out: Promise<string>; opened: Promise<void> } {
  const script =
    'import os,sys,time\ntime.sleep(float(sys.argv[2]))\nt=time.time()\nfd=os.open(sys.argv[1],os.O_WRONLY)\n' +
    "sys.stdout.write('opened %.3f\\n' % (time.time()-t)); sys.stdout.flush()\ntime.sleep(float(sys.argv[3]))\nos.close(fd)\n";
  const child = spawn('python3', ['-c', script, path, String(delayMs / 1000), String(holdMs / 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  const opened = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { child, out: exited(child).then(() => text), opened };
}

describe.skipIf(nativeMissing)('read leases as a change signal (DESIGN §6)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-leases-'));
    await mkdir(join(dir, 'tree'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const strategy of ['auto', 'copy', 'splice'] as const) {
    it(`${strategy}: a lease refused while a writer holds the file open makes it hot, recorded in strategyReason; still ok`, async () => {
      await writeFile(join(dir, 'tree', 'held.bin'), Buffer.alloc(1024 * 1024, 'h'));
      await writeFile(join(dir, 'tree', 'small.txt'), 'small but held\n');
      const big = openForWrite(join(dir, 'tree', 'held.bin'), 0, 60_000);
      const small = openForWrite(join(dir, 'tree', 'small.txt'), 0, 60_000);
      try {
        await Promise.all([big.opened, small.opened]);
        const result = await createArchive({ sources: ['tree'], cwd: dir, output: join(dir, `held-${strategy}.tar`), strategy });
        const held = result.records!.find((r) => r.path === 'tree/held.bin')!;
        expect(held.status).toBe('ok');
        expect(held.strategyReason).toMatch(/hot/);
        if (strategy === 'auto') expect(held.strategy).toBe('copy');
        const s = result.records!.find((r) => r.path === 'tree/small.txt')!;
        expect(s.status).toBe('ok');
        expect(s.strategyReason).toMatch(/hot/);
      } finally {
        big.child.kill();
        small.child.kill();
        await Promise.all([exited(big.child), exited(small.child)]);
      }
    });
  }

  for (const strategy of ['splice', 'copy'] as const) {
    it(`${strategy}: a writer opening the file mid-transfer breaks the lease → changed, released at once, retried; the process lives`, async () => {
      const file = join(dir, 'tree', 'big.bin');
      await rm(join(dir, 'tree', 'held.bin'), { force: true });
      await rm(join(dir, 'tree', 'small.txt'), { force: true });
      await writeFile(file, Buffer.alloc(BIG, 'b'));
      // The slow reader makes the transfer take a second or more; the writer opens 250 ms in.
      const writer = openForWrite(file, 250, 0);
      const result = await createIntoSlowPipe({ sources: ['tree'], cwd: dir, strategy, compress: 'none' }, join(dir, `broken-${strategy}.captured`), 2);
      const text = await writer.out;
      const recs = result.records!.filter((r) => r.path === 'tree/big.bin');
      expect(recs[0]!.status).toBe('changed');
      expect(recs[0]!.reasons).toContain(LEASE_BROKEN);
      expect(recs.at(-1)!.status).toBe('ok');
      expect(result.retried).toBeGreaterThanOrEqual(1);
      // The writer waited at most a moment, far inside lease-break-time (45 s).
      expect(Number(/opened ([\d.]+)/.exec(text)?.[1])).toBeLessThan(1);
      const verified = await verifyArchive(join(dir, `broken-${strategy}.captured`));
      expect(verified.problems).toEqual([]);
    });
  }

  it('snapshot: the source lease is let go once the image is made, so a writer during the slow send is no change', async () => {
    const file = join(dir, 'tree', 'big.bin');
    await writeFile(file, Buffer.alloc(BIG, 's'));
    const writer = openForWrite(file, 400, 0);
    const result = await createIntoSlowPipe({ sources: ['tree'], cwd: dir, strategy: 'snapshot', compress: 'none' }, join(dir, 'snap.captured'), 2);
    const text = await writer.out;
    const recs = result.records!.filter((r) => r.path === 'tree/big.bin');
    expect(recs.map((r) => r.status)).toEqual(['ok']);
    expect(Number(/opened ([\d.]+)/.exec(text)?.[1])).toBeLessThan(1);
  });
});
