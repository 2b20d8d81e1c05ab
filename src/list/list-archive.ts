import type { Readable } from 'node:stream';
import { SEGMENT_NAME } from '../archive/manifest.js';
import type { EntryRecord, RecordStatus } from '../archive/manifest.js';
import { readArchive } from '../archive/read-archive.js';
import type { InputCompression } from '../archive/input.js';
import type { ParsedEntry } from '../archive/tar-parser.js';
import { parseSegment } from '../verify/manifest-reader.js';

export interface ListOptions {
  signal?: AbortSignal | undefined;
  /** Called for each entry as it is read, before its manifest record is known. */
  onEntry?: ((entry: ListedEntry) => void) | undefined;
}

/** An entry as listed: what its header says, and from the manifest, once its segment was read, its status and checksum. */
export interface ListedEntry extends Omit<ParsedEntry, 'name' | 'typeflag' | 'devmajor' | 'devminor'> {
  path: string;
  status?: RecordStatus | undefined;
  sha256?: string | undefined;
  reasons?: string[] | undefined;
}

export interface ListResult {
  compression: InputCompression;
  /** Whether the archive carries a safebak manifest. */
  hasManifest: boolean;
  entries: ListedEntry[];
}

/**
 * Lists an archive's entries (manifest segments are read, not listed),
 * joining each with its manifest record where the archive has one. A damaged
 * archive rejects with SAFEBAK_ARCHIVE_CORRUPT or _TRUNCATED after `onEntry`
 * has seen every entry before the damage.
 */
export async function listArchive(source: string | Readable, options: ListOptions = {}): Promise<ListResult> {
  const entries: ListedEntry[] = [];
  const byOffset = new Map<number, ListedEntry>();
  let segment: Buffer[] | null = null;
  let hasManifest = false;
  const summary = await readArchive(
    source,
    typeof source === 'string' ? source : '-',
    {
      entry(e) {
        if (e.type === 'file' && SEGMENT_NAME.test(e.name)) {
          segment = [];
          return;
        }
        const listed: ListedEntry = {
          path: e.name,
          type: e.type,
          size: e.size,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          mtimeSec: e.mtimeSec,
          mtimeNsec: e.mtimeNsec,
          linkTarget: e.linkTarget,
          offset: e.offset,
        };
        entries.push(listed);
        byOffset.set(e.offset, listed);
        options.onEntry?.(listed);
      },
      data(chunk) {
        segment?.push(Buffer.from(chunk));
      },
      entryEnd() {
        if (segment === null) return;
        hasManifest = true;
        try {
          for (const r of parseSegment(Buffer.concat(segment))) if (r.kind === 'entry') annotate(byOffset, r);
        } catch {
          // Listing shows what is there; judging a damaged manifest is `verify`'s work.
        }
        segment = null;
      },
    },
    options.signal,
  );
  return { compression: summary.compression, hasManifest, entries };
}

function annotate(byOffset: Map<number, ListedEntry>, r: EntryRecord): void {
  const listed = byOffset.get(r.offset);
  if (!listed || listed.path !== r.path) return;
  listed.status = r.status;
  listed.sha256 = r.sha256;
  listed.reasons = r.reasons;
  byOffset.delete(r.offset);
}
