import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { CompressStream } from 'zstd-napi';
import { ioError } from '../errors.js';
import { fadvise, growPipe, loadNative } from '../native/native.js';
import { ArchiveFileWriter } from './archive-file-writer.js';
import type { CopyIn } from './tar-writer.js';
import { fileWriteFailure, streamWriteFailure } from './write-failure.js';
import { zstdEncoder, zstdParameters } from './zstd-encoder.js';

export type Compression = 'zstd' | 'none';

const OUTPUT_PIPE_BYTES = 1024 * 1024;

export interface OutputOptions {
  compression: Compression;
  level: number;
}

/**
 * Where the tar bytes go. `stream` takes the uncompressed tar stream;
 * `finish()` ends it and waits until every byte reached its destination (and,
 * for a file, the disk).
 */
export interface ArchiveOutput {
  stream: Writable;
  /**
   * Whether `stream` is done with a chunk's memory once the chunk's write
   * callback ran, so that its buffer may be reused: true for our own file
   * stream and compressor, false where a host's stream may still hold it.
   */
  releasesOnCallback: boolean;
  /**
   * Copies small pieces into the destination past `stream`'s queue, where
   * that keeps their order (ArchiveFileWriter.copyIn): false when it cannot
   * now. Null where everything must go through `stream`.
   */
  copyIn: CopyIn | null;
  /** The file being written under a temporary name, or null for a stream. */
  tempPath: string | null;
  finish(): Promise<void>;
  /** Moves the temporary file to its final name and makes that durable. */
  commit(): Promise<void>;
  /** Tears everything down after a failure and removes the temporary file. */
  abort(): Promise<void>;
  /** The destination descriptor for zero-copy writes, or null when the bytes must pass through `stream`. */
  raw: RawOutput | null;
  /** Why `raw` is null, in plain words (empty when it is not). */
  rawReason: string;
}

/**
 * A destination a caller may splice or tee into directly. The bytes written
 * that way bypass `stream`, so the caller first flushes everything it has
 * written to `stream` and waits for `drained()`; until its next write to
 * `stream` it owns the descriptor. A 'file' descriptor is written at its
 * current offset (splice with a null offset), as `stream` itself does.
 */
export interface RawOutput {
  readonly fd: number;
  readonly kind: 'file' | 'pipe';
  /** Resolves once every byte written to `stream` has reached `fd`. */
  drained(): Promise<void>;
}

const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const open = promisify(fs.open);

function compressor(options: OutputOptions): Writable & NodeJS.ReadableStream {
  return new CompressStream(zstdParameters(options.level));
}

/** A temporary name beside `finalPath`, so that the final rename stays on one filesystem. */
export function tempNameFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  return path.join(dir, `.${path.basename(finalPath)}.safebak-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** Opens a file output: a temporary beside the target, renamed over it by `commit()`. */
export async function openFileOutput(finalPath: string, options: OutputOptions): Promise<ArchiveOutput> {
  const tempPath = tempNameFor(finalPath);
  let fd: number;
  try {
    fd = await open(tempPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o666);
  } catch (err) {
    throw ioError(finalPath, err, 'cannot create the archive');
  }
  // The tar stream goes straight into the file writer, which copies or compresses every chunk it takes.
  // The first write error (ENOSPC, EIO) is what the run ends with; the writer destroys itself on it.
  const file = new ArchiveFileWriter(fd, tempPath, options.compression === 'zstd' ? zstdEncoder(options.level) : null);
  const done = finished(file);
  done.catch(() => {});
  let closed = false;
  const closeFd = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await close(fd);
  };
  return {
    stream: file,
    releasesOnCallback: true,
    // Compressed, every byte must pass the encoder: the stream's way.
    copyIn: options.compression === 'none' ? (buf, start, end) => file.copyIn(buf, start, end) : null,
    tempPath,
    raw: options.compression === 'none' ? { fd, kind: 'file', drained: () => file.flushed() } : null,
    rawReason: options.compression === 'none' ? '' : COMPRESSED,
    async finish() {
      file.end();
      try {
        await done;
        await fsync(fd);
        // The read-back must see what the disk holds, not the pages this process just wrote.
        if (loadNative().addon !== null) await fadvise(fd, 0, 0, 'dontneed', tempPath).catch(() => {});
        await closeFd();
      } catch (err) {
        throw fileWriteFailure(finalPath, err);
      }
    },
    async commit() {
      try {
        await fsp.rename(tempPath, finalPath);
        await fsyncDirectory(path.dirname(finalPath));
      } catch (err) {
        throw ioError(finalPath, err, 'cannot move the archive into place');
      }
    },
    async abort() {
      // A write still queued on the thread pool must finish before its descriptor is closed (and reused).
      if (!file.closed) {
        const closedEvent = once(file, 'close').catch(() => {});
        file.destroy();
        await closedEvent;
      }
      await closeFd().catch(() => {});
      await fsp.rm(tempPath, { force: true }).catch(() => {});
    },
  };
}

/** Opens a stream output (stdout or a host's Writable). Nothing can be read back from it. */
export function openStreamOutput(dest: Writable, options: OutputOptions): ArchiveOutput {
  const head = options.compression === 'zstd' ? compressor(options) : new PassThrough({ highWaterMark: 1024 * 1024 });
  // A reader that went away (EPIPE) ends the run with one plain line, not a stack trace.
  dest.once('error', (err) => head.destroy(streamWriteFailure(err)));
  const done = pipeline(head as unknown as NodeJS.ReadableStream, dest);
  done.catch(() => {});
  const pipe = pipeTargetOf(dest);
  // Into a pipe every strategy, copy and compressed output too, goes faster with more than 64 KiB of buffer.
  if (pipe.fd !== null && loadNative().addon !== null) growPipe(pipe.fd, OUTPUT_PIPE_BYTES);
  const target = options.compression === 'none' ? pipe : { fd: null, reason: COMPRESSED };
  return {
    stream: head,
    // A host's stream (or the PassThrough in front of it) may hold a chunk after its callback; zstd consumes it at once.
    releasesOnCallback: options.compression === 'zstd',
    copyIn: null,
    tempPath: null,
    raw: target.fd === null ? null : { fd: target.fd, kind: 'pipe', drained: () => drainedChain([head, dest]) },
    rawReason: target.reason,
    async finish() {
      head.end();
      try {
        await done;
      } catch (err) {
        throw streamWriteFailure(err);
      }
    },
    async commit() {},
    async abort() {
      head.destroy();
    },
  };
}

const COMPRESSED = 'the output is zstd-compressed: its bytes pass through user space';

/**
 * The descriptor under a stream output, when it is a pipe: an fs.WriteStream
 * over a pipe fd, or stdout when it is one. Other destinations (sockets,
 * terminals, files that may be O_APPEND, host streams) get no raw access.
 */
function pipeTargetOf(dest: Writable): { fd: number | null; reason: string } {
  const fd = (dest as { fd?: unknown }).fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) return { fd: null, reason: 'the output stream has no file descriptor' };
  try {
    if (!fs.fstatSync(fd).isFIFO()) return { fd: null, reason: 'the output stream is not a pipe' };
  } catch (err) {
    return { fd: null, reason: `cannot stat the output descriptor: ${(err as Error).message}` };
  }
  return { fd, reason: '' };
}

/**
 * Waits until no stream of the chain holds a byte: each Writable's length
 * counts a write until its callback ran, so zero means it reached the fd.
 * An empty write to the last stream calls back once everything queued
 * before it is written, so the wait follows the writes instead of a timer.
 */
async function drainedChain(chain: Writable[]): Promise<void> {
  const last = chain[chain.length - 1]!;
  for (;;) {
    for (const s of chain) if (s.destroyed) throw s.errored ?? new Error('output closed');
    const upstream = chain.slice(0, -1).some((s) => s.writableLength > 0 || ((s as Writable & { readableLength?: number }).readableLength ?? 0) > 0);
    if (!upstream && last.writableLength === 0) return;
    if (last.writableLength > 0) await new Promise<void>((resolve) => last.write(Buffer.alloc(0), () => resolve()));
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const fd = await open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}
