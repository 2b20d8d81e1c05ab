import { createHash } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { ioError, SafebakError } from '../errors.js';
import type { TransferResult } from './transfer-result.js';
import { checkPath, hashOpenFile } from './recheck.js';
import { isRecent, metadataChanges, nowNs } from './stability.js';
import type { FileStat } from '../file-stat.js';
import { BufferPool } from '../buffer-pool.js';

/**
 * O_NONBLOCK: if the path became a FIFO since the walk, opening it must not
 * hang; O_NOFOLLOW: if it became a symlink, it must not be followed.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 1024 * 1024;
/** Chunks kept for reuse: one being read ahead, one being hashed, the rest queued in the output. */
const POOLED_CHUNKS = 16;

/** The buffers a job's streamed copies read into; one per job, so that nothing outlives it. */
export function newChunkPool(): BufferPool {
  return new BufferPool(CHUNK, POOLED_CHUNKS);
}

export interface CopyOptions {
  /** Re-hash the source after the transfer whatever its timestamps say. */
  paranoid: boolean;
  /** Files whose mtime or ctime is this recent get the content re-check. */
  recentSeconds: number;
  signal?: AbortSignal | undefined;
  /** Where streamed chunks come from and go back to once the sink released them (fresh buffers without one). */
  pool?: BufferPool | undefined;
}

/** The receiving end of a streamed transfer: the tar writer, in practice. */
export interface EntrySink {
  header(size: number, stat: FileStat): Promise<void>;
  /**
   * Takes a piece of the entry. `release`, if given, is called once the sink
   * no longer needs `chunk`'s memory (it may never be called; the chunk is
   * then left to the garbage collector).
   */
  data(chunk: Buffer, release?: () => void): Promise<void>;
}

/** A small file read whole: its bytes and the attempt's verdict. */
export interface WholeRead {
  data: Buffer;
  result: TransferResult;
}

/** An open file of the wrong kind for a copy: the caller records it and moves on. */
export class NotRegularFile extends Error {}

async function openRegular(fsPath: string): Promise<{ fh: fsp.FileHandle; stat: FileStat }> {
  const fh = await fsp.open(fsPath, OPEN_FLAGS);
  try {
    const stat = await fh.stat({ bigint: true });
    if (!stat.isFile()) throw new NotRegularFile('is no longer a regular file');
    return { fh, stat };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Reads a file of at most `maxBytes` whole, hashing exactly the bytes it
 * returns: those bytes become the entry, so rule 2 holds by construction.
 * Returns null (having read nothing) when the file is larger.
 */
export async function readWhole(fsPath: string, maxBytes: number, options: CopyOptions): Promise<WholeRead | null> {
  const { fh, stat } = await openRegular(fsPath);
  try {
    if (stat.size > BigInt(maxBytes)) return null;
    const expected = Number(stat.size);
    // One byte more than expected shows growth in the same read.
    const buf = Buffer.allocUnsafe(expected + 1);
    const got = await readFully(fh, buf, 0);
    const data = buf.subarray(0, got);
    const reasons: string[] = [];
    if (got < expected) reasons.push(`shrank while being read (${got} of ${expected} bytes)`);
    if (got > expected) reasons.push('grew while being read');
    let after = await fh.stat({ bigint: true });
    reasons.push(...metadataChanges(stat, after));
    if (reasons.length === 0 && (options.paranoid || isRecent(after, nowNs(), options.recentSeconds))) {
      const again = Buffer.allocUnsafe(expected + 1);
      const n = await readFully(fh, again, 0);
      if (n !== got || !again.subarray(0, n).equals(data)) reasons.push('content changed while being read');
      after = await fh.stat({ bigint: true });
      reasons.push(...metadataChanges(stat, after));
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    const pathCheck = await checkPath(fsPath, stat);
    if (pathCheck) reasons.push(pathCheck);
    return {
      data,
      result: { strategy: 'copy', size: got, sha256, stat, reasons: dedupe(reasons), vanished: pathCheck === 'vanished' },
    };
  } finally {
    await fh.close();
  }
}

/**
 * Streams a file of any size into `sink`: the header promises the size the
 * first fstat gave, so a file that shrinks is padded with zeros and one that
 * grows is cut, and either is flagged. Chunks are hashed and handed on as the
 * same buffers; a buffer is read into again only after the sink released it.
 */
export async function streamFile(fsPath: string, sink: EntrySink, options: CopyOptions): Promise<TransferResult> {
  const { fh, stat } = await openRegular(fsPath);
  let headerWritten = false;
  try {
    const size = Number(stat.size);
    await sink.header(size, stat);
    headerWritten = true;
    const hash = createHash('sha256');
    const reasons: string[] = [];
    let pos = 0;
    let readError: unknown = null;
    // One chunk is read ahead (on the thread pool) while the current one is hashed and written.
    const pool = options.pool;
    const readAt = (at: number): Promise<{ chunk: Buffer; n: number; err: unknown }> => {
      const chunk = (pool?.take() ?? Buffer.allocUnsafe(CHUNK)).subarray(0, Math.min(CHUNK, size - at));
      return readFully(fh, chunk, at).then(
        (n) => ({ chunk, n, err: null }),
        (err: unknown) => ({ chunk, n: 0, err }),
      );
    };
    const release = (chunk: Buffer) => () => pool?.give(Buffer.from(chunk.buffer, chunk.byteOffset, CHUNK));
    let next = size > 0 ? readAt(0) : null;
    while (pos < size) {
      options.signal?.throwIfAborted();
      const { chunk, n, err } = await next!;
      next = n === chunk.length && pos + n < size ? readAt(pos + n) : null;
      if (err !== null) readError = err;
      if (n < chunk.length) {
        // The header already promised `size` bytes: keep the tar framing whole with zeros.
        chunk.fill(0, n);
        hash.update(chunk);
        await sink.data(chunk, release(chunk));
        const padding = size - pos - chunk.length;
        await padZeros(padding, hash, sink);
        reasons.push(
          readError ? `read error at byte ${pos + n}: ${String((readError as Error).message)}` : `shrank while being read (${pos + n} of ${size} bytes)`,
        );
        break;
      }
      hash.update(chunk);
      await sink.data(chunk, release(chunk));
      pos += n;
    }
    const probe = Buffer.allocUnsafe(1);
    if (readError === null && pos === size && (await fh.read(probe, 0, 1, size)).bytesRead > 0) reasons.push('grew while being read');
    const sha256 = hash.digest('hex');
    let after = await fh.stat({ bigint: true });
    reasons.push(...metadataChanges(stat, after));
    if (reasons.length === 0 && (options.paranoid || isRecent(after, nowNs(), options.recentSeconds))) {
      if ((await hashOpenFile(fh, size, options.signal)) !== sha256) reasons.push('content changed while being read');
      after = await fh.stat({ bigint: true });
      reasons.push(...metadataChanges(stat, after));
    }
    const pathCheck = await checkPath(fsPath, stat);
    if (pathCheck) reasons.push(pathCheck);
    return { strategy: 'copy', size, sha256, stat, reasons: dedupe(reasons), vanished: pathCheck === 'vanished' };
  } catch (err) {
    // Once the header is out, the tar stream is committed to this entry: no failure here is a per-file one.
    if (headerWritten && !(err instanceof SafebakError) && !options.signal?.aborted) throw ioError(fsPath, err, 'failed after its header was written');
    throw err;
  } finally {
    await fh.close();
  }
}

async function padZeros(count: number, hash: ReturnType<typeof createHash>, sink: EntrySink): Promise<void> {
  const zeros = Buffer.alloc(Math.min(count, CHUNK));
  while (count > 0) {
    const part = count >= zeros.length ? zeros : zeros.subarray(0, count);
    hash.update(part);
    // A fresh view each time: the sink may still hold the previous one.
    await sink.data(Buffer.from(part));
    count -= part.length;
  }
}

/** Reads until `buf` is full or the file ends; returns the bytes read. */
async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

function dedupe(reasons: string[]): string[] {
  return [...new Set(reasons)];
}
