import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileStat } from '../file-stat.js';

const CHUNK = 1024 * 1024;

/**
 * SHA-256 of the first `size` bytes of an open file, read through the page
 * cache: the content re-check of DESIGN §6, the only check that sees mmap
 * stores and writes inside one timestamp tick. A file that now ends early
 * hashes short, which differs from any full-length hash.
 */
export async function hashOpenFile(fh: fsp.FileHandle, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  let pos = 0;
  while (pos < size) {
    signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest('hex');
}

/**
 * {@link hashOpenFile} of a raw descriptor, read through a fresh buffered
 * open of it (`/proc/self/fd/N`): an O_DIRECT descriptor or a snapshot image
 * is re-read through the page cache without disturbing its own offset or flags.
 */
export async function hashFd(fd: number, size: number, signal?: AbortSignal): Promise<string> {
  const fh = await fsp.open(`/proc/self/fd/${fd}`, 'r');
  try {
    return await hashOpenFile(fh, size, signal);
  } finally {
    await fh.close();
  }
}

/** Whether the path still names the inode that was read: null, 'vanished' or 'path now names another file'. */
export async function checkPath(fsPath: string, stat: FileStat): Promise<string | null> {
  try {
    const now = await fsp.lstat(fsPath, { bigint: true });
    return now.ino === stat.ino && now.dev === stat.dev ? null : 'path now names another file';
  } catch {
    return 'vanished';
  }
}
