import { MANIFEST_FORMAT, MANIFEST_VERSION } from '../archive/manifest.js';
import type { EntryRecord, FooterRecord, HeaderRecord, ManifestRecord, SkippedRecord } from '../archive/manifest.js';

const ENTRY_TYPES = new Set(['file', 'dir', 'symlink', 'hardlink', 'fifo', 'chardev', 'blockdev']);
const STATUSES = new Set(['ok', 'changed', 'unstable']);
const STRATEGIES = new Set(['copy', 'splice', 'snapshot']);
/** A segment is a few MiB at most (10,000 lines); anything far larger is damage. */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/**
 * Parses one segment's JSON lines, checking each record's shape; a manifest
 * is read from an archive that may have been tampered with. Throws an Error
 * naming the line on the first malformed one.
 */
export function parseSegment(body: Buffer): ManifestRecord[] {
  const text = body.toString('utf8');
  if (!text.endsWith('\n')) throw new Error('segment does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  return lines.map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} is not JSON`);
    }
    const problem = checkRecord(value);
    if (problem) throw new Error(`line ${i + 1}: ${problem}`);
    return value as ManifestRecord;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown): boolean => typeof v === 'string';

function checkRecord(v: unknown): string | null {
  if (!isObject(v)) return 'not a JSON object';
  switch (v.kind) {
    case 'header':
      return checkHeader(v);
    case 'entry':
      return checkEntry(v);
    case 'skipped':
      return isString(v.path) && Array.isArray(v.reasons) && v.reasons.every(isString) ? null : 'malformed skipped record';
    case 'footer':
      return ['entries', 'files', 'bytes', 'flagged', 'segments'].every((k) => isCount(v[k])) ? null : 'malformed footer';
    default:
      return `unknown record kind ${JSON.stringify(v.kind)}`;
  }
}

function checkHeader(v: Record<string, unknown>): string | null {
  if (v.format !== MANIFEST_FORMAT) return `unknown manifest format ${JSON.stringify(v.format)}`;
  if (typeof v.version !== 'number') return 'header without a version';
  if (v.version > MANIFEST_VERSION) return `manifest version ${v.version} is newer than this safebak understands (${MANIFEST_VERSION})`;
  if (v.hash !== 'sha256') return `unknown hash ${JSON.stringify(v.hash)}`;
  return null;
}

function checkEntry(v: Record<string, unknown>): string | null {
  if (!isString(v.path) || v.path === '') return 'entry without a path';
  if (!ENTRY_TYPES.has(v.type as string)) return `entry with unknown type ${JSON.stringify(v.type)}`;
  if (!isCount(v.offset) || !isCount(v.mode) || !isCount(v.uid) || !isCount(v.gid)) return 'entry with a malformed number';
  if (!isString(v.mtime) || !/^-?\d+\.\d{9}$/.test(v.mtime as string)) return 'entry with a malformed mtime';
  if (!STATUSES.has(v.status as string)) return `entry with unknown status ${JSON.stringify(v.status)}`;
  if (v.type === 'file') {
    if (!isCount(v.size)) return 'file entry without a size';
    if (!isString(v.sha256) || !/^[0-9a-f]{64}$/.test(v.sha256 as string)) return 'file entry without a sha256';
    if (!STRATEGIES.has(v.strategy as string)) return 'file entry with unknown strategy';
    if (!isCount(v.attempt) || (v.attempt as number) < 1) return 'file entry with a malformed attempt';
  }
  if ((v.type === 'symlink' || v.type === 'hardlink') && !isString(v.linkTarget)) return 'link entry without a linkTarget';
  if (v.reasons !== undefined && !(Array.isArray(v.reasons) && v.reasons.every(isString))) return 'malformed reasons';
  return null;
}

export type { EntryRecord, FooterRecord, HeaderRecord, SkippedRecord };
