import type { EntryType } from './entry-type.js';

export const MANIFEST_FORMAT = 'safebak-manifest';
export const MANIFEST_VERSION = 1;
/** Where segments live inside the archive; the verifier recognises them by this shape. */
export const SEGMENT_NAME = /^\.safebak\/manifest-(\d{6})\.jsonl$/;

export type Strategy = 'copy' | 'splice' | 'snapshot';
export type RecordStatus = 'ok' | 'changed' | 'unstable';

export interface HeaderRecord {
  kind: 'header';
  format: typeof MANIFEST_FORMAT;
  version: number;
  hash: 'sha256';
  createdAt: string;
  tool: string;
  sources: string[];
  /** The nightly job that wrote the archive (its `job` setting, or one derived from its output template and sources). */
  job?: string | undefined;
  /** Most entries one segment covers (beyond the retries of its last file); bounds a verifier's memory. */
  segmentEntries: number;
}

/** One archive entry (DESIGN §4). Key order follows the specification. */
export interface EntryRecord {
  kind: 'entry';
  path: string;
  type: EntryType;
  size?: number | undefined;
  sha256?: string | undefined;
  mode: number;
  uid: number;
  gid: number;
  /** `<seconds>.<nanoseconds>`, nanoseconds always nine digits. */
  mtime: string;
  linkTarget?: string | undefined;
  offset: number;
  strategy?: Strategy | undefined;
  /** Why this strategy: auto's reason, or why a forced one fell back (never a change reason). */
  strategyReason?: string | undefined;
  attempt?: number | undefined;
  status: RecordStatus;
  reasons?: string[] | undefined;
}

/**
 * A path that the walk met but that has no archive entry (vanished before it
 * was read, unreadable, a socket). Not part of rule 1's entry count; it keeps
 * the archive's own account of what is missing from it.
 */
export interface SkippedRecord {
  kind: 'skipped';
  path: string;
  reasons: string[];
}

export interface FooterRecord {
  kind: 'footer';
  entries: number;
  files: number;
  bytes: number;
  flagged: number;
  skipped: number;
  segments: number;
}

export type ManifestRecord = HeaderRecord | EntryRecord | SkippedRecord | FooterRecord;

export function segmentName(index: number): string {
  return `.safebak/manifest-${String(index).padStart(6, '0')}.jsonl`;
}

/** `<seconds>.<nanoseconds>` as the manifest writes times. */
export function formatManifestTime(sec: number, nsec: number): string {
  return `${sec}.${String(nsec).padStart(9, '0')}`;
}

/** Builds one JSON line with the keys in the order the specification lists them. */
export function encodeRecord(record: ManifestRecord): string {
  return record.kind === 'entry' ? encodeEntryRecord(record) : JSON.stringify(record) + '\n';
}

/**
 * JSON.stringify of an entry record, written out field by field: a tree of
 * small files makes one per file, and the generic walk over sixteen keys,
 * most of them undefined, cost more than the rest of the record's handling.
 * Fields from fixed vocabularies (type, strategy, status, hex, digits) need
 * no escaping; free text goes through JSON.stringify.
 */
function encodeEntryRecord(r: EntryRecord): string {
  let s = `{"kind":"entry","path":${JSON.stringify(r.path)},"type":"${r.type}"`;
  if (r.size !== undefined) s += `,"size":${r.size}`;
  if (r.sha256 !== undefined) s += `,"sha256":"${r.sha256}"`;
  s += `${idFields(r.mode, r.uid, r.gid)},"mtime":"${r.mtime}"`;
  if (r.linkTarget !== undefined) s += `,"linkTarget":${JSON.stringify(r.linkTarget)}`;
  s += `,"offset":${r.offset}`;
  if (r.strategy !== undefined) s += `,"strategy":"${r.strategy}"`;
  if (r.strategyReason !== undefined) s += `,"strategyReason":${reasonJson(r.strategyReason)}`;
  if (r.attempt !== undefined) s += `,"attempt":${r.attempt}`;
  s += `,"status":"${r.status}"`;
  if (r.reasons !== undefined) s += `,"reasons":${JSON.stringify(r.reasons)}`;
  return s + '}\n';
}

// Runs of files share their mode, owner and strategy reason: the last value's
// encoding is kept rather than rebuilt (and left for the collector) per record.
let lastIds = { mode: -1, uid: -1, gid: -1, text: '' };
let lastReason = { reason: '', text: '""' };

function idFields(mode: number, uid: number, gid: number): string {
  const l = lastIds;
  if (l.mode !== mode || l.uid !== uid || l.gid !== gid) lastIds = { mode, uid, gid, text: `,"mode":${mode},"uid":${uid},"gid":${gid}` };
  return lastIds.text;
}

function reasonJson(reason: string): string {
  if (lastReason.reason !== reason) lastReason = { reason, text: JSON.stringify(reason) };
  return lastReason.text;
}

export interface SegmentLimits {
  entries: number;
  bytes: number;
}

export const DEFAULT_SEGMENT_LIMITS: SegmentLimits = { entries: 10_000, bytes: 256 * 1024 * 1024 };

/** First size of a segment's buffer; it doubles as records arrive (10,000 records are about 3 MiB). */
const SEGMENT_START_BYTES = 256 * 1024;

/**
 * Collects the records of the segment being built. The archive writer asks
 * `due()` between files (never between the attempts of one file, so that a
 * retry and the attempt it replaces share a segment).
 */
export class ManifestBuilder {
  /**
   * The pending segment's bytes. Each record is encoded into it at once:
   * kept as strings until the segment was written, 10,000 records' strings
   * (ropes of a dozen pieces each) survived every young-generation GC and
   * were copied along each time.
   */
  #body = Buffer.allocUnsafeSlow(SEGMENT_START_BYTES);
  #used = 0;
  #entriesSince = 0;
  #bytesSince = 0;
  #segments = 0;
  #limits: SegmentLimits;
  readonly totals = { entries: 0, files: 0, bytes: 0, flagged: 0, skipped: 0 };

  constructor(header: HeaderRecord, limits: SegmentLimits) {
    this.#limits = limits;
    this.#append(encodeRecord(header));
  }

  addEntry(record: EntryRecord): void {
    this.#append(encodeRecord(record));
    this.#entriesSince++;
    this.totals.entries++;
    if (record.type === 'file') {
      this.totals.files++;
      this.totals.bytes += record.size ?? 0;
      this.#bytesSince += record.size ?? 0;
    }
  }

  addSkipped(record: SkippedRecord): void {
    this.#append(encodeRecord(record));
    this.totals.skipped++;
  }

  /** Counts a path whose final outcome is not ok, for the footer. */
  countFlagged(): void {
    this.totals.flagged++;
  }

  /** Segments taken so far. */
  get segments(): number {
    return this.#segments;
  }

  /** Whether a segment should be written before the next file. */
  due(): boolean {
    return this.#entriesSince >= this.#limits.entries || this.#bytesSince >= this.#limits.bytes;
  }

  #append(line: string): void {
    // A UTF-8 encoding takes at most three bytes per UTF-16 unit.
    const most = this.#used + line.length * 3;
    if (most > this.#body.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#body.length, most));
      this.#body.copy(grown, 0, 0, this.#used);
      this.#body = grown;
    }
    this.#used += this.#body.write(line, this.#used, 'utf8');
  }

  /** Takes the pending records as the next segment; with `final`, the footer closes it. */
  takeSegment(final: boolean): { name: string; body: Buffer } {
    this.#segments++;
    if (final) {
      const footer: FooterRecord = { kind: 'footer', ...this.totals, segments: this.#segments };
      this.#append(encodeRecord(footer));
    }
    // The writer may hold the body until its write is done: the next segment gets a buffer of its own.
    const body = this.#body.subarray(0, this.#used);
    this.#body = Buffer.allocUnsafeSlow(SEGMENT_START_BYTES);
    this.#used = 0;
    this.#entriesSince = 0;
    this.#bytesSince = 0;
    return { name: segmentName(this.#segments), body };
  }
}
