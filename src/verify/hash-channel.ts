/** What crosses to the hashing thread: the channel's shared memory. */
export interface HashChannelShape {
  control: SharedArrayBuffer;
  ops: SharedArrayBuffer;
  digests: SharedArrayBuffer;
}

/** What the verifier asks of the hashing thread, in stream order. */
export const OP_DATA = 1; // [kind, byteOffset, length]: hash these bytes of the decode ring into the current entry
export const OP_END = 2; // [kind]: the current entry is complete; publish its digest
export const OP_CHUNK = 3; // [kind]: the verifier is done with a ring slot; release it once hashed

const OP_FIELDS = 3;
const OPS_CAP = 16384;
const DIGESTS_CAP = 16384;

// Control words.
const OPS_WRITTEN = 0;
const OPS_READ = 1;
const DIGESTS_DONE = 2;
const DIGESTS_TAKEN = 3;
const CLOSED = 4;
/** Bumped by the verifier when it writes ops or takes digests; the hashing thread sleeps on it. */
const VERIFIER_MOVED = 5;
/** Bumped by the hashing thread when it reads ops or publishes digests; the verifier sleeps on it. */
const HASHER_MOVED = 6;
const HASHER_WAITS = 7;
const VERIFIER_WAITS = 8;
const FAILED = 9;
const CONTROL_WORDS = 10;

/**
 * The verifier's side of a single-producer, single-consumer queue to the
 * hashing thread, and the table the digests come back through, all in
 * shared memory: no message per entry, no copy of the data (the ops name
 * bytes of the decode ring, which the hashing thread follows). Digests
 * return in the order of the entries' OP_END.
 */
export class HashChannel {
  readonly shape: HashChannelShape;
  #control: Int32Array;
  #ops: Float64Array;
  #digests: Buffer;
  /** Verifier: ops written (not all published), digests taken. */
  #written = 0;
  #taken = 0;
  /** Hashing thread: ops read, digests done. */
  #read = 0;
  #done = 0;

  private constructor(shape: HashChannelShape) {
    this.shape = shape;
    this.#control = new Int32Array(shape.control);
    this.#ops = new Float64Array(shape.ops);
    this.#digests = Buffer.from(shape.digests);
  }

  static create(): HashChannel {
    return new HashChannel({
      control: new SharedArrayBuffer(CONTROL_WORDS * 4),
      ops: new SharedArrayBuffer(OPS_CAP * OP_FIELDS * 8),
      digests: new SharedArrayBuffer(DIGESTS_CAP * 32),
    });
  }

  static attach(shape: HashChannelShape): HashChannel {
    return new HashChannel(shape);
  }

  // ---- the verifier's side

  /** Queues an op; it reaches the hashing thread at the next publish(). */
  write(kind: number, byteOffset = 0, length = 0): void {
    if (this.#written - Atomics.load(this.#control, OPS_READ) >= OPS_CAP) {
      this.publish();
      this.#until(HASHER_MOVED, VERIFIER_WAITS, () => this.#written - Atomics.load(this.#control, OPS_READ) < OPS_CAP);
    }
    const at = (this.#written % OPS_CAP) * OP_FIELDS;
    this.#ops[at] = kind;
    this.#ops[at + 1] = byteOffset;
    this.#ops[at + 2] = length;
    this.#written++;
  }

  publish(): void {
    Atomics.store(this.#control, OPS_WRITTEN, this.#written);
    this.#moved(VERIFIER_MOVED, HASHER_WAITS);
  }

  /** Digests published and not yet taken. */
  ready(): number {
    return Atomics.load(this.#control, DIGESTS_DONE) - this.#taken;
  }

  /** The next digest, as hex; call only while ready() > 0, and release() after a batch of them. */
  take(): string {
    const at = (this.#taken % DIGESTS_CAP) * 32;
    this.#taken++;
    return this.#digests.toString('hex', at, at + 32);
  }

  /** Frees the table room of the digests taken, once per batch: waking the other thread per digest cost more than the hashing. */
  release(): void {
    Atomics.store(this.#control, DIGESTS_TAKEN, this.#taken);
    this.#moved(VERIFIER_MOVED, HASHER_WAITS);
  }

  /** Blocks this thread until `n` digests are ready; false if the hashing thread failed first. */
  waitForDigests(n: number): boolean {
    this.#until(HASHER_MOVED, VERIFIER_WAITS, () => this.ready() >= n || this.failed());
    return this.ready() >= n;
  }

  /** Whether the hashing thread gave up (an exception it could not handle). */
  failed(): boolean {
    return Atomics.load(this.#control, FAILED) !== 0;
  }

  close(): void {
    Atomics.store(this.#control, CLOSED, 1);
    this.#moved(VERIFIER_MOVED, HASHER_WAITS);
  }

  // ---- the hashing thread's side

  /** Ops published and not yet read. */
  pending(): number {
    return Atomics.load(this.#control, OPS_WRITTEN) - this.#read;
  }

  /** The op `ahead` places after the next unread one, as [kind, byteOffset, length]. */
  op(ahead = 0): [number, number, number] {
    const at = ((this.#read + ahead) % OPS_CAP) * OP_FIELDS;
    return [this.#ops[at]!, this.#ops[at + 1]!, this.#ops[at + 2]!];
  }

  /** Marks `n` ops read. */
  consume(n: number): void {
    this.#read += n;
    Atomics.store(this.#control, OPS_READ, this.#read);
    this.#moved(HASHER_MOVED, VERIFIER_WAITS);
  }

  /** Publishes one digest, waiting while the table is full of digests the verifier has not taken. */
  digest(bytes: Uint8Array): boolean {
    this.#until(VERIFIER_MOVED, HASHER_WAITS, () => this.closed() || this.#done - Atomics.load(this.#control, DIGESTS_TAKEN) < DIGESTS_CAP);
    if (this.closed()) return false;
    this.#digests.set(bytes, (this.#done % DIGESTS_CAP) * 32);
    this.#done++;
    Atomics.store(this.#control, DIGESTS_DONE, this.#done);
    this.#moved(HASHER_MOVED, VERIFIER_WAITS);
    return true;
  }

  /** Blocks this thread until an op is published or the channel closes. */
  waitForOps(): void {
    this.#until(VERIFIER_MOVED, HASHER_WAITS, () => this.closed() || this.pending() > 0);
  }

  closed(): boolean {
    return Atomics.load(this.#control, CLOSED) !== 0;
  }

  /** Tells a verifier that may be waiting that no digest will come. */
  fail(): void {
    Atomics.store(this.#control, FAILED, 1);
    this.#moved(HASHER_MOVED, VERIFIER_WAITS);
  }

  // A side bumps its counter, then notifies only if the other says it sleeps.
  // A sleeper reads the counter before testing its condition and sleeps only
  // while the counter still holds that value: a move between the two is never
  // missed. The timeout is only a safety net.
  #moved(counter: number, otherWaits: number): void {
    Atomics.add(this.#control, counter, 1);
    if (Atomics.load(this.#control, otherWaits) !== 0) Atomics.notify(this.#control, counter);
  }

  #until(counter: number, iWait: number, done: () => boolean): void {
    for (;;) {
      const seen = Atomics.load(this.#control, counter);
      if (done()) return;
      Atomics.store(this.#control, iWait, 1);
      Atomics.wait(this.#control, counter, seen, 1000);
      Atomics.store(this.#control, iWait, 0);
    }
  }
}
