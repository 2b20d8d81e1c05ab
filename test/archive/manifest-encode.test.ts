import { describe, expect, it } from 'vitest';

import { encodeRecord, formatManifestTime, MANIFEST_FORMAT, MANIFEST_VERSION, ManifestBuilder } from '../../src/archive/manifest.js';
import type { EntryRecord, HeaderRecord } from '../../src/archive/manifest.js';
import { parseSegment } from '../../src/verify/manifest-reader.js';

/** An entry record with every key in the specification's order, as the writer builds them. */
function entry(fields: Partial<EntryRecord>): EntryRecord {
  const r: EntryRecord = {
    kind: 'entry',
    path: 'a/b.txt',
    type: 'file',
    size: undefined,
    sha256: undefined,
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    mtime: formatManifestTime(1_700_000_000, 5),
    linkTarget: undefined,
    offset: 0,
    strategy: undefined,
    strategyReason: undefined,
    attempt: undefined,
    status: 'ok',
    reasons: undefined,
  };
  return Object.assign(r, fields);
}

describe('encodeRecord writes entry records exactly as JSON.stringify would', () => {
  const cases: [string, EntryRecord][] = [
    ['a plain file', entry({ size: 12, sha256: 'ab'.repeat(32), strategy: 'copy', strategyReason: 'small file: read whole', attempt: 1, offset: 1536 })],
    ['a directory', entry({ path: 'dir/', type: 'dir', mode: 0o755 })],
    ['a symlink with a quoting target', entry({ type: 'symlink', linkTarget: 'x"y\\z\n\u0001\u2028\ud800' })],
    ['a hard link', entry({ type: 'hardlink', linkTarget: 'first/name' })],
    ['a path needing escapes', entry({ path: 'q"uote/back\\slash/tab\t/nl\n/\u007f/\u00e9/\u{1f600}/\udc00', size: 0, sha256: '0'.repeat(64) })],
    [
      'a changed retry with reasons',
      entry({
        size: 2 ** 40,
        sha256: 'f'.repeat(64),
        strategy: 'snapshot',
        strategyReason: 'hot file; image: private copy (memfd "x")',
        attempt: 3,
        status: 'unstable',
        reasons: ['size changed from 1 to 2', 'mtime changed', 'a "quoted" reason\n'],
        offset: 2 ** 45,
      }),
    ],
    ['a pre-epoch mtime and big ids', entry({ mtime: formatManifestTime(-2, 750_000_000), uid: 4_294_967_294, gid: 3_000_000_000 })],
    ['an empty reasons list', entry({ status: 'changed', reasons: [] })],
  ];
  for (const [what, record] of cases) {
    it(`for ${what}`, () => {
      expect(encodeRecord(record)).toBe(JSON.stringify(record) + '\n');
    });
  }

  it('leaves other record kinds to JSON.stringify', () => {
    const footer = { kind: 'footer' as const, entries: 3, files: 2, bytes: 10, flagged: 0, skipped: 1, segments: 1 };
    expect(encodeRecord(footer)).toBe(JSON.stringify(footer) + '\n');
  });
});

describe('ManifestBuilder', () => {
  it('encodes records into segments that grow past their first buffer, non-ASCII names whole', () => {
    const header: HeaderRecord = { kind: 'header', format: MANIFEST_FORMAT, version: MANIFEST_VERSION, hash: 'sha256', createdAt: 'now', tool: 'test', sources: ['t'], segmentEntries: 3000 };
    const builder = new ManifestBuilder(header, { entries: 3000, bytes: 2 ** 40 });
    const written: EntryRecord[] = [];
    const segments: Buffer[] = [];
    for (let i = 0; i < 7000; i++) {
      // Two-, three- and four-byte UTF-8 and a quote: a segment's bytes are not its string length.
      const record = entry({ path: `d/é${i}/名前/\u{1f600}"${'x'.repeat(i % 200)}`, size: i, sha256: 'a'.repeat(64), strategy: 'copy', attempt: 1, offset: i * 512 });
      builder.addEntry(record);
      written.push(record);
      if (builder.due()) segments.push(builder.takeSegment(false).body);
    }
    segments.push(builder.takeSegment(true).body);
    expect(segments.length).toBe(3);
    // The first segment (header and 3000 records) is several times the 256 KiB the builder starts with.
    expect(segments[0]!.length).toBeGreaterThan(1024 * 1024);
    const records = segments.flatMap((body) => parseSegment(body));
    expect(records[0]).toEqual(header);
    expect(records.filter((r) => r.kind === 'entry')).toEqual(written.map((r) => JSON.parse(JSON.stringify(r))));
    expect(records.at(-1)).toMatchObject({ kind: 'footer', entries: 7000, files: 7000, segments: 3 });
  });
});
