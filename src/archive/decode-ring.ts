/** What crosses to the worker: the shared memory of a ring and its dimensions. */
export interface DecodeRingShape {
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
  slots: number;
  slotBytes: number;
}

// Indices into the control words; slot lengths follow them.
const PRODUCED = 0;
const CONSUMED = 1;
const CLOSED = 2;
// Set by a side about to sleep: the other notifies only then (a notify is not free).
const PRODUCER_WAITS = 3;
const CONSUMER_WAITS = 4;
const LENGTHS = 5;

/**
 * The producer's lead, in slots, once the consumer has been the slower side
 * for a whole ring of claims. A full ring (16 MiB) is written long before it
 * is read, and the consumer then reads it from memory rather than from the
 * producer's cache. Verify of the bench's 1 GiB of random files took
 * 0.96–1.08 s that way and 0.88–0.98 s three slots behind, almost all of
 * it SHA-256 (bench/README.md); two slots measured the same.
 */
const NEAR_LEAD = 3;
/** How many recent waits, on either side, say which side is the slower one. */
const PACE_MEMORY = 8;

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/**
 * A single-producer, single-consumer ring of fixed slots in shared memory:
 * the decoding thread fills slots, the main thread reads them in order and
 * hands each back by advancing a counter. Nothing is copied and no message
 * is sent per slot; while the producer keeps ahead, the consumer never
 * waits at all. The producer blocks (Atomics.wait) when every slot is in
 * use, which bounds memory to slots × slotBytes.
 *
 * The producer keeps track of which side is the slower one (RingPace):
 * while it is the consumer, the producer stays only a few slots ahead of it,
 * and may take work off it (`consumerBehind`).
 */
export class DecodeRing {
  readonly shape: DecodeRingShape;
  #control: Int32Array;
  /** Producer side: slots published so far. */
  #produced = 0;
  /** Producer side: which side is the slower one, and so how far ahead the producer may go. */
  #pace: RingPace;
  /** Consumer side: the next slot sequence number to read. */
  #next = 0;

  private constructor(shape: DecodeRingShape) {
    this.shape = shape;
    this.#control = new Int32Array(shape.control);
    this.#pace = new RingPace(shape.slots);
  }

  static create(slots: number, slotBytes: number): DecodeRing {
    return new DecodeRing({
      data: new SharedArrayBuffer(slots * slotBytes),
      control: new SharedArrayBuffer((LENGTHS + slots) * 4),
      slots,
      slotBytes,
    });
  }

  static attach(shape: DecodeRingShape): DecodeRing {
    return new DecodeRing(shape);
  }

  /** Producer: the next free slot, waiting for one; null once the consumer has closed the ring. */
  claim(): Buffer | null {
    const c = this.#control;
    let waited = false;
    for (;;) {
      if (Atomics.load(c, CLOSED) !== 0) return null;
      const consumed = Atomics.load(c, CONSUMED);
      if (this.#produced - consumed < this.#pace.limit) break;
      waited = true;
      Atomics.store(c, PRODUCER_WAITS, 1);
      // Returns at once if the consumer moved since the load above; the timeout is only a safety net.
      Atomics.wait(c, CONSUMED, consumed, 1000);
      Atomics.store(c, PRODUCER_WAITS, 0);
    }
    this.#pace.claimed(waited);
    return this.#slot(this.#produced);
  }

  /** Producer: the index of the slot claim() returns (until it is published). */
  get claimedSlot(): number {
    return this.#produced % this.shape.slots;
  }

  /** Producer: the consumer has lately been the slower side (see RingPace). */
  get consumerBehind(): boolean {
    return this.#pace.consumerBehind;
  }

  /** Producer: makes the claimed slot, filled with `length` bytes, visible to the consumer. */
  publish(length: number): void {
    const c = this.#control;
    Atomics.store(c, LENGTHS + (this.#produced % this.shape.slots), length);
    this.#produced++;
    Atomics.store(c, PRODUCED, this.#produced);
    const consumerWaited = Atomics.load(c, CONSUMER_WAITS) !== 0;
    if (consumerWaited) Atomics.notify(c, PRODUCED);
    this.#pace.published(consumerWaited);
  }

  /** Consumer: the next published slot's bytes, or null if the producer has not published it yet. */
  peek(): Buffer | null {
    const c = this.#control;
    if (Atomics.load(c, PRODUCED) <= this.#next) return null;
    const length = Atomics.load(c, LENGTHS + (this.#next % this.shape.slots));
    return this.#slot(this.#next).subarray(0, length);
  }

  /** Consumer: the index of the slot peek() returns. */
  get peekedSlot(): number {
    return this.#next % this.shape.slots;
  }

  /** Consumer: hands the slot last returned by peek() back to the producer. */
  release(): void {
    this.#next++;
    Atomics.store(this.#control, CONSUMED, this.#next);
    if (Atomics.load(this.#control, PRODUCER_WAITS) !== 0) Atomics.notify(this.#control, CONSUMED);
  }

  /** Consumer: resolves once the producer publishes past what has been read (or the ring closes). */
  async published(): Promise<void> {
    const c = this.#control;
    Atomics.store(c, CONSUMER_WAITS, 1);
    const r = waitAsync(c, PRODUCED, this.#next);
    if (r.async) await r.value;
    Atomics.store(c, CONSUMER_WAITS, 0);
  }

  /** Consumer: stops the producer at its next claim and releases any wait on either side. */
  close(): void {
    Atomics.store(this.#control, CLOSED, 1);
    Atomics.notify(this.#control, CONSUMED);
    Atomics.notify(this.#control, PRODUCED);
  }

  #slot(seq: number): Buffer {
    const { data, slots, slotBytes } = this.shape;
    return Buffer.from(data, (seq % slots) * slotBytes, slotBytes);
  }
}

/**
 * Which side of the ring is the slower one, as the producer sees it: its
 * claims that wait for room mean the consumer is; its publishes that find
 * the consumer waiting for data mean the producer is.
 *
 * - `limit`: how many slots the producer may have published and not had
 *   back when it claims the next. A ring of claims in a row that had to
 *   wait drops it to NEAR_LEAD, until a claim finds room at once (the
 *   consumer caught up) and the whole ring is allowed again, to absorb the
 *   consumer's bursts.
 * - `consumerBehind`: the last PACE_MEMORY waits, on either side, lean to
 *   the producer's waits for room. Work the producer takes off the consumer
 *   then shortens the slower side; taken off a consumer that is only
 *   catching up after a burst, it would lengthen it.
 */
export class RingPace {
  readonly #slots: number;
  /** Claims in a row that found the ring at its limit. */
  #waitedInARow = 0;
  /** Producer waits less consumer waits, lately (within ±PACE_MEMORY). */
  #balance = 0;

  constructor(slots: number) {
    this.#slots = slots;
  }

  get limit(): number {
    return this.#waitedInARow >= this.#slots ? Math.min(NEAR_LEAD, this.#slots) : this.#slots;
  }

  get consumerBehind(): boolean {
    return this.#balance > 0;
  }

  /** After each claim: whether it had to wait for room. */
  claimed(waited: boolean): void {
    this.#waitedInARow = waited ? this.#waitedInARow + 1 : 0;
    if (waited) this.#balance = Math.min(this.#balance + 1, PACE_MEMORY);
  }

  /** After each publish: whether the consumer was waiting for it. */
  published(consumerWaited: boolean): void {
    if (consumerWaited) this.#balance = Math.max(this.#balance - 1, -PACE_MEMORY);
  }
}
