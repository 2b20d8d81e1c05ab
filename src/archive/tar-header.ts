import type { EntryType } from './entry-type.js';
import { typeflagOf } from './entry-type.js';

export const BLOCK = 512;

/** What one tar entry says about itself, before any data. */
export interface TarHeader {
  name: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds since the epoch (may be negative). */
  mtimeSec: number;
  /** Nanoseconds within the second, 0–999,999,999. */
  mtimeNsec: number;
  linkTarget?: string | undefined;
  devmajor?: number | undefined;
  devminor?: number | undefined;
}

const MAX_OCTAL_8 = 0o7777777; // fits 7 digits + NUL
const MAX_OCTAL_12 = 0o77777777777;

/** Bytes a header for `h` takes, pax extension included, rounded to blocks. */
export function encodeHeader(h: TarHeader): Buffer {
  const pax = paxRecordsFor(h);
  const out = Buffer.alloc(headerLength(pax));
  writeHeader(h, pax, out, 0);
  return out;
}

/**
 * Writes `h`'s header blocks into `target` at `offset` when they fit in
 * `room` bytes, and returns how many it wrote, or -1 (writing nothing) when
 * they do not fit. This is the writer's path: no buffer per entry.
 */
export function encodeHeaderInto(h: TarHeader, target: Buffer, offset: number, room: number): number {
  const pax = paxRecordsFor(h);
  const length = headerLength(pax);
  if (length > room) return -1;
  target.fill(0, offset, offset + length);
  writeHeader(h, pax, target, offset);
  return length;
}

function headerLength(pax: string | null): number {
  return pax === null ? BLOCK : BLOCK + padded(Buffer.byteLength(pax, 'utf8')) + BLOCK;
}

/** Writes into a zero-filled region of the right length. */
function writeHeader(h: TarHeader, pax: string | null, out: Buffer, at: number): void {
  if (pax === null) {
    encodeUstar(h, out, at);
    return;
  }
  const bodyLength = out.write(pax, at + BLOCK, 'utf8');
  encodeUstar(
    {
      name: paxHeaderName(h.name),
      type: 'file',
      size: bodyLength,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeSec: clampSeconds(h.mtimeSec),
      mtimeNsec: 0,
    },
    out,
    at,
    0x78, // 'x'
  );
  encodeUstar(h, out, at + BLOCK + padded(bodyLength));
}

/** Rounds a data length up to whole tar blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x01-\x7f]*$/.test(s);
}

/** Splits a name into ustar (prefix, name), or null where it cannot fit. */
function splitUstarName(name: string): [string, string] | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return ['', name];
  if (name.length > 256) return null;
  // The split must fall on a '/' with at most 155 bytes before and 100 after.
  for (let i = name.length - 101; i < name.length; i++) {
    if (i > 0 && i <= 155 && name[i] === '/') return [name.slice(0, i), name.slice(i + 1)];
  }
  return null;
}

function paxRecordsFor(h: TarHeader): string | null {
  let out = '';
  const name = h.type === 'dir' && !h.name.endsWith('/') ? h.name + '/' : h.name;
  if (splitUstarName(name) === null) out += paxRecord('path', name);
  if (h.linkTarget !== undefined && (h.linkTarget.length > 100 || !isAscii(h.linkTarget))) {
    out += paxRecord('linkpath', h.linkTarget);
  }
  if (h.size > MAX_OCTAL_12) out += paxRecord('size', String(h.size));
  if (h.uid > MAX_OCTAL_8 || h.uid < 0) out += paxRecord('uid', String(h.uid));
  if (h.gid > MAX_OCTAL_8 || h.gid < 0) out += paxRecord('gid', String(h.gid));
  if (h.mtimeNsec !== 0 || h.mtimeSec < 0 || h.mtimeSec > MAX_OCTAL_12) {
    out += paxRecord('mtime', formatPaxTime(h.mtimeSec, h.mtimeNsec));
  }
  return out === '' ? null : out;
}

/** `sec.nsec` with the fraction's trailing zeros dropped, as GNU tar writes it. */
export function formatPaxTime(sec: number, nsec: number): string {
  if (nsec === 0) return String(sec);
  const fraction = (ns: number): string => String(ns).padStart(9, '0').replace(/0+$/, '');
  // Before the epoch the decimal reads as one negative number: -1.25 is sec -2 plus 0.75.
  if (sec < 0) return `-${-(sec + 1)}.${fraction(1_000_000_000 - nsec)}`;
  return `${sec}.${fraction(nsec)}`;
}

/** One pax record: "<len> key=value\n" where len counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restLen = Buffer.byteLength(rest, 'utf8');
  let len = restLen + String(restLen).length;
  if (String(len).length !== String(restLen).length) len = restLen + String(len).length;
  return `${len}${rest}`;
}

function paxHeaderName(name: string): string {
  const base = name.replace(/\/+$/, '').split('/').pop() ?? 'entry';
  const ascii = base.replace(/[^\x20-\x7e]/g, '_');
  return `PaxHeaders/${ascii}`.slice(0, 100);
}

function clampSeconds(sec: number): number {
  return Math.min(Math.max(sec, 0), MAX_OCTAL_12);
}

/** One ustar header block into the zero-filled `out` at `at`. */
function encodeUstar(h: TarHeader, out: Buffer, at: number, typeflag?: number): void {
  const buf = out.subarray(at, at + BLOCK);
  const name = h.type === 'dir' && !h.name.endsWith('/') ? h.name + '/' : h.name;
  const split = splitUstarName(name);
  if (split) {
    buf.write(split[1], 0, 100, 'latin1');
    buf.write(split[0], 345, 155, 'latin1');
  } else {
    // The pax record carries the real name; the ustar field gets a printable stand-in.
    buf.write(asciiStandIn(name, 100), 0, 100, 'latin1');
  }
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid >= 0 && h.uid <= MAX_OCTAL_8 ? h.uid : 0);
  writeOctal(buf, 116, 8, h.gid >= 0 && h.gid <= MAX_OCTAL_8 ? h.gid : 0);
  if (h.size <= MAX_OCTAL_12) writeOctal(buf, 124, 12, h.size);
  else writeBase256(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, clampSeconds(h.mtimeSec));
  buf[156] = typeflag ?? typeflagOf[h.type];
  if (h.linkTarget !== undefined) {
    const fits = h.linkTarget.length <= 100 && isAscii(h.linkTarget);
    buf.write(fits ? h.linkTarget : asciiStandIn(h.linkTarget, 100), 157, 100, 'latin1');
  }
  buf.write('ustar\x0000', 257, 8, 'latin1');
  if (h.type === 'chardev' || h.type === 'blockdev') {
    writeOctal(buf, 329, 8, h.devmajor ?? 0);
    writeOctal(buf, 337, 8, h.devminor ?? 0);
  }
  writeChecksum(buf);
}

function asciiStandIn(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(-max);
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  buf[off + len - 1] = 0;
}

function writeBase256(buf: Buffer, off: number, len: number, value: number): void {
  let v = BigInt(value);
  for (let i = len - 1; i > 0; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

/** Fills in a header block's checksum field (the other 504 bytes as they stand). */
export function writeChecksum(buf: Buffer): void {
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
}
