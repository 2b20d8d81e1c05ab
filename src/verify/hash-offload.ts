import { Worker } from 'node:worker_threads';
import type { DecodeRing } from '../archive/decode-ring.js';
import { SafebakError } from '../errors.js';
import { findWorkerFile } from '../worker-file.js';
import { HashChannel, OP_CHUNK, OP_DATA, OP_END } from './hash-channel.js';
import type { HashWorkerData } from './hash-worker.js';

let workerFile: URL | null | undefined;

/**
 * SHA-256 of entries on a thread of its own, for input decoded into a
 * shared ring: the verifier's main thread then only parses, the decoding
 * thread only decodes, and the hashing runs beside both. (With the decoding
 * thread alone, the main thread parsed and hashed, and on an archive of many
 * small files it was the slower of the two.)
 *
 * Use from the main thread, in stream order: data() for each piece of an
 * entry, end() when it is complete, chunkDone() after each chunk of the
 * ring. Digests come back through the end() callbacks, in order, from
 * collect() (cheap, never waits) or finishAll() (waits for every one).
 */
export class HashOffload {
  #ring: DecodeRing;
  #channel = HashChannel.create();
  #worker: Worker;
  #callbacks: Array<(sha256: string) => void> = [];
  #head = 0;

  private constructor(ring: DecodeRing, url: URL) {
    this.#ring = ring;
    ring.addFollower();
    const data: HashWorkerData = { ring: ring.shape, channel: this.#channel.shape };
    this.#worker = new Worker(url, { workerData: data });
    // Its failure reaches the verifier through the channel; the event must not crash the process.
    this.#worker.on('error', () => {});
  }

  /** Starts the hashing thread on `ring`; null where there is no worker script. */
  static start(ring: DecodeRing): HashOffload | null {
    workerFile ??= findWorkerFile('./hash-worker.js', import.meta.url);
    return workerFile === null ? null : new HashOffload(ring, workerFile);
  }

  /** Whether `chunk` is a view of this ring, as every piece handed to data() must be. */
  covers(chunk: Buffer): boolean {
    return chunk.buffer === this.#ring.shape.data;
  }

  data(chunk: Buffer): void {
    if (chunk.length > 0) this.#channel.write(OP_DATA, chunk.byteOffset, chunk.length);
  }

  end(onDigest: (sha256: string) => void): void {
    this.#channel.write(OP_END);
    this.#callbacks.push(onDigest);
  }

  chunkDone(): void {
    this.#channel.write(OP_CHUNK);
    this.#channel.publish();
    this.collect();
  }

  /** Hands out the digests ready so far. */
  collect(): void {
    const n = this.#channel.ready();
    if (n === 0) return;
    for (let i = 0; i < n; i++) this.#deliver(this.#channel.take());
    this.#channel.release();
  }

  /** Blocks until every entry ended so far has its digest, and hands them out. */
  finishAll(): void {
    this.#channel.publish();
    // One at a time: the digest table is bounded, and the thread waits for room in it.
    while (this.#head < this.#callbacks.length) {
      if (!this.#channel.waitForDigests(1)) throw new SafebakError('SAFEBAK_IO', 'the hashing thread failed');
      this.collect();
    }
  }

  async close(): Promise<void> {
    this.#channel.close();
    await this.#worker.terminate();
  }

  #deliver(sha256: string): void {
    const callback = this.#callbacks[this.#head]!;
    this.#callbacks[this.#head++] = undefined as unknown as (sha256: string) => void;
    // Drop delivered callbacks now and then, not one shift() per entry.
    if (this.#head > 4096 && this.#head * 2 > this.#callbacks.length) {
      this.#callbacks = this.#callbacks.slice(this.#head);
      this.#head = 0;
    }
    callback(sha256);
  }
}
