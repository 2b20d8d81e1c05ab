import { execFileSync } from 'node:child_process';
import type { TestContext } from 'vitest';
import { makeTempDir, removeDir } from './tmp-dir.js';

/**
 * Runs `body` on a fresh ramfs, a filesystem that refuses O_DIRECT (tmpfs
 * takes it since Linux 6.6), and unmounts it afterwards. Where mounting is
 * refused the test is skipped, with the reason printed.
 */
export async function withRamfs(ctx: TestContext, body: (mountPoint: string) => Promise<void>): Promise<void> {
  const mnt = makeTempDir('ramfs');
  try {
    try {
      execFileSync('mount', ['-t', 'ramfs', 'ramfs', mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      console.log(`skipped: cannot mount a ramfs: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
      ctx.skip();
    }
    try {
      await body(mnt);
    } finally {
      execFileSync('umount', [mnt]);
    }
  } finally {
    removeDir(mnt);
  }
}
