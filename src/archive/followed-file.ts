import fs from 'node:fs';
import { ioError, SafebakError } from '../errors.js';
import { allocAligned, DIRECT_BLOCK, directLength, loadNative, preadDirect, startWriteback } from '../native/native.js';

/** One direct read: large enough for the device to stream (1 MiB reads ran as fast as 4 MiB here), a multiple of every block size. */
const READ_BYTES = 1024 * 1024;
/** Appended bytes gathered before their writeback is started. */
const WRITEBACK_STEP = 16 * 1024 * 1024;
/**
 * How far the reader stays behind the end while the file grows: a direct read
 * of pages still being written back waits for that writeback while holding
 * the inode lock, and stalls the writer meanwhile. The archive writer writes
 * directly (archive-file-writer.ts), so little is ever in writeback; what
 * the lag costs is the tail left to read back once the writer is done. With
 * 64 MiB, a create of the bench's large tree to `.tar.zst` spent 0.2–0.3 s
 * after its last write decoding and hashing that tail alone, with 8 MiB
 * under 0.1 s; its `.tar` took the same time with either.
 */
const LAG_BYTES = 8 * 1024 * 1024;
/** How often a reader that caught up with the writer looks at the file's size again. */
const POLL_MS = 5;

/**
 * Reads back a file that this process is still appending to: the read-back
 * of an archive while it is being written (DESIGN §7), so that re-reading
 * overlaps with making it instead of following it.
 *
 * Every read is O_DIRECT: it comes from the device, never from the pages
 * this process just wrote (the kernel writes a range back before reading it
 * directly). Only whole completed writes are read — the file's size says how
 * far they reach — and writeback of what was appended is started as it
 * grows, so the disk writes while the archive is still being made. The
 * writer must only append, and calls `end()` once the file is complete and
 * fsynced; `chunks()` then reads to the final size.
 */
export class FollowedFile {
  readonly path: string;
  #fd: number;
  #ended = false;
  #cancelled: Error | null = null;
  #wake: (() => void) | null = null;
  #writebackFrom = 0;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens `path` for direct reads, or returns why it cannot be followed (no
   * addon, a filesystem without O_DIRECT): the caller then reads it back
   * whole after writing it.
   */
  static async open(path: string): Promise<FollowedFile | string> {
    const native = loadNative();
    if (native.addon === null) return `no native addon (${native.reason})`;
    try {
      // Opened by Node (not the addon) so that a worker thread may close it.
      const fd = await new Promise<number>((resolve, reject) =>
        fs.open(path, fs.constants.O_RDONLY | fs.constants.O_DIRECT | fs.constants.O_NOFOLLOW, (err, got) => (err ? reject(err) : resolve(got))),
      );
      return new FollowedFile(path, fd);
    } catch (err) {
      return `cannot open it for direct reads: ${(err as Error).message}`;
    }
  }

  /** The writer is done: the file has its final size and is on the disk. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** Stops the reader: its next step rejects with `reason`. */
  cancel(reason: Error = new Error('read-back cancelled')): void {
    this.#cancelled ??= reason;
    this.#wake?.();
  }

  /**
   * The file's bytes in order. A chunk is valid only until the next is asked
   * for (two buffers alternate: one is read into while the other is used).
   * Closes the descriptor when done, failed or returned early.
   */
  async *chunks(): AsyncGenerator<Buffer> {
    const buffers = [allocAligned(READ_BYTES), allocAligned(READ_BYTES)];
    let turn = 0;
    let pos = 0;
    let ahead: Promise<Buffer> | null = null;
    try {
      for (;;) {
        const chunk = ahead !== null ? await ahead : await this.#waitAndRead(pos, buffers[turn]!);
        if (chunk === null) return;
        pos += chunk.length;
        turn ^= 1;
        // When more is already written, it is read into the other buffer while the consumer uses this one.
        ahead = this.#startRead(pos, buffers[turn]!);
        ahead?.catch(() => {});
        yield chunk;
      }
    } finally {
      await ahead?.catch(() => {});
      fs.closeSync(this.#fd);
    }
  }

  /** Waits until a whole read's worth at `pos` is written, or the file ended, and reads it; null at the end. */
  async #waitAndRead(pos: number, buf: Buffer): Promise<Buffer | null> {
    for (;;) {
      if (this.#cancelled) throw this.#cancelled;
      const ended = this.#ended;
      const read = this.#startRead(pos, buf);
      if (read !== null) return read;
      if (ended) return null;
      await this.#sleep();
    }
  }

  /** Starts the read at `pos` if a whole read's worth is written (or the rest, once ended); null otherwise. */
  #startRead(pos: number, buf: Buffer): Promise<Buffer> | null {
    if (this.#cancelled) return Promise.reject(this.#cancelled);
    // The flag before the size: a file that ended is then seen at its final size.
    const ended = this.#ended;
    const size = this.#size();
    this.#startWriteback(size);
    if (ended ? size <= pos : size - pos < READ_BYTES + LAG_BYTES) return null;
    const expected = Math.min(READ_BYTES, size - pos);
    return this.#read(buf, Math.min(READ_BYTES, directLength(expected)), pos, expected);
  }

  async #read(buf: Buffer, want: number, pos: number, expected: number): Promise<Buffer> {
    let n: number;
    try {
      n = await preadDirect(this.#fd, buf, want, pos, this.path);
    } catch (err) {
      throw ioError(this.path, err, 'cannot read the archive back');
    }
    if (n < expected) {
      throw new SafebakError('SAFEBAK_IO', `the archive read back short: ${pos + n} of ${pos + expected} bytes`, { path: this.path });
    }
    return buf.subarray(0, expected);
  }

  #size(): number {
    try {
      return fs.fstatSync(this.#fd).size;
    } catch (err) {
      throw ioError(this.path, err, 'cannot read the archive back');
    }
  }

  /** Starts writeback of what was appended since the last time, a step at a time. */
  #startWriteback(size: number): void {
    if (size - this.#writebackFrom < WRITEBACK_STEP) return;
    const to = size - (size % DIRECT_BLOCK);
    startWriteback(this.#fd, this.#writebackFrom, to - this.#writebackFrom, this.path).catch(() => {});
    this.#writebackFrom = to;
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, POLL_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
