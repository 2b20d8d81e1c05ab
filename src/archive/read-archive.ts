import { SafebakError } from '../errors.js';
import { openArchiveInput } from './input.js';
import type { ArchiveSource, InputCompression } from './input.js';
import type { ChunkDigests } from './slot-digests.js';
import { TarParser } from './tar-parser.js';
import type { TarParserHandlers } from './tar-parser.js';

export interface ReadArchiveHandlers extends TarParserHandlers {
  /** Awaited after each input chunk: where a reader does its async work, bounded per chunk. */
  settle?(): Promise<void>;
  /**
   * Called once the compression layer is known, before any entry: a damaged
   * archive still says what it was. `digests` (with `hashAhead`) hold the
   * digests of files in the chunk being parsed that a decoding thread computed.
   */
  opened?(compression: InputCompression, contentChecksum: boolean | null, digests: ChunkDigests | null): void;
  /** These handlers hash every file's data: a decoding thread may hash some ahead of them. */
  hashAhead?: boolean;
}

export interface ReadArchiveSummary {
  compression: InputCompression;
  contentChecksum: boolean | null;
  trailingGarbage: boolean;
  /** Bytes of uncompressed tar stream read. */
  tarBytes: number;
}

/**
 * Reads a whole archive through the tar parser, driving the handlers in
 * archive order. Rejects with SAFEBAK_NOT_AN_ARCHIVE, SAFEBAK_ARCHIVE_CORRUPT,
 * SAFEBAK_ARCHIVE_TRUNCATED or SAFEBAK_IO; honours `signal` between chunks.
 */
export async function readArchive(
  source: ArchiveSource,
  label: string,
  handlers: ReadArchiveHandlers,
  signal?: AbortSignal,
): Promise<ReadArchiveSummary> {
  signal?.throwIfAborted();
  const input = await openArchiveInput(source, label, { hashAhead: handlers.hashAhead ?? false });
  handlers.opened?.(input.compression, input.contentChecksum, input.digests ?? null);
  const parser = new TarParser(handlers);
  try {
    for await (const chunk of input.chunks) {
      signal?.throwIfAborted();
      try {
        parser.push(chunk);
      } catch (err) {
        throw adjustForCompression(err, input.compression);
      }
      if (handlers.settle) await handlers.settle();
    }
    try {
      parser.end();
    } catch (err) {
      throw adjustForCompression(err, input.compression);
    }
  } finally {
    input.close();
  }
  return {
    compression: input.compression,
    contentChecksum: input.contentChecksum,
    trailingGarbage: parser.trailingGarbage,
    tarBytes: parser.offset,
  };
}

/** Inside a valid compression layer, a stream that is not tar is a damaged archive, not a foreign file. */
function adjustForCompression(err: unknown, compression: InputCompression): unknown {
  if (err instanceof SafebakError && err.code === 'SAFEBAK_NOT_AN_ARCHIVE' && compression !== 'none') {
    return new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `${compression} stream does not hold a tar archive (${err.message})`, { cause: err });
  }
  return err;
}
