import { closeSync, constants, promises as fsp, writeSync } from 'node:fs';
import { cloneToTmpfile, errnoCode, openTmpfile } from '../native/native.js';

interface FsCaps {
  reflink?: boolean;
  direct?: boolean;
}

/**
 * What each filesystem of one job can do, found out once per st_dev by
 * trying (DESIGN §5): statfs names cannot tell an xfs made with reflink=1
 * from one without, nor a filesystem that refuses O_DIRECT.
 */
export class FsProbe {
  #caps = new Map<bigint, FsCaps>();

  /** Whether FICLONE worked on this filesystem: undefined until a snapshot tried it. */
  reflink(dev: bigint): boolean | undefined {
    return this.#caps.get(dev)?.reflink;
  }

  /**
   * Whether FICLONE works where images of files in `dir` would go, trying
   * once per filesystem: a block written to an anonymous O_TMPFILE there,
   * cloned into another. A directory that takes no O_TMPFILE leaves it
   * unknown (false for now; a snapshot will try the real file).
   */
  async probeReflink(dev: bigint, dir: string): Promise<boolean> {
    const known = this.reflink(dev);
    if (known !== undefined) return known;
    let probe: number;
    try {
      probe = await openTmpfile(dir);
    } catch {
      return false;
    }
    try {
      writeSync(probe, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
      const clone = await cloneToTmpfile(probe, dir);
      closeSync(clone);
      this.setReflink(dev, true);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== undefined && ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS'].includes(code)) this.setReflink(dev, false);
    } finally {
      closeSync(probe);
    }
    return this.reflink(dev) ?? false;
  }

  setReflink(dev: bigint, value: boolean): void {
    this.#of(dev).reflink = value;
  }

  /**
   * Whether O_DIRECT opens on this filesystem, trying `fsPath` the first
   * time. Errors that say nothing about the filesystem (the file vanished)
   * leave it unknown and answer true: the transfer will report them.
   */
  async direct(dev: bigint, fsPath: string): Promise<boolean> {
    const caps = this.#of(dev);
    if (caps.direct !== undefined) return caps.direct;
    try {
      const fh = await fsp.open(fsPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_DIRECT);
      await fh.close();
      caps.direct = true;
    } catch (err) {
      if (errnoCode(err) !== 'EINVAL') return true;
      caps.direct = false;
    }
    return caps.direct;
  }

  #of(dev: bigint): FsCaps {
    let caps = this.#caps.get(dev);
    if (!caps) this.#caps.set(dev, (caps = {}));
    return caps;
  }
}
