import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { BLOCK, encodeHeader, encodeHeaderInto, padded } from './tar-header.js';
import type { TarHeader } from './tar-header.js';

/** Below this, data is copied into a staging buffer so that small files share writes. */
const DIRECT_WRITE_MIN = 64 * 1024;
const STAGE_BYTES = 256 * 1024;

/**
 * Writes a tar stream into a Writable, honouring its backpressure, and keeps
 * the uncompressed byte offset that manifest records carry. Small pieces are
 * gathered into one staging buffer; a buffer handed to the stream is never
 * written to again.
 */
export class TarWriter {
  #out: Writable;
  #offset = 0;
  #stage = Buffer.allocUnsafe(STAGE_BYTES);
  #staged = 0;
  #entryData = 0;

  constructor(out: Writable) {
    this.#out = out;
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

  /** Writes a piece of the current entry's data. */
  async data(chunk: Buffer): Promise<void> {
    this.#entryData += chunk.length;
    await this.#write(chunk);
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

  async #write(buf: Buffer): Promise<void> {
    this.#offset += buf.length;
    if (buf.length >= DIRECT_WRITE_MIN) {
      await this.#flush();
      await this.#push(buf);
      return;
    }
    let pos = 0;
    while (pos < buf.length) {
      const n = buf.copy(this.#stage, this.#staged, pos);
      this.#staged += n;
      pos += n;
      if (this.#staged === STAGE_BYTES) await this.#flush();
    }
  }

  async #flush(): Promise<void> {
    if (this.#staged === 0) return;
    const full = this.#stage.subarray(0, this.#staged);
    this.#stage = Buffer.allocUnsafe(STAGE_BYTES);
    this.#staged = 0;
    await this.#push(full);
  }

  async #push(buf: Buffer): Promise<void> {
    if (this.#out.destroyed) throw this.#out.errored ?? new Error('output closed');
    if (!this.#out.write(buf)) await once(this.#out, 'drain');
  }
}
