/**
 * Ownership, permission bits and modification times of extracted entries,
 * applied as GNU tar does: all mode bits and the recorded owner when running
 * as root; the umask (and no set-id bits) otherwise.
 */
import fs, { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { loadNative } from '../native/native.js';

export interface EntryMeta {
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
}

const fchown = promisify(fs.fchown);
const fchmod = promisify(fs.fchmod);
const futimes = promisify(fs.futimes);

/**
 * The optional nanosecond setter. Node's utimes family passes times through
 * libuv, which truncates them to microseconds; exact nanoseconds need
 * utimensat(2) from the addon. Until the addon exports it, mtimes are
 * restored to the microsecond.
 */
type Utimensat = (path: string, mtimeSec: number, mtimeNsec: number, nofollow: boolean) => void;

/** How this run applies metadata; decided once (effective uid, umask). */
export class MetadataPolicy {
  readonly isRoot: boolean;
  readonly umask: number;
  readonly #utimensat: Utimensat | null;

  constructor() {
    this.isRoot = process.geteuid?.() === 0;
    // Reading the umask has no side effect; the argument-less form only reads it.
    this.umask = process.umask();
    const addon = loadNative().addon as unknown as { utimensat?: Utimensat } | null;
    this.#utimensat = typeof addon?.utimensat === 'function' ? addon.utimensat : null;
  }

  /** Whether mtimes are restored to the nanosecond (else to the microsecond). */
  get nanosecondTimes(): boolean {
    return this.#utimensat !== null;
  }

  mode(recorded: number): number {
    return this.isRoot ? recorded & 0o7777 : recorded & ~this.umask & 0o1777;
  }

  /** Applies owner, mode and mtime through an open descriptor of a regular file or directory. */
  async applyToFd(fd: number, meta: EntryMeta, pathForTimes: string): Promise<void> {
    // chown first: it clears set-id bits that chmod then sets.
    if (this.isRoot) await fchown(fd, meta.uid, meta.gid);
    await fchmod(fd, this.mode(meta.mode));
    await this.#setTimes(pathForTimes, meta, false, fd);
  }

  /** Applies owner, mode and mtime to a path whose last component is not followed by the caller's construction (a directory's `/proc/self/fd/N`). */
  async applyToPath(path: string, meta: EntryMeta): Promise<void> {
    if (this.isRoot) await fsp.chown(path, meta.uid, meta.gid);
    await fsp.chmod(path, this.mode(meta.mode));
    await this.#setTimes(path, meta, false);
  }

  /** Owner and mtime of a symlink itself (its mode is meaningless on Linux). */
  async applyToLink(path: string, meta: EntryMeta): Promise<void> {
    if (this.isRoot) await fsp.lchown(path, meta.uid, meta.gid);
    await this.#setTimes(path, meta, true);
  }

  async #setTimes(path: string, meta: EntryMeta, nofollow: boolean, fd?: number): Promise<void> {
    if (this.#utimensat) {
      this.#utimensat(path, meta.mtimeSec, meta.mtimeNsec, nofollow);
      return;
    }
    const mtime = microsecondTime(meta.mtimeSec, meta.mtimeNsec);
    const atime = Date.now() / 1000;
    if (fd !== undefined) await futimes(fd, atime, mtime);
    else if (nofollow) await fsp.lutimes(path, atime, mtime);
    else await fsp.utimes(path, atime, mtime);
  }
}

/**
 * Seconds as the double that libuv turns back into exactly the recorded
 * microsecond: it truncates `(t - sec) * 1e9` to a multiple of 1000, so aim
 * at the middle of the microsecond rather than its edge.
 */
function microsecondTime(sec: number, nsec: number): number {
  return sec + (Math.floor(nsec / 1000) * 1000 + 500) / 1e9;
}
