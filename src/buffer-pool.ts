/**
 * Equal-sized buffers handed out again once the output is done with them.
 * A fresh 1 MiB Buffer per chunk read made V8 count every one as new external
 * memory and run a full garbage collection every few dozen megabytes; reused
 * ones cost nothing after the first. A buffer not given back (an output that
 * cannot say when it let go of one) is simply left to the collector.
 */
export class BufferPool {
  readonly size: number;
  #max: number;
  #free: Buffer[] = [];

  constructor(size: number, max: number) {
    this.size = size;
    this.#max = max;
  }

  /** A buffer of `size` bytes, with whatever it held before. */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Returns a buffer from `take()` once nothing reads or writes it any more. */
  give(buf: Buffer): void {
    if (buf.length === this.size && this.#free.length < this.#max) this.#free.push(buf);
  }
}
