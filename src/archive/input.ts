import fs from 'node:fs';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import zstdBinding from 'zstd-napi/binding.js';
import { SafebakError, ioError } from '../errors.js';
import { FollowedFile } from './followed-file.js';
import type { ChunkDigests } from './slot-digests.js';
import { decodeStep } from './zstd-decode-step.js';
import type { DecodeStep } from './zstd-decode-step.js';
import { decodeWorkerFile, decompressZstdInWorker, useDecodeThread } from './zstd-decode-thread.js';

export type InputCompression = 'zstd' | 'gzip' | 'none';

/** An archive by path, as a stream, or a file still being written (create's read-back). */
export type ArchiveSource = string | Readable | FollowedFile;

/** The uncompressed tar stream of an archive, with what the compression layer told. */
export interface ArchiveInput {
  compression: InputCompression;
  /** For zstd: whether the first frame carries a content checksum (null where unknown). */
  contentChecksum: boolean | null;
  chunks: AsyncIterable<Buffer>;
  /** Digests of files in the chunk last handed out, computed ahead by a decoding thread (see `hashAhead`). */
  digests?: ChunkDigests | undefined;
  close(): void;
}

const ZSTD_MAGIC = 0xfd2fb528;
const READ_CHUNK = 1024 * 1024;

/**
 * Opens an archive from a path or a stream and detects its compression from
 * magic bytes, never from the name. Errors reading the source surface as
 * SAFEBAK_IO; errors of the compression layer (bad checksum, garbage,
 * truncation) as SAFEBAK_ARCHIVE_CORRUPT. `hashAhead`: the consumer hashes
 * every file's data and takes `digests` that a decoding thread computed.
 */
export async function openArchiveInput(source: ArchiveSource, label: string, options: { hashAhead?: boolean } = {}): Promise<ArchiveInput> {
  let fd: number | null = null;
  if (typeof source === 'string') {
    const opened = await openForRead(source);
    fd = opened.fd;
    // Only a regular file: the worker reads at explicit offsets, which a pipe cannot do.
    const threaded = opened.size !== null && useDecodeThread(opened.size) ? await openThreaded(opened.fd, label, options.hashAhead ?? false) : null;
    if (threaded) return threaded;
  }
  // A file still being written (create's read-back) is decoded here: its reader already runs on a thread of its own.
  const sourceChunks = fd !== null ? readReusing(fd, label) : source instanceof FollowedFile ? source.chunks() : tagErrors(source as Readable, label);
  const iterator = sourceChunks[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 18 && !ended) {
    const next = await iterator.next();
    if (next.done) ended = true;
    else head = Buffer.concat([head, next.value]);
  }
  const rest = (async function* () {
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  const close = (): void => {
    if (typeof source !== 'string' && !(source instanceof FollowedFile)) source.destroy();
    // Runs the reader's finally (closing the descriptor) once it is not mid-read.
    void iterator.return?.(undefined);
  };
  if (head.length >= 4 && head.readUInt32LE(0) === ZSTD_MAGIC) {
    const checksum = head.length >= 5 ? (head[4]! & 0x04) !== 0 : null;
    return { compression: 'zstd', contentChecksum: checksum, chunks: decompressZstd(rest), close };
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return { compression: 'gzip', contentChecksum: true, chunks: decompress(rest, zlib.createGunzip(), 'gzip'), close };
  }
  return { compression: 'none', contentChecksum: null, chunks: rest, close };
}

/**
 * A regular file holding zstd is decoded on a worker thread, in parallel
 * with the consumer (see zstd-decode-thread.ts). Null for anything else, or
 * where there is no worker script: the caller reads it in-thread from byte 0.
 */
async function openThreaded(fd: number, label: string, hashAhead: boolean): Promise<ArchiveInput | null> {
  const workerUrl = decodeWorkerFile();
  if (workerUrl === null) return null;
  const head = Buffer.alloc(5);
  let got: number;
  try {
    got = await new Promise<number>((resolve, reject) => fs.read(fd, head, 0, head.length, 0, (err, n) => (err ? reject(err) : resolve(n))));
  } catch (err) {
    fs.close(fd, () => {});
    throw ioError(label, err, 'cannot read the archive');
  }
  if (got < 5 || head.readUInt32LE(0) !== ZSTD_MAGIC) return null;
  const { chunks, digests } = decompressZstdInWorker(fd, label, workerUrl, hashAhead);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    void chunks.return(undefined).finally(() => fs.close(fd, () => {}));
  };
  return { compression: 'zstd', contentChecksum: (head[4]! & 0x04) !== 0, chunks, digests, close };
}

/** The descriptor, and the size where it is a regular file. */
async function openForRead(path: string): Promise<{ fd: number; size: number | null }> {
  return new Promise((resolve, reject) => {
    fs.open(path, 'r', (err, fd) => {
      if (err) reject(ioError(path, err, 'cannot open the archive'));
      else {
        fs.fstat(fd, (serr, st) => {
          if (serr) reject(ioError(path, serr));
          else if (st.isDirectory()) {
            fs.close(fd, () => reject(new SafebakError('SAFEBAK_NOT_AN_ARCHIVE', 'is a directory, not an archive', { path })));
          } else resolve({ fd, size: st.isFile() ? st.size : null });
        });
      }
    });
  });
}

/**
 * Reads a file through one reused buffer: a chunk is valid only until the
 * next is asked for, and every reader of archives parses or copies a chunk
 * before that. A fresh 1 MiB buffer per read cost more in the kernel
 * (faulting in and zeroing new pages) than the read itself.
 */
async function* readReusing(fd: number, label: string): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  try {
    for (;;) {
      let n: number;
      try {
        n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, null, (err, got) => (err ? reject(err) : resolve(got))));
      } catch (err) {
        throw ioError(label, err, 'cannot read the archive');
      }
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    fs.close(fd, () => {});
  }
}

/** Read errors of the source are I/O errors naming the archive. */
async function* tagErrors(raw: Readable, label: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of raw) yield chunk as Buffer;
  } catch (err) {
    throw ioError(label, err, 'cannot read the archive');
  }
}

/** One step's output: bounded, so memory is too, whatever the compression ratio. */
const ZSTD_OUT = 128 * 1024;

/**
 * Decompresses zstd one bounded output piece at a time, each
 * produced only when the consumer asks for it. (zstd-napi's DecompressStream
 * decodes all the output of an input chunk at once, ignoring backpressure: a
 * 2 GiB run of zeros, a sparse file, became one 2 GiB Buffer.)
 */
async function* decompressZstd(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const dctx = new zstdBinding.DCtx();
  let inFrame = false;
  // Reused: the consumer is done with one piece before it asks for the next.
  const dst = Buffer.allocUnsafe(ZSTD_OUT);
  for await (const chunk of chunks) {
    let src: Buffer = chunk;
    for (;;) {
      let step: DecodeStep;
      try {
        step = decodeStep(dctx, dst, src);
      } catch (err) {
        throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `the zstd compression layer is damaged: ${(err as Error).message}`, { cause: err });
      }
      src = step.rest;
      if (step.produced > 0) yield dst.subarray(0, step.produced);
      if (step.drained) {
        inFrame = step.inFrame;
        break;
      }
    }
  }
  if (inFrame) throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', 'the zstd compression layer is damaged: the stream ends inside a frame');
}

/** Runs chunks through a decompressor; its errors mean the archive is damaged. */
async function* decompress(chunks: AsyncIterable<Buffer>, transform: NodeJS.ReadWriteStream & Readable, what: string): AsyncGenerator<Buffer> {
  let sourceError: unknown = null;
  const feed = (async () => {
    try {
      for await (const chunk of chunks) {
        if (transform.destroyed) return;
        // A decompressor that fails is destroyed and never drains: 'close' must end the wait too.
        // zlib works on its thread pool and may hold the chunk after write() returns: give it a copy.
        if (!transform.write(Buffer.from(chunk))) await drainedOrClosed(transform);
      }
      transform.end();
    } catch (err) {
      sourceError = err;
      transform.destroy(err as Error);
    }
  })();
  try {
    for await (const out of transform) yield out as Buffer;
  } catch (err) {
    if (sourceError) throw sourceError;
    throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `the ${what} compression layer is damaged: ${(err as Error).message}`, { cause: err });
  } finally {
    transform.destroy();
    await feed;
  }
  if (sourceError) throw sourceError;
}

function drainedOrClosed(stream: Readable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    if (stream.destroyed) return resolve();
    stream.on('drain', done);
    stream.on('close', done);
  });
}
