import fs from 'node:fs';

/** Flips one bit of the file at `offset` (bit 0 = least significant). */
export function flipBit(file: string, offset: number, bit = 0): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    if (fs.readSync(fd, b, 0, 1, offset) !== 1) throw new Error(`offset ${offset} is past the end of ${file}`);
    b[0] = b[0]! ^ (1 << bit);
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** Cuts the file to `length` bytes. */
export function truncateFile(file: string, length: number): void {
  fs.truncateSync(file, length);
}

/** Removes `length` bytes starting at `offset`, closing the gap. */
export function deleteSpan(file: string, offset: number, length: number): void {
  fs.writeFileSync(file, deleteSpanOf(fs.readFileSync(file), offset, length));
}

/** Inserts `bytes` at `offset`. */
export function insertSpan(file: string, offset: number, bytes: Buffer): void {
  fs.writeFileSync(file, insertSpanOf(fs.readFileSync(file), offset, bytes));
}

export function flipBitOf(buf: Buffer, offset: number, bit = 0): Buffer {
  const out = Buffer.from(buf);
  out[offset] = out[offset]! ^ (1 << bit);
  return out;
}

export function deleteSpanOf(buf: Buffer, offset: number, length: number): Buffer {
  return Buffer.concat([buf.subarray(0, offset), buf.subarray(offset + length)]);
}

export function insertSpanOf(buf: Buffer, offset: number, bytes: Buffer): Buffer {
  return Buffer.concat([buf.subarray(0, offset), bytes, buf.subarray(offset)]);
}

export function zeroSpanOf(buf: Buffer, offset: number, length: number): Buffer {
  const out = Buffer.from(buf);
  out.fill(0, offset, Math.min(out.length, offset + length));
  return out;
}
