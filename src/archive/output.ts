import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { CompressStream } from 'zstd-napi';
import { ioError } from '../errors.js';

export type Compression = 'zstd' | 'none';

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
  /** The file being written under a temporary name, or null for a stream. */
  tempPath: string | null;
  finish(): Promise<void>;
  /** Moves the temporary file to its final name and makes that durable. */
  commit(): Promise<void>;
  /** Tears everything down after a failure and removes the temporary file. */
  abort(): Promise<void>;
}

const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const open = promisify(fs.open);

function compressor(options: OutputOptions): Writable & NodeJS.ReadableStream {
  // Two workers: compression runs on zstd's threads while this one hashes.
  return new CompressStream({ compressionLevel: options.level, checksumFlag: true, nbWorkers: 2 });
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
  const file = fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 1024 * 1024 });
  const head = options.compression === 'zstd' ? compressor(options) : new PassThrough({ highWaterMark: 1024 * 1024 });
  const done = pipeline(head as unknown as NodeJS.ReadableStream, file);
  done.catch(() => {});
  let closed = false;
  const closeFd = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await close(fd);
  };
  return {
    stream: head,
    tempPath,
    async finish() {
      head.end();
      try {
        await done;
        await fsync(fd);
        await closeFd();
      } catch (err) {
        throw ioError(finalPath, err, 'cannot write the archive');
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
      head.destroy();
      file.destroy();
      await closeFd().catch(() => {});
      await fsp.rm(tempPath, { force: true }).catch(() => {});
    },
  };
}

/** Opens a stream output (stdout or a host's Writable). Nothing can be read back from it. */
export function openStreamOutput(dest: Writable, options: OutputOptions): ArchiveOutput {
  const head = options.compression === 'zstd' ? compressor(options) : new PassThrough({ highWaterMark: 1024 * 1024 });
  const done = pipeline(head as unknown as NodeJS.ReadableStream, dest);
  done.catch(() => {});
  return {
    stream: head,
    tempPath: null,
    async finish() {
      head.end();
      try {
        await done;
      } catch (err) {
        throw ioError('-', err, 'cannot write the archive stream');
      }
    },
    async commit() {},
    async abort() {
      head.destroy();
    },
  };
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
