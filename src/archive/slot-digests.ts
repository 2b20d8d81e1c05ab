/** What crosses to the worker: the shared memory of the table and its dimensions. */
export interface SlotDigestsShape {
  data: SharedArrayBuffer;
  slots: number;
  /** Records one slot holds. */
  capacity: number;
}

/** SHA-256 digests of byte ranges of the chunk last handed out, where some were computed ahead. */
export interface ChunkDigests {
  /** The hex SHA-256 of stream bytes [at, at + length) if it was computed, else null. */
  take(at: number, length: number): string | null;
}

// Per slot: a count (8 bytes, to keep the records' numbers aligned), then records of
// stream offset and length (two float64) and the 32-byte digest.
const HEAD = 8;
const RECORD = 48;

/**
 * Digests of byte ranges of a decode ring's slots (decode-ring.ts), side by
 * side with them in shared memory: the decoding thread adds them to a slot
 * before it publishes it, the consumer reads them while that slot is its
 * chunk. A slot's records are in stream order, and so are the consumer's
 * questions, so a cursor answers them without a map or an allocation.
 */
export class SlotDigests implements ChunkDigests {
  readonly shape: SlotDigestsShape;
  #counts: Int32Array;
  #numbers: Float64Array;
  #bytes: Buffer;
  /** Consumer: the slot of the current chunk and the next of its records to look at. */
  #slot = -1;
  #cursor = 0;

  private constructor(shape: SlotDigestsShape) {
    this.shape = shape;
    this.#counts = new Int32Array(shape.data);
    this.#numbers = new Float64Array(shape.data);
    this.#bytes = Buffer.from(shape.data);
  }

  /**
   * A table for `slots` slots of `slotBytes`. An entry with data takes at
   * least a header block and a data block, and two such ranges in one slot
   * are at least a header apart: no slot holds more than slotBytes / 1024.
   */
  static create(slots: number, slotBytes: number): SlotDigests {
    const capacity = Math.ceil(slotBytes / 1024);
    return new SlotDigests({ data: new SharedArrayBuffer(slots * (HEAD + capacity * RECORD)), slots, capacity });
  }

  static attach(shape: SlotDigestsShape): SlotDigests {
    return new SlotDigests(shape);
  }

  /** Producer: forgets a slot's records before it is filled again. */
  clear(slot: number): void {
    this.#counts[this.#base(slot) / 4] = 0;
  }

  /** Producer: records the digest of stream bytes [at, at + length), which lie in `slot`; false when the slot's records are full. */
  add(slot: number, at: number, length: number, digest: Buffer): boolean {
    const base = this.#base(slot);
    const n = this.#counts[base / 4]!;
    if (n === this.shape.capacity) return false;
    const record = base + HEAD + n * RECORD;
    this.#numbers[record / 8] = at;
    this.#numbers[record / 8 + 1] = length;
    digest.copy(this.#bytes, record + 16, 0, 32);
    this.#counts[base / 4] = n + 1;
    return true;
  }

  /** Consumer: the chunk now handed out is `slot`'s. */
  select(slot: number): void {
    this.#slot = slot;
    this.#cursor = 0;
  }

  take(at: number, length: number): string | null {
    if (this.#slot < 0) return null;
    const base = this.#base(this.#slot);
    const n = this.#counts[base / 4]!;
    while (this.#cursor < n) {
      const record = base + HEAD + this.#cursor * RECORD;
      const recordAt = this.#numbers[record / 8]!;
      if (recordAt > at) return null;
      if (recordAt === at) {
        if (this.#numbers[record / 8 + 1] !== length) return null;
        this.#cursor++;
        return this.#bytes.toString('hex', record + 16, record + 48);
      }
      this.#cursor++;
    }
    return null;
  }

  #base(slot: number): number {
    return slot * (HEAD + this.shape.capacity * RECORD);
  }
}
