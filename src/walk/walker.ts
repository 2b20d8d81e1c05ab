import { promises as fsp } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { describeSystemError } from '../errors.js';
import type { EntryType } from '../archive/entry-type.js';
import type { ExcludeMatcher } from './exclude.js';

/** One path the walk found, lstat'ed, in archive order. */
export interface WalkEntry {
  kind: 'entry';
  /** Where it is on disk. */
  fsPath: string;
  /** Its archive name: as given on the command line, leading `/` stripped, no trailing slash. */
  name: string;
  type: EntryType;
  stat: BigIntStats;
  linkTarget?: string | undefined;
}

/** A path the walk met but cannot archive; the run records it and goes on. */
export interface WalkSkip {
  kind: 'skip';
  fsPath: string;
  name: string;
  reason: string;
  /** `true` when this is a problem (unreadable, vanished), `false` for a plain note (a socket). */
  problem: boolean;
}

export type WalkItem = WalkEntry | WalkSkip;

export interface WalkOptions {
  /** Directory that relative sources are resolved against (`-C DIR`). */
  cwd: string;
  exclude: ExcludeMatcher;
  oneFileSystem: boolean;
  signal?: AbortSignal | undefined;
}

/** How many lstat calls one directory keeps in flight: one awaited call at a time costs ~55 µs each. */
const LSTAT_BATCH = 64;

/**
 * Walks the sources in a deterministic order: each source as given, then
 * depth-first with the names of each directory sorted by their bytes. It only
 * hands out work; it opens no file and never follows a symlink.
 */
export async function* walk(sources: readonly string[], options: WalkOptions): AsyncGenerator<WalkItem> {
  for (const source of sources) {
    const fsPath = path.resolve(options.cwd, source);
    const name = archiveNameOf(source);
    let stat: BigIntStats;
    try {
      stat = await fsp.lstat(fsPath, { bigint: true });
    } catch (err) {
      yield { kind: 'skip', fsPath, name, reason: reasonOf(err), problem: true };
      continue;
    }
    yield* walkFrom(fsPath, name, stat, stat.dev, options);
  }
}

async function* walkFrom(fsPath: string, name: string, stat: BigIntStats, rootDev: bigint, options: WalkOptions): AsyncGenerator<WalkItem> {
  options.signal?.throwIfAborted();
  if (name !== '' && options.exclude(name)) return;
  const item = await describe(fsPath, name, stat);
  if (name !== '' || item.kind === 'skip') yield item;
  if (item.kind !== 'entry' || item.type !== 'dir') return;
  if (options.oneFileSystem && stat.dev !== rootDev) return;

  let children: Buffer[];
  try {
    children = await fsp.readdir(fsPath, { encoding: 'buffer' });
  } catch (err) {
    yield { kind: 'skip', fsPath, name: name + '/', reason: `cannot read directory: ${reasonOf(err)}`, problem: true };
    return;
  }
  children.sort(Buffer.compare);
  for (let i = 0; i < children.length; i += LSTAT_BATCH) {
    const batch = children.slice(i, i + LSTAT_BATCH).map((raw) => {
      const base = raw.toString('utf8');
      const childPath = path.join(fsPath, base);
      const childName = name === '' ? base : `${name}/${base}`;
      // A name that is not valid UTF-8 cannot round-trip through a string path.
      const valid = Buffer.from(base, 'utf8').equals(raw);
      const stat = valid ? fsp.lstat(childPath, { bigint: true }).catch((err: unknown) => err as Error) : null;
      return { childPath, childName, valid, stat };
    });
    for (const child of batch) {
      if (!child.valid) {
        yield { kind: 'skip', fsPath: child.childPath, name: child.childName, reason: 'name is not valid UTF-8', problem: true };
        continue;
      }
      const st = await child.stat!;
      if (st instanceof Error) {
        if (!options.exclude(child.childName)) {
          yield { kind: 'skip', fsPath: child.childPath, name: child.childName, reason: reasonOf(st), problem: true };
        }
        continue;
      }
      yield* walkFrom(child.childPath, child.childName, st, rootDev, options);
    }
  }
}

async function describe(fsPath: string, name: string, stat: BigIntStats): Promise<WalkItem> {
  const base = { fsPath, name, stat };
  if (stat.isFile()) return { kind: 'entry', ...base, type: 'file' };
  if (stat.isDirectory()) return { kind: 'entry', ...base, type: 'dir' };
  if (stat.isFIFO()) return { kind: 'entry', ...base, type: 'fifo' };
  if (stat.isCharacterDevice()) return { kind: 'entry', ...base, type: 'chardev' };
  if (stat.isBlockDevice()) return { kind: 'entry', ...base, type: 'blockdev' };
  if (stat.isSymbolicLink()) {
    try {
      const raw = await fsp.readlink(fsPath, { encoding: 'buffer' });
      const target = raw.toString('utf8');
      if (!Buffer.from(target, 'utf8').equals(raw)) {
        return { kind: 'skip', fsPath, name, reason: 'symlink target is not valid UTF-8', problem: true };
      }
      return { kind: 'entry', ...base, type: 'symlink', linkTarget: target };
    } catch (err) {
      return { kind: 'skip', fsPath, name, reason: reasonOf(err), problem: true };
    }
  }
  if (stat.isSocket()) return { kind: 'skip', fsPath, name, reason: 'socket ignored', problem: false };
  return { kind: 'skip', fsPath, name, reason: 'unknown file type', problem: true };
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'vanished';
  return describeSystemError(err);
}

/**
 * The archive name of a source as GNU tar forms it: leading `/` and `../`
 * stripped (an archive never names a path outside its root), `.` segments
 * and trailing slashes dropped.
 */
export function archiveNameOf(source: string): string {
  let name = path.posix.normalize(source.replace(/\/+$/, '') || '/');
  name = name.replace(/^(\/|\.\.\/)+/, '');
  if (name === '..' || name === '/') name = '';
  return name;
}
