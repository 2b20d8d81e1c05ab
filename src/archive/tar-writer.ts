import type { Writable } from 'node:stream';
import { BLOCK, encodeHeader, encodeHeaderInto, padded } from './tar-header.js';
import type { TarHeader } from './tar-header.js';
import { BufferPool } from '../buffer-pool.js';

/** Copies `buf[start, end)` into the destination past its stream's queue where that keeps the order; false, copying nothing, where it cannot now. */
export type CopyIn = (buf: Buffer, start: number, end: number) => boolean;

/** Below this, data is copied into a staging buffer so that small files share writes. */
const DIRECT_WRITE_MIN = 64 * 1024;
const STAGE_BYTES = 256 * 1024;
/** Staging buffers kept for reuse while earlier ones are still queued in the output. */
const POOLED_STAGES = 8;

/**
 * Writes a tar stream into a Writable, honouring its backpressure, and keeps
 * the uncompressed byte offset that manifest records carry. Small pieces are
 * gathered into one staging buffer; a buffer handed to the stream is
 * written to again only after the stream released it.
 */
export class TarWriter {
  #out: Writable;
  #releasesOnCallback: boolean;
  #offset = 0;
  #stages = new BufferPool(STAGE_BYTES, POOLED_STAGES);
  #stage = this.#stages.take();
  #staged = 0;
  #entryData = 0;
  #copyIn: CopyIn | null;

  /**
   * `releasesOnCallback`: whether `out` is done with a chunk's memory once
   * its write callback ran (a file stream, a compressor that consumes its
   * input at once; not a PassThrough, which still holds it then).
   * `copyIn`: copies bytes into the destination past `out`'s queue where
   * that keeps their order, else returns false (ArchiveOutput.copyIn).
   */
  constructor(out: Writable, releasesOnCallback = false, copyIn: CopyIn | null = null) {
    this.#out = out;
    this.#releasesOnCallback = releasesOnCallback;
    this.#copyIn = copyIn;
  }

  /** Bytes of tar stream written so far: the offset the next entry will have. */
  get offset(): number {
    return this.#offset;
  }

  /** Writes an entry's header blocks; returns the entry's offset. */
  async header(h: TarHeader): Promise<number> {
    const at = this.#offset;
    this.#entryData = 0;
    // Straight into the staging buffer when it has room: no buffer per entry for the garbage collector.
    let n = encodeHeaderInto(h, this.#stage, this.#staged, STAGE_BYTES - this.#staged);
    if (n < 0 && this.#staged > 0) {
      await this.#flush();
      n = encodeHeaderInto(h, this.#stage, 0, STAGE_BYTES);
    }
    if (n >= 0) {
      this.#staged += n;
      this.#offset += n;
      if (this.#staged === STAGE_BYTES) await this.#flush();
    } else {
      await this.#write(encodeHeader(h));
    }
    return at;
  }

  /**
   * Writes a piece of the current entry's data. `release` is called once the
   * output no longer needs `chunk` (never, where the output cannot tell).
   */
  async data(chunk: Buffer, release?: () => void): Promise<void> {
    this.#entryData += chunk.length;
    await this.#write(chunk, release);
  }

  /** Pads the current entry's data to whole blocks. */
  async endEntry(): Promise<void> {
    const pad = padded(this.#entryData) - this.#entryData;
    this.#entryData = 0;
    if (pad > 0) await this.#write(Buffer.alloc(pad));
  }

  /** Writes a whole entry whose data is in memory. */
  async entry(h: TarHeader, data?: Buffer): Promise<number> {
    const at = await this.header(h);
    if (data && data.length > 0) await this.data(data);
    await this.endEntry();
    return at;
  }

  /**
   * Copies a whole encoded entry (`buf[start, end)`) into the stage when it
   * fits without a flush, and returns its offset; -1, having written
   * nothing, when it does not (then {@link encodedEntry} writes it). The
   * synchronous path spares a small file two awaited promises.
   */
  stageEncoded(buf: Buffer, start: number, end: number): number {
    const length = end - start;
    const at = this.#offset;
    // Straight into the destination's own buffers, what is staged first: one copy instead of two.
    const copyIn = this.#copyIn;
    if (copyIn !== null && (this.#staged === 0 || copyIn(this.#stage, 0, this.#staged))) {
      this.#staged = 0;
      if (copyIn(buf, start, end)) {
        this.#entryData = 0;
        this.#offset += length;
        return at;
      }
    }
    // Strictly less: a full stage must be flushed, which is asynchronous.
    if (length >= STAGE_BYTES - this.#staged) return -1;
    this.#entryData = 0;
    buf.copy(this.#stage, this.#staged, start, end);
    this.#staged += length;
    this.#offset += length;
    return at;
  }

  /**
   * Writes a whole entry already encoded elsewhere (header blocks, data,
   * padding: `buf[start, end)`, the native batch's output); returns its offset.
   * The bytes are copied: `buf` may be reused as soon as this resolves.
   */
  async encodedEntry(buf: Buffer, start: number, end: number): Promise<number> {
    const at = this.#offset;
    this.#entryData = 0;
    await this.#writeRange(buf, start, end, false);
    return at;
  }

  /**
   * Hands everything staged to the stream. A caller that then writes entry
   * data straight to the destination (zero-copy) reports it with `rawWritten`.
   */
  async flush(): Promise<void> {
    await this.#flush();
  }

  /** Accounts `n` bytes of the current entry's data written to the destination past the stream. */
  rawWritten(n: number): void {
    this.#offset += n;
    this.#entryData += n;
  }

  /** Writes the end-of-archive marker and flushes what is staged. */
  async finish(): Promise<void> {
    await this.#write(Buffer.alloc(2 * BLOCK));
    await this.#flush();
  }

  async #write(buf: Buffer, release?: () => void): Promise<void> {
    await this.#writeRange(buf, 0, buf.length, true, release);
  }

  /** Writes `buf[start, end)`: staged, or when large and `direct`, handed over as it is. */
  async #writeRange(buf: Buffer, start: number, end: number, direct: boolean, release?: () => void): Promise<void> {
    this.#offset += end - start;
    if (direct && end - start >= DIRECT_WRITE_MIN) {
      await this.#flush();
      await this.#push(start === 0 && end === buf.length ? buf : buf.subarray(start, end), release);
      return;
    }
    let pos = start;
    while (pos < end) {
      const n = buf.copy(this.#stage, this.#staged, pos, end);
      this.#staged += n;
      pos += n;
      if (this.#staged === STAGE_BYTES) await this.#flush();
    }
    release?.();
  }

  async #flush(): Promise<void> {
    if (this.#staged === 0) return;
    const filled = this.#stage;
    this.#stage = this.#stages.take();
    const n = this.#staged;
    this.#staged = 0;
    await this.#push(filled.subarray(0, n), () => this.#stages.give(filled));
  }

  async #push(buf: Buffer, release?: () => void): Promise<void> {
    const out = this.#out;
    if (out.destroyed || out.errored) throw out.errored ?? new Error('output closed');
    const accepted = release !== undefined && this.#releasesOnCallback ? out.write(buf, () => release()) : out.write(buf);
    if (!accepted) await drained(out);
  }
}

/**
 * Waits for 'drain', failing if the stream fails or closes first: a stream
 * that failed before the wait began never says 'error' again. Plain
 * listeners: an AbortController per wait (once per MiB written) cost more
 * than the wait's own work.
 */
function drained(out: Writable): Promise<void> {
  const closed = (): Error => out.errored ?? new Error('output closed');
  if (out.destroyed || out.errored) return Promise.reject(closed());
  return new Promise((resolve, reject) => {
    const settle = (err: Error | null): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => settle(null);
    const onError = (err: Error): void => settle(err);
    const onClose = (): void => settle(closed());
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}
