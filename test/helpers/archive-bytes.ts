import fs from 'node:fs';
import { Readable } from 'node:stream';
import { TarParser } from '../../src/archive/tar-parser.js';
import type { ParsedEntry } from '../../src/archive/tar-parser.js';
import { openArchiveInput } from '../../src/archive/input.js';

export interface EntryWithData {
  entry: ParsedEntry;
  data: Buffer;
  /** Offset of the entry's data in the uncompressed tar stream. */
  dataOffset: number;
}

/** Every entry of an archive (any compression) with its data, in archive order. For small test archives. */
export async function readEntries(archive: string | Buffer): Promise<EntryWithData[]> {
  const input = await openArchiveInput(typeof archive === 'string' ? archive : Readable.from([archive]), 'test');
  const out: EntryWithData[] = [];
  let chunks: Buffer[] = [];
  let current: ParsedEntry | null = null;
  let dataOffset = 0;
  const parser: TarParser = new TarParser({
    entry(e) {
      current = e;
      chunks = [];
      // The parser advances its offset past the header block only after this callback.
      dataOffset = parser.offset + 512;
    },
    data(c) {
      chunks.push(Buffer.from(c));
    },
    entryEnd() {
      const data = Buffer.concat(chunks);
      out.push({ entry: current!, data, dataOffset });
    },
  });
  for await (const chunk of input.chunks) parser.push(chunk);
  parser.end();
  input.close();
  return out;
}

/** The uncompressed tar stream of an archive file. */
export async function tarBytesOf(archive: string): Promise<Buffer> {
  const input = await openArchiveInput(archive, archive);
  const parts: Buffer[] = [];
  for await (const c of input.chunks) parts.push(Buffer.from(c));
  input.close();
  return Buffer.concat(parts);
}

export function fileSize(p: string): number {
  return fs.statSync(p).size;
}
