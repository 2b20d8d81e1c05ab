import { SafebakError } from '../errors.js';
import type { EntryType } from './entry-type.js';
import { BLOCK, padded } from './tar-header.js';
import type { TarHeader } from './tar-header.js';

/** One entry as read from a tar stream, pax and GNU long names applied. */
export interface ParsedEntry extends Omit<TarHeader, 'type' | 'devmajor' | 'devminor'> {
  /** `unknown` for typeflags safebak does not write (sparse, multi-volume…). */
  type: EntryType | 'unknown';
  /** The raw typeflag character, for messages about unknown types. */
  typeflag: string;
  devmajor: number;
  devminor: number;
  /** Byte offset of the entry's first header block (its pax header, if any). */
  offset: number;
}

export interface TarParserHandlers {
  entry(entry: ParsedEntry): void;
  /** A piece of the current entry's data, which starts at byte `offset` of the tar stream. */
  data(chunk: Buffer, offset: number): void;
  entryEnd(): void;
}

/** The largest pax or GNU long-name body accepted: real ones are a few hundred bytes. */
export const MAX_META_BYTES = 1 << 20;

const typeByFlag: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file for every practical purpose
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'dir',
  '6': 'fifo',
};

const NO_PAX: Record<string, string> = Object.freeze({});

type State = 'header' | 'data' | 'meta' | 'padding' | 'end';

interface PendingMeta {
  pax: Record<string, string>;
  longName?: string;
  longLink?: string;
  offset: number;
}

/**
 * A push parser for tar streams that trusts nothing it reads: every header
 * checksum and number is checked, metadata bodies are bounded, and the end of
 * input before the end-of-archive marker is reported as truncation. Memory use
 * is constant; file data is handed out as views of the input chunks.
 */
export class TarParser {
  #handlers: TarParserHandlers;
  #state: State = 'header';
  #offset = 0;
  /** The header block being read, also seen as 128 words for the checksum. */
  #headerWords = new Uint32Array(BLOCK / 4);
  #header = Buffer.from(this.#headerWords.buffer);
  #headerFill = 0;
  #remaining = 0;
  #padding = 0;
  #metaKind = '';
  #metaChunks: Buffer[] = [];
  #metaSize = 0;
  #pending: PendingMeta | null = null;
  #globalPax: Record<string, string> = {};
  #globalPaxKeys = 0;
  #zeroBlocks = 0;
  #entries = 0;
  #trailingGarbage = false;

  constructor(handlers: TarParserHandlers) {
    this.#handlers = handlers;
  }

  /** Bytes of tar stream consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Whether the end-of-archive marker (two zero blocks) has been read. */
  get ended(): boolean {
    return this.#state === 'end';
  }

  /** Whether non-zero bytes followed the end-of-archive marker. */
  get trailingGarbage(): boolean {
    return this.#trailingGarbage;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    /** The chunk as words, for header checksums read in place (undefined until needed, null when unaligned). */
    let words: Uint32Array | null | undefined;
    while (pos < chunk.length) {
      switch (this.#state) {
        case 'header': {
          // A whole block at a word boundary (the stream's chunks may start anywhere in a block).
          if (this.#headerFill === 0 && pos + BLOCK <= chunk.length && (pos & 3) === 0) {
            words ??= chunk.byteOffset % 4 === 0 ? new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.length >>> 2) : null;
            if (words !== null) {
              // Read in place: a copy per header block cost more than all of its checks.
              this.#onHeaderBlock(chunk, pos, words);
              this.#offset += BLOCK;
              pos += BLOCK;
              break;
            }
          }
          const take = Math.min(BLOCK - this.#headerFill, chunk.length - pos);
          chunk.copy(this.#header, this.#headerFill, pos, pos + take);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill === BLOCK) {
            this.#headerFill = 0;
            this.#onHeaderBlock(this.#header, 0, this.#headerWords);
            this.#offset += BLOCK;
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.#remaining, chunk.length - pos);
          this.#handlers.data(chunk.subarray(pos, pos + take), this.#offset);
          this.#remaining -= take;
          this.#offset += take;
          pos += take;
          if (this.#remaining === 0) this.#finishData();
          break;
        }
        case 'meta': {
          const take = Math.min(this.#remaining, chunk.length - pos);
          // A body wholly in this chunk is read where it is; one cut by the chunk's end is gathered.
          const whole = this.#metaChunks.length === 0 && take === this.#remaining ? chunk.subarray(pos, pos + take) : null;
          if (whole === null) this.#metaChunks.push(Buffer.from(chunk.subarray(pos, pos + take)));
          this.#remaining -= take;
          this.#offset += take;
          pos += take;
          if (this.#remaining === 0) this.#finishMeta(whole ?? Buffer.concat(this.#metaChunks, this.#metaSize));
          break;
        }
        case 'padding': {
          const take = Math.min(this.#padding, chunk.length - pos);
          this.#padding -= take;
          this.#offset += take;
          pos += take;
          if (this.#padding === 0) this.#state = 'header';
          break;
        }
        case 'end': {
          // Tar files are padded to a record size after the marker; anything non-zero is noted.
          for (let i = pos; i < chunk.length; i++) {
            if (chunk[i] !== 0) {
              this.#trailingGarbage = true;
              break;
            }
          }
          this.#offset += chunk.length - pos;
          pos = chunk.length;
          break;
        }
      }
    }
  }

  /** Call at the end of input; throws if the archive stopped short. */
  end(): void {
    if (this.#state === 'end') return;
    if (this.#entries === 0 && this.#offset === 0) {
      const what = this.#headerFill === 0 ? 'empty input' : `${this.#headerFill} bytes, shorter than one tar header`;
      throw new SafebakError('SAFEBAK_NOT_AN_ARCHIVE', `not a tar archive (${what})`);
    }
    const where = this.#state === 'data' ? 'inside the data of an entry' : 'before the end-of-archive marker';
    throw new SafebakError('SAFEBAK_ARCHIVE_TRUNCATED', `archive is truncated at byte ${this.#offset + this.#headerFill} (${where})`);
  }

  #corrupt(message: string): never {
    if (this.#entries === 0 && this.#pending === null && this.#offset === 0) {
      throw new SafebakError('SAFEBAK_NOT_AN_ARCHIVE', `not a tar archive (${message})`);
    }
    throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `damaged tar header at byte ${this.#offset}: ${message}`);
  }

  /** Reads the header block at `h[at, at + 512)`, which `words` also holds from word at / 4. */
  #onHeaderBlock(h: Buffer, at: number, words: Uint32Array): void {
    if (isZero(h, at, at + BLOCK)) {
      if (this.#pending !== null) this.#corrupt('end-of-archive marker right after an extended header');
      this.#zeroBlocks++;
      if (this.#zeroBlocks === 2) this.#state = 'end';
      return;
    }
    if (this.#zeroBlocks > 0) this.#corrupt('a lone zero block inside the archive');
    checkChecksum(h, at, words, (m) => this.#corrupt(m));
    // "ustar\0" "00" (POSIX) or "ustar " " \0" (GNU), or nothing (v7).
    const ustar = h[at + 257] === 0x75 && h[at + 258] === 0x73 && h[at + 259] === 0x74 && h[at + 260] === 0x61 && h[at + 261] === 0x72;
    const isUstar = ustar && h[at + 262] === 0 && h[at + 263] === 0x30 && h[at + 264] === 0x30;
    const isGnu = ustar && h[at + 262] === 0x20 && h[at + 263] === 0x20 && h[at + 264] === 0;
    if (!isUstar && !isGnu && !isZero(h, at + 257, at + 265)) this.#corrupt('unknown header format');

    const flag = String.fromCharCode(h[at + 156]!);
    const size = readNumber(h, at + 124, 12, 'size', (m) => this.#corrupt(m));
    const startOffset = this.#pending?.offset ?? this.#offset;

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META_BYTES) this.#corrupt(`extended header of ${size} bytes exceeds the ${MAX_META_BYTES}-byte limit`);
      if (flag !== 'g') this.#pending ??= { pax: {}, offset: startOffset };
      this.#metaKind = flag;
      this.#metaChunks = [];
      this.#metaSize = size;
      this.#remaining = size;
      this.#padding = padded(size) - size;
      if (size === 0) this.#finishMeta(Buffer.alloc(0));
      else this.#state = 'meta';
      return;
    }

    const pending = this.#pending;
    this.#pending = null;
    // Global records are rare: most entries take their own records, or none, as they are.
    const pax = this.#globalPaxKeys === 0 ? (pending?.pax ?? NO_PAX) : { ...this.#globalPax, ...(pending?.pax ?? {}) };
    let name = readString(h, at, 100);
    if (isUstar) {
      const prefix = readString(h, at + 345, 155);
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    if (pending?.longName !== undefined) name = pending.longName;
    if (pax.path !== undefined) name = pax.path;
    let linkTarget: string | undefined = readString(h, at + 157, 100) || undefined;
    if (pending?.longLink !== undefined) linkTarget = pending.longLink;
    if (pax.linkpath !== undefined) linkTarget = pax.linkpath;

    let type: EntryType | 'unknown' = typeByFlag[flag] ?? 'unknown';
    // Old tars mark directories only by a trailing slash on a regular-file entry.
    if ((flag === '0' || flag === '\0') && name.endsWith('/')) type = 'dir';
    if (pax['GNU.sparse.major'] !== undefined || pax['GNU.sparse.size'] !== undefined) type = 'unknown';

    const corrupt = (m: string): never => this.#corrupt(m);
    const entry: ParsedEntry = {
      name,
      type,
      typeflag: flag,
      size: pax.size !== undefined ? parsePaxInteger(pax.size, 'size', corrupt) : size,
      mode: readNumber(h, at + 100, 8, 'mode', corrupt) & 0o7777,
      uid: pax.uid !== undefined ? parsePaxInteger(pax.uid, 'uid', corrupt) : readNumber(h, at + 108, 8, 'uid', corrupt),
      gid: pax.gid !== undefined ? parsePaxInteger(pax.gid, 'gid', corrupt) : readNumber(h, at + 116, 8, 'gid', corrupt),
      mtimeSec: 0,
      mtimeNsec: 0,
      linkTarget,
      devmajor: readNumber(h, at + 329, 8, 'devmajor', corrupt),
      devminor: readNumber(h, at + 337, 8, 'devminor', corrupt),
      offset: startOffset,
    };
    if (pax.mtime !== undefined) [entry.mtimeSec, entry.mtimeNsec] = parsePaxTime(pax.mtime, corrupt);
    else entry.mtimeSec = readNumber(h, at + 136, 12, 'mtime', corrupt);
    if (name === '') this.#corrupt('entry with an empty name');
    if (name.includes('\0')) this.#corrupt('entry name contains a NUL byte');

    this.#entries++;
    this.#handlers.entry(entry);
    // Only these types carry data in the archive; a hard link's or directory's size field is ignored.
    const hasData = type === 'file' || type === 'unknown';
    const dataSize = hasData ? entry.size : 0;
    this.#remaining = dataSize;
    this.#padding = padded(dataSize) - dataSize;
    if (dataSize === 0) this.#finishData();
    else this.#state = 'data';
  }

  #finishData(): void {
    this.#handlers.entryEnd();
    this.#state = this.#padding > 0 ? 'padding' : 'header';
  }

  #finishMeta(body: Buffer): void {
    this.#metaChunks = [];
    const corrupt = (m: string): never => this.#corrupt(m);
    if (this.#metaKind === 'x') Object.assign(this.#pending!.pax, parsePax(body, corrupt));
    else if (this.#metaKind === 'g') {
      Object.assign(this.#globalPax, parsePax(body, corrupt));
      this.#globalPaxKeys = Object.keys(this.#globalPax).length;
    }
    else if (this.#metaKind === 'L') this.#pending!.longName = readString(body, 0, body.length);
    else this.#pending!.longLink = readString(body, 0, body.length);
    this.#state = this.#padding > 0 ? 'padding' : 'header';
  }
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * The checksum field counts as eight spaces. Old tars summed signed bytes:
 * that sum is the unsigned one less 256 for every byte above 127. This runs
 * for every header of the archive, so it sums a word at a time: two bytes
 * per 16-bit lane (126 words of at most 2 × 255 fit a lane), and the top
 * bit of every byte per 8-bit lane.
 */
function checkChecksum(h: Buffer, at: number, words: Uint32Array, corrupt: (m: string) => never): void {
  let even = 0;
  let odd = 0;
  let high = 0;
  const base = at >>> 2;
  for (let i = 0; i < BLOCK / 4; i++) {
    // Words 37 and 38 are bytes 148-155, the checksum field itself.
    if (i === 37) {
      i = 38;
      continue;
    }
    const w = words[base + i]!;
    even += w & 0x00ff00ff;
    odd += (w >>> 8) & 0x00ff00ff;
    high += (w >>> 7) & 0x01010101;
  }
  const unsigned = (even & 0xffff) + (even >>> 16) + (odd & 0xffff) + (odd >>> 16) + 8 * 0x20;
  const highBytes = (high & 0xff) + ((high >>> 8) & 0xff) + ((high >>> 16) & 0xff) + (high >>> 24);
  const stored = readNumber(h, at + 148, 8, 'checksum', corrupt);
  if (stored !== unsigned && stored !== unsigned - 256 * highBytes) corrupt('header checksum mismatch');
}

/** A NUL-terminated string field, decoded as UTF-8 (what pax and GNU tar write). */
function readString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = Math.min(off + len, buf.length);
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

/** An octal (or base-256) numeric field, rejecting anything malformed. */
function readNumber(buf: Buffer, off: number, len: number, field: string, corrupt: (m: string) => never): number {
  const first = buf[off]!;
  if (first & 0x80) {
    if (first !== 0x80) corrupt(`negative or malformed base-256 ${field}`);
    let v = 0n;
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(buf[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) corrupt(`${field} ${v} is too large`);
    return Number(v);
  }
  let i = off;
  const end = off + len;
  while (i < end && buf[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x37) {
      v = v * 8 + (c - 0x30);
      digits++;
    } else break;
  }
  for (; i < end; i++) {
    if (buf[i] !== 0 && buf[i] !== 0x20) corrupt(`malformed number in the ${field} field`);
  }
  if (digits === 0 && field === 'checksum') corrupt('empty checksum field');
  return v;
}

/** Parses "<len> key=value\n" records, strictly. */
function parsePax(body: Buffer, corrupt: (m: string) => never): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) {
      // Some writers pad the body with NULs.
      if (isZero(body, pos, body.length)) break;
      corrupt('malformed pax record');
    }
    // The length's digits, read as bytes: no string or regular expression per record.
    let space = pos;
    let len = 0;
    while (space < body.length && space - pos <= 12 && body[space]! >= 0x30 && body[space]! <= 0x39) len = len * 10 + (body[space++]! - 0x30);
    if (space === pos || space === body.length || body[space] !== 0x20 || space - pos > 12) {
      const end = body.indexOf(0x20, pos);
      if (end === -1 || end - pos > 12) corrupt('malformed pax record length');
      corrupt(`malformed pax record length "${body.toString('latin1', pos, end)}"`);
    }
    if (body[pos] === 0x30) corrupt(`malformed pax record length "${body.toString('latin1', pos, space)}"`);
    if (pos + len > body.length || len < space - pos + 4) corrupt(`pax record length ${len} is out of bounds`);
    if (body[pos + len - 1] !== 0x0a) corrupt('pax record does not end with a newline');
    const record = body.toString('utf8', space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (eq <= 0) corrupt('pax record without a key');
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function parsePaxInteger(text: string, field: string, corrupt: (m: string) => never): number {
  if (!/^[0-9]{1,16}$/.test(text)) corrupt(`malformed pax ${field} "${text.slice(0, 40)}"`);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) corrupt(`pax ${field} ${text} is too large`);
  return v;
}

/** Parses a pax time "[-]sec[.frac]" into floored seconds and nanoseconds. */
export function parsePaxTime(text: string, corrupt: (m: string) => never): [number, number] {
  // [-]1-15 digits[.1-30 digits], read a character at a time: this runs for every entry with nanoseconds.
  const negative = text.charCodeAt(0) === 0x2d;
  let i = negative ? 1 : 0;
  let sec = 0;
  const secStart = i;
  for (; i < text.length && isDigit(text.charCodeAt(i)); i++) sec = sec * 10 + (text.charCodeAt(i) - 0x30);
  const secDigits = i - secStart;
  let nsec = 0;
  let fracDigits = -1;
  if (i < text.length && text.charCodeAt(i) === 0x2e) {
    const fracStart = ++i;
    for (; i < text.length && isDigit(text.charCodeAt(i)); i++) if (i - fracStart < 9) nsec = nsec * 10 + (text.charCodeAt(i) - 0x30);
    fracDigits = i - fracStart;
    for (let d = Math.min(fracDigits, 9); d < 9; d++) nsec *= 10;
  }
  if (i !== text.length || secDigits < 1 || secDigits > 15 || fracDigits === 0 || fracDigits > 30) corrupt(`malformed pax mtime "${text.slice(0, 40)}"`);
  if (negative) return nsec === 0 ? [-sec, 0] : [-sec - 1, 1_000_000_000 - nsec];
  return [sec, nsec];
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
