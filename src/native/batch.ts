import { PackedStat, STAT_FIELDS } from '../file-stat.js';
import type { FileStat } from '../file-stat.js';
import { loadNative } from './native.js';

/** One directory entry from {@link scanDir}, lstat'ed. */
export interface ScannedEntry {
  /** The name, or its raw bytes when they are not valid UTF-8. */
  name: string | Buffer;
  /** errno code of the lstat or readlink ('ENOENT': vanished since the readdir). */
  error?: string | undefined;
  stat?: FileStat | undefined;
  /** A symlink's target (raw bytes when not valid UTF-8). */
  linkTarget?: string | Buffer | undefined;
}

/**
 * Lists a directory, sorted by name bytes, with every entry lstat'ed and
 * every symlink read, in one trip to the libuv pool. Null when the addon is
 * unavailable (the caller walks with fs.promises). Rejects like fs.readdir.
 */
export async function scanDir(path: string): Promise<ScannedEntry[] | null> {
  const { addon } = loadNative();
  if (addon === null) return null;
  const raw = await addon.scanDir(path);
  return raw.names.map((name, i) => {
    const error = raw.errors[i];
    return {
      name,
      error,
      stat: error === undefined ? new PackedStat(raw.stats, i * STAT_FIELDS) : undefined,
      linkTarget: raw.links[i],
    };
  });
}

export type LeaseOutcome = 'none' | 'held' | 'refused' | 'broken';

/** One file of {@link readSmallFiles}: its bytes and everything needed to judge its stability. */
export interface SmallFileRead {
  /** errno code and syscall when the file could not be opened or read. */
  error?: { code: string; syscall: string } | undefined;
  /** It is no longer a regular file. */
  notRegular: boolean;
  /** Larger than maxBytes: nothing was read; stream it instead. */
  tooLarge: boolean;
  /** The bytes read: at most size + 1 (one more than the size shows growth). */
  data: Buffer;
  before: FileStat;
  after: FileStat;
  /** The read lease: not taken, held throughout, refused (the file is hot), or broken by a writer. */
  lease: LeaseOutcome;
  /** lstat of the path after the read: the same inode, gone, or another file. */
  path: 'same' | 'vanished' | 'other';
  /** The content re-read (DESIGN §6): not made, same bytes, or different bytes. */
  recheck: 'none' | 'same' | 'differs';
}

const LEASES: LeaseOutcome[] = ['none', 'held', 'refused', 'broken'];
const PATHS = ['same', 'vanished', 'other'] as const;
const RECHECKS = ['none', 'same', 'differs'] as const;
const EMPTY = Buffer.alloc(0);

export interface SmallReadOptions {
  maxBytes: number;
  /** Take a read lease around each read (files this user owns, or any as root). */
  lease: boolean;
  /** Re-read every file; otherwise only those no lease watched (hot, not ours) and those modified within `recentSeconds`. */
  paranoid: boolean;
  recentSeconds: number;
}

/**
 * Reads many small files whole in one trip to the libuv pool: per file open,
 * fstat, optional lease, read, fstat, lease check, optional re-read, close,
 * lstat. Null when the addon is unavailable.
 */
export async function readSmallFiles(paths: string[], options: SmallReadOptions): Promise<SmallFileRead[] | null> {
  const { addon } = loadNative();
  if (addon === null) return null;
  const raw = await addon.readSmallFiles(paths, options.maxBytes, options.lease, options.paranoid, Math.round(options.recentSeconds * 1e9));
  return paths.map((_, i) => {
    const f = raw.flags.subarray(i * 4, i * 4 + 4);
    return {
      error: raw.errors[i],
      notRegular: f[0] === 1,
      tooLarge: f[0] === 2,
      data: raw.spans[i * 2 + 1] === 0 ? EMPTY : raw.data.subarray(raw.spans[i * 2]!, raw.spans[i * 2]! + raw.spans[i * 2 + 1]!),
      before: new PackedStat(raw.stats, i * STAT_FIELDS * 2),
      after: new PackedStat(raw.stats, i * STAT_FIELDS * 2 + STAT_FIELDS),
      lease: LEASES[f[1]!] ?? 'none',
      path: PATHS[f[2]!] ?? 'same',
      recheck: RECHECKS[f[3]!] ?? 'none',
    };
  });
}
