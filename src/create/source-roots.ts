import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describeSystemError, ioError, SafebakError } from '../errors.js';

export interface SourceRootRules {
  /** Every root must be a mount point. */
  requireMount?: boolean | undefined;
  /** Every root must be a directory holding a file of this name. */
  requireMarker?: string | null | undefined;
}

/**
 * Refuses a run whose source roots are not there to be backed up: a root
 * that does not exist or cannot be read, or (when asked) one that is not a
 * mount point or lacks its marker file. Without this an unmounted disk
 * archives as zero entries that verify as sound, and retention then keeps
 * that empty archive as the newest good one. Runs before the output's
 * temporary is created, so a refusal writes nothing.
 */
export async function checkSourceRoots(sources: readonly string[], cwd: string | undefined, rules: SourceRootRules): Promise<void> {
  if (cwd !== undefined) await checkSourceDirectory(cwd);
  const base = cwd ?? process.cwd();
  let mounts: Set<string> | null = null;
  for (const source of sources) {
    const root = path.resolve(base, source);
    const fail = (why: string, cause?: unknown): SafebakError =>
      new SafebakError('SAFEBAK_SOURCE_MISSING', `source root ${why}; no archive written`, { path: root, cause });
    let stat: fs.Stats;
    try {
      stat = await fsp.lstat(root);
    } catch (err) {
      throw fail(`is missing: ${describeSystemError(err)}`, err);
    }
    // A symlink root is archived as the link itself: there is nothing behind it to read or to check.
    if (stat.isSymbolicLink()) {
      if (rules.requireMount === true || (rules.requireMarker ?? null) !== null) {
        throw fail('is a symbolic link, archived as the link itself: it cannot be checked as a mounted file system (requireMount, requireMarker)');
      }
      continue;
    }
    try {
      if (stat.isDirectory()) await (await fsp.opendir(root)).close();
      else if (stat.isFile()) await (await fsp.open(root, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)).close();
    } catch (err) {
      throw fail(`cannot be read: ${describeSystemError(err)}`, err);
    }
    if (rules.requireMount === true) {
      mounts ??= await readMountPoints();
      if (!(await isMountPoint(root, stat, mounts))) throw fail('is not a mount point (requireMount; is its file system mounted?)');
    }
    const marker = rules.requireMarker;
    if (marker !== null && marker !== undefined) {
      if (!stat.isDirectory()) throw fail(`is not a directory, so it cannot hold the marker file ${marker} (requireMarker)`);
      const found = await fsp.lstat(path.join(root, marker)).catch(() => null);
      if (found === null) throw fail(`lacks its marker file ${marker} (requireMarker; is its file system mounted?)`);
    }
  }
}

/**
 * `-C DIR` must name a directory: otherwise every source would look vanished
 * and an empty archive would pass for a backup.
 */
async function checkSourceDirectory(dir: string): Promise<void> {
  let stat;
  try {
    stat = await fsp.stat(dir);
  } catch (err) {
    throw ioError(dir, err, 'cannot use as the source directory');
  }
  if (!stat.isDirectory()) throw new SafebakError('SAFEBAK_USAGE', 'is not a directory (-C needs one)', { path: dir });
}

/** A root is a mount point when the kernel lists it as one, or its device differs from its parent's. */
async function isMountPoint(root: string, stat: fs.Stats, mounts: Set<string> | null): Promise<boolean> {
  const real = await fsp.realpath(root);
  if (real === '/') return true;
  if (mounts?.has(real)) return true;
  const parent = await fsp.stat(path.dirname(real));
  return parent.dev !== stat.dev;
}

/** Mount points from /proc/self/mountinfo (field 5, octal escapes decoded); null where it cannot be read. */
async function readMountPoints(): Promise<Set<string> | null> {
  let text: string;
  try {
    text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}
