import os from 'node:os';
import { padded } from '../archive/tar-header.js';
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

/** errno number → Node's code ('ENOENT'), for the packed errnos the addon returns. */
const ERRNO_CODES = new Map(Object.entries(os.constants.errno).map(([code, n]) => [n, code]));

function errnoName(n: number): string {
  return ERRNO_CODES.get(n) ?? `errno ${n}`;
}

/**
 * Lists a directory, sorted by name bytes, with every entry lstat'ed and
 * every symlink read, in one trip to the libuv pool. Null when the addon is
 * unavailable (the caller walks with fs.promises). Rejects like fs.readdir.
 * A name or link target that is not valid UTF-8 comes back as a Buffer (of
 * its lossy decoding: the walk only reports such entries, it cannot name them).
 */
export async function scanDir(path: string): Promise<ScannedEntry[] | null> {
  const { addon } = loadNative();
  if (addon === null) return null;
  const raw = await addon.scanDir(path);
  if (raw.count === 0) return [];
  const names = raw.names.split('\0');
  const out: ScannedEntry[] = new Array(raw.count);
  let link = 0;
  for (let i = 0; i < raw.count; i++) {
    const errno = raw.flags[i * 2]!;
    const bits = raw.flags[i * 2 + 1]!;
    const name = bits & 1 ? Buffer.from(names[i]!) : names[i]!;
    if (errno !== 0) {
      out[i] = { name, error: errnoName(errno) };
      continue;
    }
    const stat = new PackedStat(raw.stats, i * STAT_FIELDS);
    let linkTarget: string | Buffer | undefined;
    if (stat.isSymbolicLink()) {
      const target = raw.links[link++]!;
      linkTarget = bits & 2 ? Buffer.from(target) : target;
    }
    out[i] = { name, stat, linkTarget };
  }
  return out;
}

export type LeaseOutcome = 'none' | 'held' | 'refused' | 'broken';

/** One file of {@link readSmallFiles}: its tar entry and everything needed to judge its stability. */
export interface SmallFileRead {
  /** errno code and syscall when the file could not be opened or read. */
  error?: { code: string; syscall: string } | undefined;
  /** It is no longer a regular file. */
  notRegular: boolean;
  /** Larger than maxBytes: nothing was read; stream it instead. */
  tooLarge: boolean;
  /**
   * The batch's finished tar entries, shared by all its files. This file's
   * entry (when it was read) is `entries[entryStart, entryEnd)`: header
   * blocks as the TS encoder writes them for its name, the first stat and
   * `length`, then the `length` bytes read, zero-padded to a block.
   */
  entries: Buffer;
  entryStart: number;
  entryEnd: number;
  /** The bytes read: at most size + 1 (one more than the size shows growth). */
  length: number;
  /** The size the first fstat saw (`before.size`, as a number). */
  expectedLength: number;
  /** Whether any field metadataChanges compares differs between `before` and `after`. */
  moved: boolean;
  /** SHA-256 (hex) of exactly the bytes read, computed on the pool thread that read them. */
  sha256: string;
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
const SYSCALLS = ['open', 'fstat', 'read', 'sha256'];

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
 * lstat; each file read comes back as a finished tar entry under `names[i]`.
 * Null when the addon is unavailable.
 */
export async function readSmallFiles(paths: string[], names: string[], options: SmallReadOptions): Promise<SmallFileRead[] | null> {
  const { addon } = loadNative();
  if (addon === null) return null;
  if (names.length !== paths.length) throw new RangeError('readSmallFiles: names must match paths one to one');
  const raw = await addon.readSmallFiles(
    paths.length,
    paths.join('\0'),
    names.join('\0'),
    options.maxBytes,
    options.lease,
    options.paranoid,
    Math.round(options.recentSeconds * 1e9),
  );
  const out: SmallFileRead[] = new Array(paths.length);
  const { flags, spans, entries } = raw;
  for (let i = 0; i < paths.length; i++) {
    const f = i * 7;
    const errno = flags[f + 4]!;
    const start = spans[i * 4]!;
    const length = spans[i * 4 + 2]!;
    out[i] = {
      error: errno === 0 ? undefined : { code: errnoName(errno), syscall: SYSCALLS[flags[f + 5]!] ?? 'open' },
      notRegular: flags[f] === 1,
      tooLarge: flags[f] === 2,
      entries,
      entryStart: start,
      entryEnd: start + spans[i * 4 + 1]! + padded(length),
      length,
      expectedLength: spans[i * 4 + 3]!,
      moved: flags[f + 6] !== 0,
      sha256: raw.digests.toString('hex', i * 32, i * 32 + 32),
      before: new PackedStat(raw.stats, i * STAT_FIELDS * 2),
      after: new PackedStat(raw.stats, i * STAT_FIELDS * 2 + STAT_FIELDS),
      lease: LEASES[flags[f + 1]!] ?? 'none',
      path: PATHS[flags[f + 2]!] ?? 'same',
      recheck: RECHECKS[flags[f + 3]!] ?? 'none',
    };
  }
  return out;
}

/**
 * Hands a batch's entries buffer back for the next batches once every entry
 * in it has been copied out; until then (or without this call) the garbage
 * collector returns it, later. The buffer and its views read as empty afterwards.
 */
export function releaseEntries(entries: Buffer): void {
  loadNative().addon?.releaseEntries(entries);
}
