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

/** Most items in one batch: the walk's async cost is paid per batch and per directory, not per file. */
const BATCH_ITEMS = 256;

export interface BatchLimits {
  /** Most items in one batch. */
  items: number;
  /** A batch closes once its regular files of at most `smallBytes` sum to this many bytes. */
  bytes: number;
  smallBytes: number;
}

/**
 * Walks the sources in a deterministic order: each source as given, then
 * depth-first with the names of each directory sorted by their bytes. It only
 * hands out work; it opens no file and never follows a symlink. Items come in
 * batches, in walk order, so that a tree of a million small files costs a
 * few thousand async steps rather than millions; `limits` bounds the small
 * files' bytes per batch, which bounds what a reader prefetching a few
 * batches ahead holds.
 */
export async function* walkBatches(sources: readonly string[], options: WalkOptions, limits?: BatchLimits): AsyncGenerator<WalkItem[]> {
  const maxItems = limits?.items ?? BATCH_ITEMS;
  const smallBytes = BigInt(limits?.smallBytes ?? 0);
  let batch: WalkItem[] = [];
  let batchBytes = 0;
  const add = (item: WalkItem): boolean => {
    batch.push(item);
    if (limits && item.kind === 'entry' && item.type === 'file' && item.stat.size <= smallBytes) batchBytes += Number(item.stat.size);
    return batch.length >= maxItems || (limits !== undefined && batchBytes >= limits.bytes);
  };
  const take = (): WalkItem[] => {
    const out = batch;
    batch = [];
    batchBytes = 0;
    return out;
  };
  for (const source of sources) {
    const fsPath = path.resolve(options.cwd, source);
    const name = archiveNameOf(source);
    let stat: FileStat;
    try {
      stat = await fsp.lstat(fsPath, { bigint: true });
    } catch (err) {
      // A source that is not there was never seen: say so plainly, not 'vanished'.
      if (add({ kind: 'skip', fsPath, name, reason: `cannot archive: ${describeSystemError(err)}`, problem: true })) yield take();
      continue;
    }
    // Depth-first with an explicit stack: one frame per open directory.
    const stack: { fsPath: string; name: string; children: Child[]; next: number }[] = [];
    const visit = async (p: string, n: string, st: FileStat, link?: string | Buffer): Promise<boolean> => {
      if (n !== '' && options.exclude(n)) return false;
      const item = await describe(p, n, st, link);
      let full = false;
      if (n !== '' || item.kind === 'skip') full = add(item);
      if (item.kind !== 'entry' || item.type !== 'dir') return full;
      if (options.oneFileSystem && st.dev !== stat.dev) return full;
      try {
        stack.push({ fsPath: p, name: n, children: await listChildren(p), next: 0 });
      } catch (err) {
        full = add({ kind: 'skip', fsPath: p, name: n + '/', reason: `cannot read directory: ${reasonOf(err)}`, problem: true }) || full;
      }
      return full;
    };
    if (await visit(fsPath, name, stat)) yield take();
    while (stack.length > 0) {
      options.signal?.throwIfAborted();
      const top = stack[stack.length - 1]!;
      const child = top.children[top.next++];
      if (child === undefined) {
        stack.pop();
        continue;
      }
      // What path.join gives, without its normalising pass per file: the parent is
      // already absolute and normalised, and a listed name is never '', '.', '..' nor holds a '/'.
      const childPath = top.fsPath === '/' ? `/${child.name ?? child.display}` : `${top.fsPath}/${child.name ?? child.display}`;
      const childName = top.name === '' ? child.display : `${top.name}/${child.display}`;
      let full: boolean;
      if (child.name === null) {
        full = add({ kind: 'skip', fsPath: childPath, name: childName, reason: 'name is not valid UTF-8', problem: true });
      } else if (typeof child.stat === 'string') {
        full = !options.exclude(childName) && add({ kind: 'skip', fsPath: childPath, name: childName, reason: reasonOfCode(child.stat), problem: true });
      } else {
        full = await visit(childPath, childName, child.stat, child.linkTarget);
      }
      if (full) yield take();
    }
  }
  if (batch.length > 0) yield take();
}

/** The walk one item at a time: {@link walkBatches} flattened. */
export async function* walk(sources: readonly string[], options: WalkOptions): AsyncGenerator<WalkItem> {
  for await (const batch of walkBatches(sources, options)) yield* batch;
}

async function describe(fsPath: string, name: string, stat: FileStat, knownLink?: string | Buffer): Promise<WalkItem> {
  // Literal objects of one shape, not spreads of a shared base: one allocation per entry.
  if (stat.isFile()) return { kind: 'entry', fsPath, name, stat, type: 'file' };
  if (stat.isDirectory()) return { kind: 'entry', fsPath, name, stat, type: 'dir' };
  if (stat.isFIFO()) return { kind: 'entry', fsPath, name, stat, type: 'fifo' };
  if (stat.isCharacterDevice()) return { kind: 'entry', fsPath, name, stat, type: 'chardev' };
  if (stat.isBlockDevice()) return { kind: 'entry', fsPath, name, stat, type: 'blockdev' };
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
    return { kind: 'entry', fsPath, name, stat, type: 'symlink', linkTarget: target };
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
