import { BLOCK, padded } from './tar-header.js';
import { MAX_META_BYTES } from './tar-parser.js';

/** What extended headers say that moves the next header: a size, whether the name ends in '/', a sparse file. */
interface Overrides {
  /** -1 when not given. */
  size: number;
  slash: boolean | null;
  sparse: boolean;
}

interface Range {
  at: number;
  length: number;
}

const none = (): Overrides => ({ size: -1, slash: null, sparse: false });

const SLASH = 0x2f;
const KEY_SIZE = [0x73, 0x69, 0x7a, 0x65]; // size
const KEY_PATH = [0x70, 0x61, 0x74, 0x68]; // path
const KEY_SPARSE = [0x47, 0x4e, 0x55, 0x2e, 0x73, 0x70, 0x61, 0x72, 0x73, 0x65, 0x2e]; // GNU.sparse.
const USTAR = [0x75, 0x73, 0x74, 0x61, 0x72]; // ustar, in both the POSIX and the GNU magic

/**
 * Follows a tar stream from header to header as it arrives in pieces, and
 * tells where each entry's data lies: what a second thread needs to hash
 * files ahead of the TarParser that reads the same stream (verify).
 * It reads only what moves the next header (sizes, typeflags, pax size, path
 * and sparse keys, GNU long names) straight from the bytes, without strings
 * or copies, so that walking costs the second thread little; it checks
 * nothing the parser checks.
 *
 * A walk that goes wrong costs time, never correctness: a range it reports is
 * a byte range of the stream, and a digest of it is used only for an entry
 * whose data the parser finds at exactly that range. Whatever it cannot
 * follow (no ustar magic, which includes the end-of-archive marker; a
 * malformed number or pax record) stops the walk for the rest of the stream.
 */
export class TarWalk {
  /** Stream offset of the next header block. */
  #next = 0;
  #stopped = false;
  /** An extended header's body that straddles pieces, being gathered. */
  #meta: { flag: number; at: number; body: Buffer; fill: number } | null = null;
  #local = none();
  #global = none();
  #longNameSlash: boolean | null = null;
  /** An entry whose header ended the last piece: its data may lie wholly in the next. */
  #ahead: Range | null = null;

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Walks the headers found in `piece`, the stream's bytes from offset
   * `start` on (pieces come in order, without gaps), and calls
   * `found(at, length)` for every entry with data that lies wholly inside it.
   */
  scan(piece: Buffer, start: number, found: (at: number, length: number) => void): void {
    const end = start + piece.length;
    const ahead = this.#ahead;
    if (ahead !== null && ahead.at < end) {
      this.#ahead = null;
      if (ahead.at >= start && ahead.at + ahead.length <= end) found(ahead.at, ahead.length);
    }
    while (!this.#stopped) {
      const meta = this.#meta;
      if (meta !== null) {
        const from = meta.at + meta.fill;
        if (from >= end) return;
        const n = Math.min(meta.body.length - meta.fill, end - from);
        piece.copy(meta.body, meta.fill, from - start, from - start + n);
        meta.fill += n;
        if (meta.fill < meta.body.length) return;
        this.#meta = null;
        this.#onMeta(meta.flag, meta.body, 0, meta.body.length);
        continue;
      }
      if (this.#next + BLOCK > end) return;
      if (this.#next < start) return this.#stop();
      const at = this.#next + BLOCK;
      const length = this.#onHeader(piece, this.#next - start, end - at);
      if (length > 0 && at + length <= end) found(at, length);
      else if (length > 0 && at === end) this.#ahead = { at, length };
    }
  }

  #stop(): void {
    this.#stopped = true;
  }

  /** Moves past the header block at `p`; for an entry, the length of its data (else 0). `room`: bytes of the piece after the block. */
  #onHeader(piece: Buffer, p: number, room: number): number {
    if (!matches(piece, p + 257, USTAR)) {
      this.#stop();
      return 0;
    }
    const flag = piece[p + 156]!;
    const size = readOctal(piece, p + 124, 12);
    if (size < 0) {
      this.#stop();
      return 0;
    }
    const at = this.#next + BLOCK;
    // x g L K: extended headers that apply to what follows.
    if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
      if (size > MAX_META_BYTES) {
        this.#stop();
        return 0;
      }
      this.#next = at + padded(size);
      if (size <= room) this.#onMeta(flag, piece, p + BLOCK, p + BLOCK + size);
      else this.#meta = { flag, at, body: Buffer.allocUnsafe(size), fill: 0 };
      return 0;
    }
    const local = this.#local;
    const global = this.#global;
    const slash = local.slash ?? global.slash ?? this.#longNameSlash ?? nameEndsWithSlash(piece, p);
    this.#local = none();
    this.#longNameSlash = null;
    // As the TarParser decides: sparse files carry data whatever their flag; directories
    // (flag 5, or a regular-file flag with a trailing slash), links and devices none.
    const regular = flag === 0x30 || flag === 0 || flag === 0x37;
    const dataless = (regular && slash) || (flag >= 0x31 && flag <= 0x36);
    const length = local.sparse || global.sparse || !dataless ? (local.size >= 0 ? local.size : global.size >= 0 ? global.size : size) : 0;
    this.#next = at + padded(length);
    return length;
  }

  #onMeta(flag: number, body: Buffer, from: number, to: number): void {
    if (flag === 0x4c) {
      // A GNU long name: NUL-terminated.
      let end = from;
      while (end < to && body[end] !== 0) end++;
      this.#longNameSlash = end > from && body[end - 1] === SLASH;
    } else if (flag === 0x78 || flag === 0x67) {
      if (!readPax(body, from, to, flag === 0x78 ? this.#local : this.#global)) this.#stop();
    }
  }
}

function matches(buf: Buffer, at: number, bytes: number[]): boolean {
  for (let i = 0; i < bytes.length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

/** The name field's last character is '/' (or the name is empty and the prefix is not: "prefix/"). */
function nameEndsWithSlash(h: Buffer, p: number): boolean {
  let end = p;
  while (end < p + 100 && h[end] !== 0) end++;
  if (end > p) return h[end - 1] === SLASH;
  return h[p + 345] !== 0 && matches(h, p + 257, [...USTAR, 0]);
}

/** An octal or base-256 number field; -1 when malformed. */
function readOctal(buf: Buffer, at: number, len: number): number {
  const end = at + len;
  if (buf[at]! & 0x80) {
    if (buf[at] !== 0x80) return -1;
    let v = 0;
    for (let i = at + 1; i < end; i++) v = v * 256 + buf[i]!;
    return Number.isSafeInteger(v) ? v : -1;
  }
  let i = at;
  while (i < end && buf[i] === 0x20) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) if (buf[i] !== 0 && buf[i] !== 0x20) return -1;
  return v;
}

/** Reads the pax records "<len> key=value\n" in body[from, to) that matter to the walk into `into`; false when malformed. */
function readPax(body: Buffer, from: number, to: number, into: Overrides): boolean {
  let r = from;
  while (r < to && body[r] !== 0) {
    let len = 0;
    let q = r;
    while (q < to && q - r < 12 && body[q]! >= 0x30 && body[q]! <= 0x39) len = len * 10 + (body[q++]! - 0x30);
    if (q === r || body[q] !== 0x20 || r + len > to || body[r + len - 1] !== 0x0a) return false;
    const key = q + 1;
    const last = r + len - 1; // the newline
    let eq = key;
    while (eq < last && body[eq] !== 0x3d) eq++;
    if (eq === last) return false;
    if (eq - key === 4 && matches(body, key, KEY_SIZE)) {
      let v = 0;
      if (last - eq - 1 < 1 || last - eq - 1 > 16) return false;
      for (let i = eq + 1; i < last; i++) {
        const c = body[i]!;
        if (c < 0x30 || c > 0x39) return false;
        v = v * 10 + (c - 0x30);
      }
      if (!Number.isSafeInteger(v)) return false;
      into.size = v;
    } else if (eq - key === 4 && matches(body, key, KEY_PATH)) {
      into.slash = last > eq + 1 && body[last - 1] === SLASH;
    } else if (eq - key > KEY_SPARSE.length && matches(body, key, KEY_SPARSE)) {
      into.sparse = true;
    }
    r += len;
  }
  return true;
}
