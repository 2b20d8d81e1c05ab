/**
 * Puts entries into place without ever writing through what stands there.
 *
 * Every non-directory entry is first made under a fresh temporary name in its
 * target directory (created with O_EXCL, so never through an existing name or
 * a symlink), then renamed over the final name. rename(2) replaces whatever
 * non-directory stands there — a file, a symlink planted by an earlier entry,
 * a hard link to something outside — without following it; it refuses to
 * replace a directory. Regular files stay under their temporary name, hashed
 * as written, until their manifest record has been checked (verify before
 * install); everything else is made and renamed in one step when its turn
 * comes.
 */
import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { errnoCode } from '../native/native.js';
import type { EntryMeta, MetadataPolicy } from './apply-metadata.js';
import { PathRefused, procPath } from './safe-dir.js';
import type { TargetRoot } from './safe-dir.js';

const fstat = promisify(fs.fstat);
const close = promisify(fs.close);
function write(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** The prefix of every temporary name: `.safebak-<12 hex>.part`. */
export const TEMP_PREFIX = '.safebak-';

/** A regular file written under a temporary name, waiting for its manifest record. */
export interface PendingFile {
  readonly parent: readonly string[];
  readonly name: string;
  readonly tempName: string;
  fd: number | null;
  readonly ino: number;
  written: number;
}

export type PlaceResult = 'installed' | 'exists';

function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(6).toString('hex')}.part`;
}

export class Installer {
  readonly #root: TargetRoot;
  readonly #policy: MetadataPolicy;
  readonly #keepExisting: boolean;
  readonly #live = new Set<PendingFile>();
  #peak = 0;

  constructor(root: TargetRoot, policy: MetadataPolicy, keepExisting: boolean) {
    this.#root = root;
    this.#policy = policy;
    this.#keepExisting = keepExisting;
  }

  /** The most temporary files that existed at once during the run. */
  get peakPending(): number {
    return this.#peak;
  }

  get pending(): number {
    return this.#live.size;
  }

  /** Opens the directory an entry goes into, creating missing parents. Throws PathRefused or SAFEBAK_IO. */
  openParent(parent: readonly string[], create: boolean): number {
    return this.#root.openDir(parent, create ? { lastMode: 0o777 } : false);
  }

  /** Whether something (anything, a dangling symlink included) already has this name. */
  exists(dirFd: number, name: string): boolean {
    try {
      fs.lstatSync(procPath(dirFd, name));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** Starts a pending file; returns null when `keepExisting` finds the name taken. */
  async begin(parent: readonly string[], name: string): Promise<PendingFile | null> {
    const dirFd = this.openParent(parent, true);
    try {
      if (this.#keepExisting && this.exists(dirFd, name)) return null;
      for (;;) {
        const temp = tempName();
        let fd: number;
        try {
          fd = this.#root.createExclusive(dirFd, temp, 0o600);
        } catch (err) {
          if (errnoCode(err) === 'EEXIST') continue;
          throw err;
        }
        const file: PendingFile = { parent, name, tempName: temp, fd, ino: (await fstat(fd)).ino, written: 0 };
        this.#live.add(file);
        this.#peak = Math.max(this.#peak, this.#live.size);
        return file;
      }
    } finally {
      fs.closeSync(dirFd);
    }
  }

  async write(file: PendingFile, chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) off += await write(file.fd!, chunk, off, chunk.length - off);
    file.written += chunk.length;
  }

  /** Closes the temporary file once all its data is written; it stays pending. */
  async finishWriting(file: PendingFile): Promise<void> {
    if (file.fd === null) return;
    const fd = file.fd;
    file.fd = null;
    await close(fd);
  }

  /**
   * Installs a verified pending file: owner, mode and mtime are applied to
   * the temporary file (reopened without following, and checked to be the
   * inode written), then it is renamed into place. Returns the installed
   * inode, or 'exists' under keepExisting.
   */
  async install(file: PendingFile, meta: EntryMeta): Promise<PlaceResult> {
    await this.finishWriting(file);
    const dirFd = this.openParent(file.parent, false);
    try {
      const tempPath = procPath(dirFd, file.tempName);
      const fd = fs.openSync(tempPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const st = await fstat(fd);
        if (!st.isFile() || st.ino !== file.ino) throw new PathRefused(`its temporary file ${file.tempName} was replaced by someone else`);
        await this.#policy.applyToFd(fd, meta, tempPath);
      } finally {
        fs.closeSync(fd);
      }
      const result = await this.#rename(dirFd, file.tempName, file.name, 'file');
      this.#live.delete(file);
      return result;
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** Removes a pending file's temporary name; never fails (a cleanup path). */
  async discard(file: PendingFile): Promise<void> {
    // Installed files have left the pending set: nothing to clean.
    if (!this.#live.delete(file)) return;
    try {
      await this.finishWriting(file);
    } catch {
      // the descriptor is gone either way
    }
    try {
      const dirFd = this.openParent(file.parent, false);
      try {
        await fsp.unlink(procPath(dirFd, file.tempName));
      } finally {
        fs.closeSync(dirFd);
      }
    } catch {
      // already gone, or its directory was: nothing left to clean
    }
  }

  /** Removes every temporary file still pending (failure and abort paths). */
  async discardAll(): Promise<void> {
    for (const file of [...this.#live]) await this.discard(file);
  }

  /**
   * Makes a non-regular entry under a temporary name with `make`, applies
   * `finish` to it, and renames it into place. The temporary name is removed
   * on every failure.
   */
  async place(
    dirFd: number,
    name: string,
    what: string,
    make: (tempPath: string) => Promise<void>,
    finish?: (tempPath: string) => Promise<void>,
  ): Promise<PlaceResult> {
    if (this.#keepExisting && this.exists(dirFd, name)) return 'exists';
    for (;;) {
      const temp = tempName();
      const tempPath = procPath(dirFd, temp);
      try {
        await make(tempPath);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') continue;
        throw err;
      }
      try {
        if (finish) await finish(tempPath);
        return await this.#rename(dirFd, temp, name, what);
      } finally {
        // Also covers rename(2)'s no-op when both names already link the same inode.
        await fsp.unlink(tempPath).catch(() => undefined);
      }
    }
  }

  async #rename(dirFd: number, temp: string, name: string, what: string): Promise<PlaceResult> {
    const from = procPath(dirFd, temp);
    const to = procPath(dirFd, name);
    try {
      if (this.#keepExisting) {
        // link(2) never replaces: the no-clobber rename.
        try {
          await fsp.link(from, to);
        } catch (err) {
          if (errnoCode(err) === 'EEXIST') {
            await fsp.unlink(from);
            return 'exists';
          }
          throw err;
        }
        await fsp.unlink(from);
      } else {
        await fsp.rename(from, to);
      }
      return 'installed';
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new PathRefused(`a directory stands where the ${what} goes; it is not replaced`);
      }
      throw err;
    }
  }
}
