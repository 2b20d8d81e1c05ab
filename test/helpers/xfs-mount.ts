import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A loop-mounted xfs, or why there is none (the tests then skip, printing it). */
export interface XfsMount {
  mountPoint: string | null;
  reason: string;
  cleanup: () => Promise<void>;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function commandFailure(err: unknown): string {
  const e = err as { stderr?: Buffer; message?: string };
  return (e.stderr?.toString().trim() || e.message || String(err)).split('\n')[0] ?? '';
}

/**
 * A 300 MiB image (xfs's minimum) made with reflink=1 and loop-mounted: a
 * real filesystem that clones, whatever the temp dir sits on. `unavailable`
 * names a reason to skip before trying (no addon, say).
 */
export async function mountXfs(unavailable: string | null = null): Promise<XfsMount> {
  const none = async (): Promise<void> => {};
  if (unavailable !== null) return { mountPoint: null, reason: unavailable, cleanup: none };
  if (process.platform !== 'linux') return { mountPoint: null, reason: 'Linux only', cleanup: none };
  try {
    run('mkfs.xfs', ['-V']);
  } catch {
    return { mountPoint: null, reason: 'mkfs.xfs not found (apt-get install xfsprogs)', cleanup: none };
  }
  const work = await mkdtemp(join(tmpdir(), 'safebak-xfs-'));
  const image = join(work, 'xfs.img');
  const mountPoint = join(work, 'mnt');
  let mounted = false;
  const cleanup = async (): Promise<void> => {
    if (mounted) run('umount', [mountPoint]);
    await rm(work, { recursive: true, force: true });
  };
  try {
    run('truncate', ['-s', '300M', image]);
    run('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
    await mkdir(mountPoint);
    run('mount', ['-o', 'loop', image, mountPoint]);
    mounted = true;
    return { mountPoint, reason: 'mounted', cleanup };
  } catch (err) {
    await cleanup();
    return { mountPoint: null, reason: `cannot mount an xfs image: ${commandFailure(err)}`, cleanup: none };
  }
}
