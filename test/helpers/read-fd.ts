import { readSync } from 'node:fs';

/** Reads from a blocking descriptor (a pipe, say) until `length` bytes or end of input. */
export function readExactly(fd: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, null);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}
