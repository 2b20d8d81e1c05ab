/**
 * Kernel-checked path resolution inside the extraction target.
 *
 * Every directory an entry lands in is reached from a descriptor of the
 * target root, one step the kernel checks at a time, never by a path string
 * the kernel would resolve on its own:
 *
 * - `kernel`: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (native
 *   addon). A symlink anywhere in the path fails with ELOOP, an escape with
 *   EXDEV, atomically with the lookup.
 * - `fdwalk`: no addon. Each component is opened relative to its parent's
 *   descriptor with O_DIRECTORY | O_NOFOLLOW. Node has no *at() calls, so
 *   "relative to a descriptor" is spelled `/proc/self/fd/N/name`: the kernel
 *   follows the magic link to the very directory the descriptor pins
 *   (whatever has been renamed since) and then looks up one component that
 *   contains no `/` and is never `..`. Linux-only, as is safebak.
 *
 * Final operations (rename, link, symlink, chmod…) also go through
 * `/proc/self/fd/N/name` for the same reason: the directory is the one that
 * was checked, and only the last component is looked up, by calls that do
 * not follow it.
 */
import fs from 'node:fs';
import { ioError } from '../errors.js';
import { errnoCode, loadNative, nativeConstants, openat2 } from '../native/native.js';

export type ResolverMode = 'kernel' | 'fdwalk';

/** An entry whose path the kernel (or the checks around it) would not let inside the target. */
export class PathRefused extends Error {
  override readonly name = 'PathRefused';
}

/** The path naming `name` inside the directory open on `fd` (or the directory itself). */
export function procPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** Mode of directories created only because an entry below them needs them (umask applies, as with GNU tar). */
const IMPLICIT_DIR_MODE = 0o777;
/** Mode of directories with their own entry until their metadata is applied at the end: nobody else can enter meanwhile. */
export const EXPLICIT_DIR_MODE = 0o700;

/** The extraction target, held open by descriptor for the whole run. */
export class TargetRoot {
  readonly mode: ResolverMode;
  readonly dir: string;
  readonly #rootFd: number;
  readonly #flags: { dirOpen: number; resolve: number };
  #closed = false;

  private constructor(dir: string, rootFd: number, mode: ResolverMode) {
    this.dir = dir;
    this.#rootFd = rootFd;
    this.mode = mode;
    if (mode === 'kernel') {
      const c = nativeConstants();
      this.#flags = { dirOpen: c.O_PATH | c.O_DIRECTORY, resolve: c.RESOLVE_BENEATH | c.RESOLVE_NO_SYMLINKS };
    } else {
      this.#flags = { dirOpen: fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW, resolve: 0 };
    }
  }

  /**
   * Opens the target directory (the caller named it: following a symlink
   * there is the caller's choice). `mode` defaults to `kernel` when the
   * native addon is loaded.
   */
  static open(dir: string, mode?: ResolverMode): TargetRoot {
    const chosen = mode ?? (loadNative().addon !== null ? 'kernel' : 'fdwalk');
    if (chosen === 'kernel' && loadNative().addon === null) {
      throw ioError(dir, new Error(`the kernel resolver needs the native addon: ${loadNative().reason}`));
    }
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (err) {
      throw ioError(dir, err, 'cannot open the extraction target');
    }
    return new TargetRoot(dir, fd, chosen);
  }

  /**
   * Opens the directory at `components` below the root and returns a new
   * descriptor the caller closes. With `create`, missing directories are
   * made (the last one with `lastMode`). Throws PathRefused when a component
   * is a symlink or not a directory; other failures as SAFEBAK_IO.
   */
  openDir(components: readonly string[], create: false | { lastMode: number }): number {
    if (this.mode === 'kernel') {
      // The fast path: one lookup of the whole path. Any failure is retried
      // step by step, which also names the component that failed.
      try {
        return openat2(this.#rootFd, components.length === 0 ? '.' : components.join('/'), this.#flags.dirOpen, 0, this.#flags.resolve);
      } catch {
        // fall through
      }
    }
    let fd = this.#step(this.#rootFd, '.', '.');
    try {
      components.forEach((name, i) => {
        const shown = components.slice(0, i + 1).join('/');
        let next: number;
        try {
          next = this.#step(fd, name, shown);
        } catch (err) {
          if (!create || errnoCode(err) !== 'ENOENT') throw err;
          try {
            fs.mkdirSync(procPath(fd, name), i === components.length - 1 ? create.lastMode : IMPLICIT_DIR_MODE);
          } catch (mkdirErr) {
            if (errnoCode(mkdirErr) !== 'EEXIST') throw ioError(shown, mkdirErr, 'cannot create directory');
          }
          next = this.#step(fd, name, shown);
        }
        fs.closeSync(fd);
        fd = next;
      });
      return fd;
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Opens one component below `dirFd`, refusing symlinks and non-directories. */
  #step(dirFd: number, name: string, shown: string): number {
    try {
      if (this.mode === 'kernel') return openat2(dirFd, name, this.#flags.dirOpen, 0, this.#flags.resolve);
      // The descriptor's own magic link must be followed; O_NOFOLLOW is for the component.
      if (name === '.') return fs.openSync(procPath(dirFd), this.#flags.dirOpen & ~fs.constants.O_NOFOLLOW);
      return fs.openSync(procPath(dirFd, name), this.#flags.dirOpen);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') throw err;
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR: look at what stands there to say which.
        let isLink = code === 'ELOOP';
        try {
          isLink = fs.lstatSync(procPath(dirFd, name)).isSymbolicLink();
        } catch {
          // keep the errno's reading
        }
        throw new PathRefused(isLink ? `${shown} is a symlink: extraction never follows one` : `${shown} is not a directory`);
      }
      if (code === 'EXDEV') throw new PathRefused(`${shown} resolves outside the target`);
      throw ioError(shown, err, 'cannot open directory');
    }
  }

  /** Creates `name` in the directory open on `dirFd`, exclusively (never through an existing name or symlink). */
  createExclusive(dirFd: number, name: string, mode: number): number {
    if (this.mode === 'kernel') {
      const c = nativeConstants();
      return openat2(dirFd, name, c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, mode, this.#flags.resolve);
    }
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    return fs.openSync(procPath(dirFd, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.#rootFd);
  }
}
