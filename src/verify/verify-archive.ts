import crypto, { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { formatManifestTime, SEGMENT_NAME } from '../archive/manifest.js';
import type { EntryRecord, FooterRecord, HeaderRecord, ManifestRecord } from '../archive/manifest.js';
import { readArchive } from '../archive/read-archive.js';
import type { ReadArchiveSummary } from '../archive/read-archive.js';
import type { ArchiveSource, InputCompression } from '../archive/input.js';
import type { ChunkDigests } from '../archive/slot-digests.js';
import type { FollowedFile } from '../archive/followed-file.js';
import type { ParsedEntry } from '../archive/tar-parser.js';
import { ExitStatus, SafebakError } from '../errors.js';
import { MAX_SEGMENT_BYTES, parseSegment } from './manifest-reader.js';
import { checkSource } from './source-check.js';
import type { SourceVerdict } from './source-check.js';
import { TaskQueue } from './task-queue.js';

export interface VerifyOptions {
  /** Compare every archived file with the tree at this directory (DESIGN §7). */
  against?: string | undefined;
  /**
   * Treat an archive without a safebak manifest as damaged (status 3) rather
   * than as a foreign tar: for archives safebak wrote, a missing manifest
   * means it was stripped or lost, and nothing else would notice.
   */
  requireManifest?: boolean | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  onProgress?: ((progress: VerifyProgress) => void) | undefined;
}

export interface VerifyProgress {
  entries: number;
  /** Bytes of uncompressed tar stream read so far. */
  bytes: number;
}

/** A reason the archive cannot be trusted: each makes the verdict exit 3. */
export interface VerifyProblem {
  path?: string | undefined;
  message: string;
}

/** A file that the archive itself records as not ok (flagged at creation, or missing from it). */
export interface FlaggedFile {
  path: string;
  status: 'changed' | 'unstable' | 'skipped';
  reasons: string[];
}

export interface SourceComparison {
  path: string;
  verdict: SourceVerdict;
  detail?: string | undefined;
}

export interface VerifyResult {
  /** 0 sound, 1 sound but recording flagged files (or sources that moved), 3 damaged. */
  status: ExitStatus;
  compression: InputCompression;
  /** `safebak` when the archive carries a manifest, `foreign` for any other tar. */
  kind: 'safebak' | 'foreign';
  /** Whether the final manifest segment (with its footer) was read. */
  complete: boolean;
  entries: number;
  files: number;
  bytes: number;
  segments: number;
  problems: VerifyProblem[];
  /** Problems beyond the first MAX_PROBLEMS, counted but not listed. */
  moreProblems: number;
  flagged: FlaggedFile[];
  checksMade: string[];
  checksNotMade: string[];
  against?: { root: string; files: SourceComparison[] } | undefined;
}

const MAX_PROBLEMS = 1000;
/** crypto.hash (Node 20.12+): a one-shot digest without a Hash object. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer, encoding: 'hex') => string }).hash;
/** Without any segment yet, how many entries are remembered before the archive counts as foreign. */
const FOREIGN_WINDOW = 20_000;

interface PendingEntry {
  entry: ParsedEntry;
  sha256: string | null;
  seq: number;
}

/**
 * Verifies an archive: every tar header, the compression layer's checksums,
 * and for a safebak archive the four manifest rules of DESIGN §4 with every
 * file re-hashed. Damage is a verdict (status 3, problems listed), not an
 * exception; it rejects only when the input cannot be read or is not an
 * archive at all (SAFEBAK_IO, SAFEBAK_NOT_AN_ARCHIVE: exit 2).
 */
export async function verifyArchive(source: string | Readable, options: VerifyOptions = {}): Promise<VerifyResult> {
  return verifySource(source, typeof source === 'string' ? source : '-', options);
}

/** {@link verifyArchive} of an archive still being written: create's read-back, overlapped with the writing. */
export async function verifyFollowedFile(file: FollowedFile, options: VerifyOptions = {}): Promise<VerifyResult> {
  return verifySource(file, file.path, options);
}

async function verifySource(source: ArchiveSource, label: string, options: VerifyOptions): Promise<VerifyResult> {
  const state = new Verification(options);
  let summary: ReadArchiveSummary | null = null;
  try {
    summary = await readArchive(source, label, state.handlers(), options.signal);
  } catch (err) {
    if (!(err instanceof SafebakError)) throw err;
    if (err.code !== 'SAFEBAK_ARCHIVE_CORRUPT' && err.code !== 'SAFEBAK_ARCHIVE_TRUNCATED') throw err;
    state.problem(undefined, err.message);
    state.truncatedOrCorrupt = true;
  }
  await state.tasks.drain();
  return state.finish(summary);
}

class Verification {
  readonly tasks = new TaskQueue(8);
  truncatedOrCorrupt = false;
  #options: VerifyOptions;
  #problems: VerifyProblem[] = [];
  #moreProblems = 0;
  #flagged: FlaggedFile[] = [];
  #pending = new Map<number, PendingEntry>();
  #current: { pending: PendingEntry | null; hashing: boolean; hash: Hash | null; sha256: string | null; segment: Buffer[] | null; segmentIndex: number } | null = null;
  #seq = 0;
  #droppedBeforeManifest = 0;
  #segments = 0;
  #header: HeaderRecord | null = null;
  #footer: FooterRecord | null = null;
  #totals = { entries: 0, files: 0, bytes: 0, flagged: 0, skipped: 0 };
  #tarEntries = 0;
  #unknownTypes = 0;
  #unresolvedChanged = new Set<string>();
  #verdicts = new Map<string, { seq: number; comparison: SourceComparison }>();
  #corruptPaths = new Set<string>();
  #bytesSeen = 0;
  #input: { compression: InputCompression; contentChecksum: boolean | null } = { compression: 'none', contentChecksum: null };
  #digests: ChunkDigests | null = null;

  constructor(options: VerifyOptions) {
    this.#options = options;
  }

  problem(path: string | undefined, message: string): void {
    if (path !== undefined) this.#corruptPaths.add(path);
    if (this.#problems.length < MAX_PROBLEMS) this.#problems.push({ path, message });
    else this.#moreProblems++;
  }

  handlers() {
    return {
      entry: (e: ParsedEntry) => this.#onEntry(e),
      data: (chunk: Buffer, offset: number) => {
        const cur = this.#current!;
        if (cur.hashing) {
          if (cur.hash === null) {
            const size = cur.pending!.entry.size;
            // Hashed ahead by the decoding thread: these very bytes of the stream, so nothing is left to do.
            const ahead = this.#digests?.take(offset, size) ?? null;
            if (ahead !== null) {
              cur.sha256 = ahead;
              cur.hashing = false;
              return;
            }
            // Most small files arrive in one piece: one call, no Hash object.
            if (oneShot && chunk.length === size) {
              cur.sha256 = oneShot('sha256', chunk, 'hex');
              cur.hashing = false;
              return;
            }
          }
          (cur.hash ??= createHash('sha256')).update(chunk);
        } else if (cur.segment) cur.segment.push(Buffer.from(chunk));
      },
      entryEnd: () => this.#onEntryEnd(),
      opened: (compression: InputCompression, contentChecksum: boolean | null, digests: ChunkDigests | null) => {
        this.#input = { compression, contentChecksum };
        this.#digests = digests;
      },
      hashAhead: true,
      settle: async () => {
        await this.tasks.drain();
        this.#options.onProgress?.({ entries: this.#tarEntries, bytes: this.#bytesSeen });
      },
    };
  }

  #onEntry(e: ParsedEntry): void {
    this.#tarEntries++;
    this.#bytesSeen = e.offset;
    const segment = SEGMENT_NAME.exec(e.name);
    if (segment && e.type === 'file') {
      if (e.size > MAX_SEGMENT_BYTES) {
        throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `manifest segment ${e.name} claims ${e.size} bytes, beyond any real segment`);
      }
      this.#current = { pending: null, hashing: false, hash: null, sha256: null, segment: [], segmentIndex: Number(segment[1]) };
      return;
    }
    if (e.type === 'unknown') this.#unknownTypes++;
    if (this.#footer !== null) this.problem(e.name, `entry ${e.name} follows the final manifest segment`);
    const pending: PendingEntry = { entry: e, sha256: null, seq: this.#seq++ };
    this.#remember(pending);
    const hasData = e.type === 'file' || e.type === 'unknown';
    this.#current = { pending, hashing: hasData, hash: null, sha256: null, segment: null, segmentIndex: 0 };
  }

  #remember(p: PendingEntry): void {
    this.#pending.set(p.entry.offset, p);
    const bound = this.#segments === 0 ? FOREIGN_WINDOW : Math.max(this.#header?.segmentEntries ?? 0, 10_000) + 1000;
    if (this.#pending.size > bound) {
      // Memory stays bounded: the oldest entry can no longer be matched.
      const oldest = this.#pending.keys().next().value as number;
      const dropped = this.#pending.get(oldest)!;
      this.#pending.delete(oldest);
      if (this.#segments === 0) this.#droppedBeforeManifest++;
      else this.problem(dropped.entry.name, `${dropped.entry.name}: no manifest segment covers this entry`);
    }
  }

  #onEntryEnd(): void {
    const cur = this.#current!;
    this.#current = null;
    if (cur.segment) {
      this.#onSegment(cur.segmentIndex, Buffer.concat(cur.segment));
      return;
    }
    const p = cur.pending!;
    if (cur.sha256 !== null) p.sha256 = cur.sha256;
    else if (cur.hashing) p.sha256 = (cur.hash ?? createHash('sha256')).digest('hex');
    const root = this.#options.against;
    if (root !== undefined && p.entry.type === 'file' && p.sha256 !== null) {
      const e = p.entry;
      const sha256 = p.sha256;
      this.tasks.add(async () => {
        const hasNs = e.mtimeNsec !== 0 || this.#segments > 0;
        const comparison = await checkSource(root, { name: e.name, size: e.size, mtimeSec: e.mtimeSec, mtimeNsec: hasNs ? e.mtimeNsec : null, sha256 });
        const prior = this.#verdicts.get(e.name);
        if (!prior || prior.seq < p.seq) this.#verdicts.set(e.name, { seq: p.seq, comparison: { path: e.name, ...comparison } });
      });
    }
  }

  #onSegment(index: number, body: Buffer): void {
    const expected = this.#segments + 1;
    if (index !== expected) {
      this.problem(undefined, index > expected ? `manifest segment ${expected}${index - 1 > expected ? `–${index - 1}` : ''} is missing` : `manifest segment ${index} appears twice or out of order`);
    }
    this.#segments = Math.max(this.#segments, index);
    if (this.#droppedBeforeManifest > 0) {
      this.problem(undefined, `${this.#droppedBeforeManifest} entries before the first manifest segment have no record`);
      this.#droppedBeforeManifest = 0;
    }
    let records: ManifestRecord[];
    try {
      records = parseSegment(body);
    } catch (err) {
      this.problem(undefined, `manifest segment ${index} is damaged: ${(err as Error).message}`);
      this.#unrecorded('its manifest segment is damaged');
      return;
    }
    records.forEach((record, i) => {
      if (record.kind === 'header') {
        if (index !== 1 || i !== 0) this.problem(undefined, `manifest header found in segment ${index}, line ${i + 1}`);
        this.#header = record;
      } else if (index === 1 && i === 0) {
        this.problem(undefined, 'manifest segment 1 does not start with the manifest header');
      }
      if (record.kind === 'entry') this.#onRecord(record);
      else if (record.kind === 'skipped') {
        this.#totals.skipped++;
        this.#flagged.push({ path: record.path, status: 'skipped', reasons: record.reasons });
      } else if (record.kind === 'footer') {
        if (i !== records.length - 1) this.problem(undefined, `manifest footer is not the last line of segment ${index}`);
        this.#footer = record;
      }
    });
    this.#unrecorded('no manifest record');
  }

  /** Every entry still pending when a segment closes was left out of the manifest. */
  #unrecorded(why: string): void {
    for (const p of this.#pending.values()) this.problem(p.entry.name, `${p.entry.name}: ${why}`);
    this.#pending.clear();
  }

  #onRecord(r: EntryRecord): void {
    this.#totals.entries++;
    const p = this.#pending.get(r.offset);
    if (!p) {
      this.problem(r.path, `${r.path}: the manifest records an entry at byte ${r.offset}, but the archive has none there`);
      return;
    }
    this.#pending.delete(r.offset);
    const e = p.entry;
    const mismatch = (what: string): void => this.problem(r.path, `${r.path}: ${what}`);
    if (r.path !== e.name) mismatch(`the archive entry at byte ${r.offset} is named ${JSON.stringify(e.name)}`);
    else if (r.type !== e.type) mismatch(`archive entry is a ${e.type}, the manifest says ${r.type}`);
    else if (r.type === 'file') {
      this.#totals.files++;
      this.#totals.bytes += r.size ?? 0;
      if (r.size !== e.size) mismatch(`archive entry holds ${e.size} bytes, the manifest says ${r.size}`);
      else if (p.sha256 !== r.sha256) mismatch('data does not match its recorded sha256 (the archive is damaged)');
    }
    if (r.path === e.name && r.type === e.type) {
      if (r.mode !== e.mode || r.uid !== e.uid || r.gid !== e.gid) mismatch('mode or ownership differs from the manifest');
      else if (r.mtime !== formatManifestTime(e.mtimeSec, e.mtimeNsec)) mismatch('mtime differs from the manifest');
      else if ((r.linkTarget ?? undefined) !== (r.type === 'symlink' || r.type === 'hardlink' ? e.linkTarget : undefined)) {
        mismatch('link target differs from the manifest');
      }
    }
    // Rule 3: a changed attempt must be followed by its retry, unless the file vanished.
    this.#unresolvedChanged.delete(r.path);
    const vanished = r.reasons?.includes('vanished') ?? false;
    if (r.status === 'changed' && !vanished) this.#unresolvedChanged.add(r.path);
    if (r.status === 'unstable' || (r.status === 'changed' && vanished)) {
      this.#totals.flagged++;
      this.#flagged.push({ path: r.path, status: r.status, reasons: r.reasons ?? [] });
    }
  }

  finish(summary: ReadArchiveSummary | null): VerifyResult {
    const kind = this.#segments > 0 ? 'safebak' : 'foreign';
    const checksMade = ['tar header checksums', 'entry sizes and archive completeness'];
    const checksNotMade: string[] = [];
    const { compression, contentChecksum } = this.#input;
    if (compression === 'zstd') {
      if (contentChecksum) checksMade.push('zstd content checksums');
      else checksNotMade.push('zstd content checksums (the frames carry none)');
    }
    if (compression === 'gzip') checksMade.push('gzip CRC-32');
    if (kind === 'safebak') {
      checksMade.push('manifest rules 1–4', 'SHA-256 of every file');
      if (this.#footer === null && !this.truncatedOrCorrupt) {
        this.problem(undefined, 'the archive has no manifest footer: it is incomplete (truncated, or the run that wrote it died)');
      } else if (this.#footer === null) {
        this.problem(undefined, 'entries after the last complete manifest segment could not be verified');
      }
      if (this.#pending.size > 0) this.#unrecorded('no manifest segment covers this entry (archive incomplete)');
      for (const path of this.#unresolvedChanged) this.problem(path, `${path}: recorded as changed, but no retry follows`);
      const f = this.#footer;
      if (f && (f.entries !== this.#totals.entries || f.files !== this.#totals.files || f.bytes !== this.#totals.bytes || f.segments !== this.#segments)) {
        this.problem(undefined, `manifest footer counts (${f.entries} entries, ${f.files} files, ${f.bytes} bytes, ${f.segments} segments) do not match the archive`);
      }
    } else {
      checksNotMade.push('per-file checksums (the archive has no safebak manifest)');
      if (this.#options.requireManifest && !this.truncatedOrCorrupt) {
        this.problem(undefined, 'the archive has no safebak manifest (required): it was stripped, or safebak did not write it');
      }
      if (this.#unknownTypes > 0) checksNotMade.push(`${this.#unknownTypes} entries of types safebak does not read (sparse, multi-volume…) were skipped over`);
    }
    if (summary?.trailingGarbage) checksNotMade.push('non-zero bytes after the end-of-archive marker were ignored');

    let againstResult: VerifyResult['against'];
    if (this.#options.against !== undefined) {
      const files = [...this.#verdicts.values()].map(({ comparison }) =>
        this.#corruptPaths.has(comparison.path) ? { path: comparison.path, verdict: 'archive-corrupt' as const } : comparison,
      );
      againstResult = { root: this.#options.against, files };
    }
    const sourcesMoved = againstResult?.files.some((f) => f.verdict !== 'intact') ?? false;
    const status =
      this.#problems.length > 0 ? ExitStatus.integrity : this.#flagged.length > 0 || sourcesMoved ? ExitStatus.flagged : ExitStatus.ok;
    return {
      status,
      compression,
      kind,
      complete: this.#footer !== null && !this.truncatedOrCorrupt,
      entries: kind === 'safebak' ? this.#totals.entries : this.#tarEntries,
      files: this.#totals.files,
      bytes: this.#totals.bytes,
      segments: this.#segments,
      problems: this.#problems,
      moreProblems: this.#moreProblems,
      flagged: this.#flagged,
      checksMade,
      checksNotMade,
      against: againstResult,
    };
  }
}
