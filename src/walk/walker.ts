import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeSystemError } from '../errors.js';
import type { EntryType } from '../archive/entry-type.js';
import type { FileStat } from '../file-stat.js';
import type { ExcludeMatcher } from './exclude.js';
import { listChildren } from './list-children.js';
import type { Child } from './list-children.js';

/** One path the walk found, lstat'ed, in archive order. */
export interface WalkEntry {
  kind: 'entry';
  /** Where it is on disk. */
  fsPath: string;
  /** Its archive name: as given on the command line, leading `/` stripped, no trailing slash. */
  name: string;
  type: EntryType;
  stat: FileStat;
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

/**
 * Walks the sources in a deterministic order: each source as given, then
 * depth-first with the names of each directory sorted by their bytes. It only
 * hands out work; it opens no file and never follows a symlink.
 */
export async function* walk(sources: readonly string[], options: WalkOptions): AsyncGenerator<WalkItem> {
  for (const source of sources) {
    const fsPath = path.resolve(options.cwd, source);
    const name = archiveNameOf(source);
    let stat: FileStat;
    try {
      stat = await fsp.lstat(fsPath, { bigint: true });
    } catch (err) {
      yield { kind: 'skip', fsPath, name, reason: reasonOf(err), problem: true };
      continue;
    }
    yield* walkFrom(fsPath, name, stat, stat.dev, options);
  }
}

async function* walkFrom(
  fsPath: string,
  name: string,
  stat: FileStat,
  rootDev: bigint,
  options: WalkOptions,
  knownLink?: string | Buffer,
): AsyncGenerator<WalkItem> {
  options.signal?.throwIfAborted();
  if (name !== '' && options.exclude(name)) return;
  const item = await describe(fsPath, name, stat, knownLink);
  if (name !== '' || item.kind === 'skip') yield item;
  if (item.kind !== 'entry' || item.type !== 'dir') return;
  if (options.oneFileSystem && stat.dev !== rootDev) return;

  let children: Child[];
  try {
    children = await listChildren(fsPath);
  } catch (err) {
    yield { kind: 'skip', fsPath, name: name + '/', reason: `cannot read directory: ${reasonOf(err)}`, problem: true };
    return;
  }
  for (const child of children) {
    const childPath = path.join(fsPath, child.name ?? child.display);
    const childName = name === '' ? child.display : `${name}/${child.display}`;
    if (child.name === null) {
      yield { kind: 'skip', fsPath: childPath, name: childName, reason: 'name is not valid UTF-8', problem: true };
    } else if (typeof child.stat === 'string') {
      if (!options.exclude(childName)) yield { kind: 'skip', fsPath: childPath, name: childName, reason: reasonOfCode(child.stat), problem: true };
    } else {
      yield* walkFrom(childPath, childName, child.stat, rootDev, options, child.linkTarget);
    }
  }
}

async function describe(fsPath: string, name: string, stat: FileStat, knownLink?: string | Buffer): Promise<WalkItem> {
  const base = { fsPath, name, stat };
  if (stat.isFile()) return { kind: 'entry', ...base, type: 'file' };
  if (stat.isDirectory()) return { kind: 'entry', ...base, type: 'dir' };
  if (stat.isFIFO()) return { kind: 'entry', ...base, type: 'fifo' };
  if (stat.isCharacterDevice()) return { kind: 'entry', ...base, type: 'chardev' };
  if (stat.isBlockDevice()) return { kind: 'entry', ...base, type: 'blockdev' };
  if (stat.isSymbolicLink()) {
    let target = knownLink;
    if (target === undefined) {
      try {
        const raw = await fsp.readlink(fsPath, { encoding: 'buffer' });
        const text = raw.toString('utf8');
        target = Buffer.from(text, 'utf8').equals(raw) ? text : raw;
      } catch (err) {
        return { kind: 'skip', fsPath, name, reason: reasonOf(err), problem: true };
      }
    }
    if (typeof target !== 'string') return { kind: 'skip', fsPath, name, reason: 'symlink target is not valid UTF-8', problem: true };
    return { kind: 'entry', ...base, type: 'symlink', linkTarget: target };
  }
  if (stat.isSocket()) return { kind: 'skip', fsPath, name, reason: 'socket ignored', problem: false };
  return { kind: 'skip', fsPath, name, reason: 'unknown file type', problem: true };
}

function reasonOfCode(code: string): string {
  return code === 'ENOENT' ? 'vanished' : `cannot lstat: ${code}`;
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
