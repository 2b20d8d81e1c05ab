import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { EntryType } from '../archive/entry-type.js';
import type { InputCompression } from '../archive/input.js';
import { formatManifestTime, SEGMENT_NAME } from '../archive/manifest.js';
import type { EntryRecord, FooterRecord, ManifestRecord } from '../archive/manifest.js';
import { readArchive } from '../archive/read-archive.js';
import type { ReadArchiveSummary } from '../archive/read-archive.js';
import type { ParsedEntry } from '../archive/tar-parser.js';
import { describeSystemError, ExitStatus, SafebakError } from '../errors.js';
import { MAX_SEGMENT_BYTES, parseSegment } from '../verify/manifest-reader.js';
import { MetadataPolicy } from './apply-metadata.js';
import type { EntryMeta } from './apply-metadata.js';
import { PathSelection, splitEntryName, stripComponents } from './entry-path.js';
import { Installer } from './installer.js';
import type { PendingFile, PlaceResult } from './installer.js';
import { makeNode } from './make-node.js';
import { EXPLICIT_DIR_MODE, PathRefused, procPath, TargetRoot } from './safe-dir.js';
import type { ResolverMode } from './safe-dir.js';

export type { ResolverMode } from './safe-dir.js';

export interface ExtractOptions {
  /** The target directory (`-C DIR`); default the process's. It must exist. */
  cwd?: string | undefined;
  /** Extract only these archive paths: each an exact entry name or a directory prefix (matched before `stripComponents`). */
  paths?: string[] | undefined;
  /** Drop this many leading components from every name (and hard-link target); entries left with no name are skipped. */
  stripComponents?: number | undefined;
  /** Never replace anything that already exists in the target (`--keep-existing`); such entries are skipped. */
  keepExisting?: boolean | undefined;
  /** Create character and block devices (`--devices`); refused without it. */
  devices?: boolean | undefined;
  /**
   * How paths are resolved inside the target: `kernel` (openat2 with
   * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, needs the native addon) or
   * `fdwalk` (directory descriptors opened with O_NOFOLLOW). Default `kernel`
   * when the addon is loaded.
   */
  resolver?: ResolverMode | undefined;
  signal?: AbortSignal | undefined;
  /** A host's pino logger; safebak is silent without one. */
  logger?: Logger | undefined;
  onProgress?: ((progress: ExtractProgress) => void) | undefined;
  /** Called for every entry not installed (or installed but flagged), as it happens. */
  onIssue?: ((issue: EntryOutcome) => void) | undefined;
  /** Keep every entry's outcome in the result (default true); issues are always kept. */
  collectOutcomes?: boolean | undefined;
}

export interface ExtractProgress {
  /** Archive entries read so far. */
  entries: number;
  /** Entries installed so far. */
  installed: number;
  /** Bytes of uncompressed tar stream read so far. */
  bytes: number;
}

/**
 * - `installed`: in place (for a safebak archive: verified against its record first).
 * - `refused`: would have left the target, gone through a symlink, or is a kind not created (devices without the option, unknown types).
 * - `not-installed`: an integrity failure — the data or metadata do not match the manifest, no record covers the entry, or the archive ends inside it. Nothing is left under its name.
 * - `skipped`: by design — a superseded attempt of a retried file, or `keepExisting` found the name taken.
 * - `failed`: the filesystem refused (no space, permissions…).
 */
export type Outcome = 'installed' | 'refused' | 'not-installed' | 'skipped' | 'failed';

export interface EntryOutcome {
  /** The entry's name as the archive spells it. */
  path: string;
  type: EntryType | 'unknown';
  outcome: Outcome;
  reason?: string | undefined;
  /** For an installed file the manifest records as `unstable` (or `changed` and vanished): its reasons. */
  flagged?: string[] | undefined;
}

export interface ExtractResult {
  /**
   * 0 all installed; 1 some entries refused or flagged, or PATH operands
   * matched nothing; 2 some entries failed on the filesystem; 3 integrity
   * failure (an entry did not match the manifest, or the archive is
   * truncated or damaged). The worst applies.
   */
  status: ExitStatus;
  /** The target directory, absolute. */
  target: string;
  compression: InputCompression;
  /** `safebak` when the archive carries a manifest, `foreign` otherwise (nothing was verified). */
  kind: 'safebak' | 'foreign';
  /** Whether the final manifest segment (with its footer) was read. */
  complete: boolean;
  resolver: ResolverMode;
  /** Whether mtimes were restored to the nanosecond (else to the microsecond: see apply-metadata.ts). */
  nanosecondTimes: boolean;
  /** Every entry's outcome in archive order (only the issues when `collectOutcomes` is false). */
  entries: EntryOutcome[];
  /** Archive-level integrity problems (damaged segment, truncation, records without entries). */
  problems: string[];
  /** Things the caller should know that are not failures ("no manifest: nothing could be verified"). */
  warnings: string[];
  /** PATH operands that matched no entry. */
  notFound: string[];
  totals: {
    entries: number;
    installed: number;
    refused: number;
    notInstalled: number;
    skipped: number;
    failed: number;
    flagged: number;
    /** Data bytes of the files installed. */
    bytes: number;
    /** The most temporary files waiting for their manifest record at once. */
    peakPending: number;
  };
  durationMs: number;
}

/** Without any segment yet, how many entries are held before the archive counts as foreign (as verify does). */
const FOREIGN_WINDOW = 20_000;

interface Action {
  entry: ParsedEntry;
  /** Components below the target after stripping; null when the entry is not extracted. */
  target: string[] | null;
  done: boolean;
  hash?: Hash | undefined;
  sha256?: string | undefined;
  file?: PendingFile | null | undefined;
  link?: string[] | undefined;
  dirMade?: boolean | undefined;
  dirExisted?: boolean | undefined;
}

type Verdict =
  | { kind: 'verified'; flagged?: string[] | undefined }
  | { kind: 'unverified' }
  | { kind: 'superseded' }
  | { kind: 'mismatch'; reason: string };

/**
 * Extracts an archive (`.tar`, `.tar.zst`, `.tar.gz`; a path or a stream)
 * into `options.cwd`, verifying before installing (DESIGN §8):
 *
 * - Each regular file is written under a temporary name in its target
 *   directory, hashed as written, and renamed into place only when its
 *   manifest record has arrived and matches (segments follow the entries
 *   they cover, so at most one segment's worth of files is pending). A
 *   mismatch, a missing record or a truncated archive leaves nothing under
 *   that name; the entry is reported `not-installed` and the status is 3.
 *   Only the effective (last) record of a path is installed.
 * - An archive without a manifest is extracted with a warning that nothing
 *   could be verified: entries are held until the end of the archive (or
 *   20,000 entries) in case a manifest follows, then installed as read.
 * - Every path is resolved by the kernel beneath the target
 *   (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or descriptors walked
 *   with O_NOFOLLOW): leading `/` are stripped with a warning, `..` is
 *   refused, no symlink is ever followed (one standing where a file goes is
 *   replaced), hard links only reach files extracted earlier in the run,
 *   devices need `devices`.
 * - Modes, owners (as root), mtimes; directories' last, after their contents.
 *
 * Per-entry problems land in the result and `onIssue`. Rejects only when the
 * target cannot be opened or the input cannot be read or is not an archive
 * (SAFEBAK_IO, SAFEBAK_NOT_AN_ARCHIVE, SAFEBAK_USAGE), or with
 * `signal.reason` on abort; every temporary file is removed first.
 */
export async function extractArchive(source: string | Readable, options: ExtractOptions = {}): Promise<ExtractResult> {
  const started = Date.now();
  options.signal?.throwIfAborted();
  const strip = options.stripComponents ?? 0;
  if (!Number.isSafeInteger(strip) || strip < 0) throw new SafebakError('SAFEBAK_USAGE', `stripComponents must be a whole number, not ${strip}`);
  let selection: PathSelection;
  try {
    selection = new PathSelection(options.paths ?? []);
  } catch (err) {
    throw new SafebakError('SAFEBAK_USAGE', (err as Error).message);
  }
  const target = resolvePath(options.cwd ?? process.cwd());
  const root = TargetRoot.open(target, options.resolver);
  const job = new Extraction(options, root, selection, strip);
  const label = typeof source === 'string' ? source : '-';
  let summary: ReadArchiveSummary | null = null;
  try {
    try {
      summary = await readArchive(source, label, job.handlers(), options.signal);
    } catch (err) {
      if (!(err instanceof SafebakError) || (err.code !== 'SAFEBAK_ARCHIVE_CORRUPT' && err.code !== 'SAFEBAK_ARCHIVE_TRUNCATED')) throw err;
      job.damaged(err.message);
    }
    await job.finish();
    return job.result(summary, target, Date.now() - started);
  } catch (err) {
    await job.cleanup();
    if (options.signal?.aborted) throw options.signal.reason;
    throw err;
  } finally {
    root.close();
  }
}

class Extraction {
  readonly #options: ExtractOptions;
  readonly #root: TargetRoot;
  readonly #selection: PathSelection;
  readonly #strip: number;
  readonly #policy = new MetadataPolicy();
  readonly #installer: Installer;
  readonly #log: Logger | undefined;
  #ops: (() => Promise<void>)[] = [];
  #window: Action[] = [];
  #byOffset = new Map<number, Action>();
  #pendingNonDir = new Map<string, Action>();
  #current: { action: Action | null; segment: Buffer[] | null; segmentIndex: number } | null = null;
  #foreign = false;
  #segments = 0;
  #footer: FooterRecord | null = null;
  #damaged = false;
  /** Installed regular files by target path, with their inode: the only targets a hard link may reach. */
  #installedFiles = new Map<string, number>();
  /** Directories whose metadata is applied at the end, by target path. */
  #dirs = new Map<string, { target: string[]; meta: EntryMeta }>();
  #outcomes: EntryOutcome[] = [];
  #problems: string[] = [];
  #warnings: string[] = [];
  #leadingSlash = { count: 0, first: '' };
  #totals = { entries: 0, installed: 0, refused: 0, notInstalled: 0, skipped: 0, failed: 0, flagged: 0, bytes: 0 };
  #bytesRead = 0;

  constructor(options: ExtractOptions, root: TargetRoot, selection: PathSelection, strip: number) {
    this.#options = options;
    this.#root = root;
    this.#selection = selection;
    this.#strip = strip;
    this.#installer = new Installer(root, this.#policy, options.keepExisting ?? false);
    this.#log = options.logger?.child({ component: 'extract' });
  }

  handlers() {
    return {
      entry: (e: ParsedEntry) => this.#onEntry(e),
      data: (chunk: Buffer) => this.#onData(chunk),
      entryEnd: () => this.#onEntryEnd(),
      settle: async () => {
        await this.#runOps();
        this.#options.onProgress?.({ entries: this.#totals.entries, installed: this.#totals.installed, bytes: this.#bytesRead });
      },
    };
  }

  // ---- the synchronous parser callbacks: decide, and queue the filesystem work ----

  #onEntry(e: ParsedEntry): void {
    this.#bytesRead = e.offset;
    const segment = SEGMENT_NAME.exec(e.name);
    if (segment && e.type === 'file') {
      if (e.size > MAX_SEGMENT_BYTES) {
        throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `manifest segment ${e.name} claims ${e.size} bytes, beyond any real segment`);
      }
      this.#current = { action: null, segment: [], segmentIndex: Number(segment[1]) };
      return;
    }
    this.#totals.entries++;
    const a: Action = { entry: e, target: null, done: false };
    this.#current = { action: a, segment: null, segmentIndex: 0 };
    if (!this.#foreign) {
      this.#window.push(a);
      this.#byOffset.set(e.offset, a);
    }
    this.#prepare(a);
  }

  #prepare(a: Action): void {
    const e = a.entry;
    const split = splitEntryName(e.name);
    if (split.leadingSlash && this.#leadingSlash.count++ === 0) this.#leadingSlash.first = e.name;
    if ('refused' in split) return this.#refuse(a, split.refused);
    if (!this.#selection.matches(split.components)) return this.#pass(a);
    const target = stripComponents(split.components, this.#strip);
    if (target === null) return this.#pass(a);
    if (e.type === 'unknown') return this.#refuse(a, `unsupported entry type (typeflag ${JSON.stringify(e.typeflag)}): not extracted`);
    if ((e.type === 'chardev' || e.type === 'blockdev') && !this.#options.devices) {
      return this.#refuse(a, 'device node: not created without the devices option (--devices)');
    }
    if (e.type === 'hardlink') {
      const link = splitEntryName(e.linkTarget ?? '');
      if ('refused' in link) return this.#refuse(a, `hard link target: ${link.refused}`);
      const linkTarget = stripComponents(link.components, this.#strip);
      if (linkTarget === null) return this.#refuse(a, `hard link target ${JSON.stringify(e.linkTarget)} is not extracted`);
      a.link = linkTarget;
    }
    // A parent that an earlier, not yet installed entry of this segment claims
    // as a non-directory (a symlink, most dangerously) would be one on disk
    // once that entry is installed: refuse now as the kernel would then.
    for (let i = 1; i < target.length; i++) {
      const claimed = this.#pendingNonDir.get(target.slice(0, i).join('/'));
      if (claimed) {
        return this.#refuse(a, `${target.slice(0, i).join('/')} is a ${claimed.entry.type} from an earlier entry: extraction never goes through one`);
      }
    }
    a.target = target;
    if (e.type === 'dir') {
      this.#pendingNonDir.delete(target.join('/'));
      this.#ops.push(() => this.#makeDir(a));
    } else {
      if (!this.#foreign) this.#pendingNonDir.set(target.join('/'), a);
      if (e.type === 'file') {
        a.hash = createHash('sha256');
        this.#ops.push(() => this.#beginFile(a));
      }
    }
  }

  #onData(chunk: Buffer): void {
    const cur = this.#current!;
    if (cur.segment) {
      cur.segment.push(Buffer.from(chunk));
      return;
    }
    const a = cur.action!;
    if (!a.hash) return;
    a.hash.update(chunk);
    // The chunk is a view of the input buffer, valid until settle() has run these ops.
    this.#ops.push(() => this.#writeFile(a, chunk));
  }

  #onEntryEnd(): void {
    const cur = this.#current!;
    this.#current = null;
    if (cur.segment) {
      this.#onSegment(cur.segmentIndex, Buffer.concat(cur.segment));
      return;
    }
    const a = cur.action!;
    if (a.hash) {
      a.sha256 = a.hash.digest('hex');
      a.hash = undefined;
      this.#ops.push(async () => {
        if (a.file && !a.done) await this.#installer.finishWriting(a.file).catch((err) => this.#failed(a, err));
      });
    }
    if (this.#foreign) this.#ops.push(() => this.#apply(a, { kind: 'unverified' }));
    else if (this.#segments === 0 && this.#window.length > FOREIGN_WINDOW) this.#goForeign();
  }

  #onSegment(index: number, body: Buffer): void {
    const expected = this.#segments + 1;
    if (index !== expected) this.#problem(`manifest segment ${index} found where segment ${expected} was expected`);
    this.#segments = Math.max(this.#segments, index);
    if (this.#foreign) {
      this.#problem(`manifest segment ${index} follows entries that were already installed unverified`);
      return;
    }
    let records: ManifestRecord[];
    try {
      records = parseSegment(body);
    } catch (err) {
      this.#problem(`manifest segment ${index} is damaged: ${(err as Error).message}`);
      this.#closeWindow(() => ({ kind: 'mismatch', reason: 'its manifest segment is damaged' }));
      return;
    }
    if (index === 1 && records[0]?.kind !== 'header') this.#problem('manifest segment 1 does not start with the manifest header');
    const matched = new Map<Action, EntryRecord>();
    const effective = new Map<string, Action>();
    for (const r of records) {
      if (r.kind === 'footer') this.#footer = r;
      if (r.kind !== 'entry') continue;
      const a = this.#byOffset.get(r.offset);
      if (!a) {
        this.#problem(`${r.path}: the manifest records an entry at byte ${r.offset}, but the archive has none there`);
        continue;
      }
      this.#byOffset.delete(r.offset);
      matched.set(a, r);
      effective.set(r.path, a);
    }
    this.#closeWindow((a) => {
      const r = matched.get(a);
      if (!r) return { kind: 'mismatch', reason: 'no manifest record covers this entry' };
      if (effective.get(r.path) !== a) return { kind: 'superseded' };
      return checkRecord(a, r);
    });
  }

  /** Queues the installation of every entry held since the last segment, in archive order. */
  #closeWindow(verdictOf: (a: Action) => Verdict): void {
    for (const a of this.#window) {
      const verdict = verdictOf(a);
      this.#ops.push(() => this.#apply(a, verdict));
    }
    this.#window = [];
    this.#byOffset.clear();
    this.#pendingNonDir.clear();
  }

  #goForeign(): void {
    this.#foreign = true;
    this.#warnings.push(`no manifest in the first ${FOREIGN_WINDOW} entries: the archive is treated as foreign and nothing is verified`);
    this.#closeWindow(() => ({ kind: 'unverified' }));
  }

  damaged(message: string): void {
    this.#damaged = true;
    this.#problem(message);
  }

  // ---- the asynchronous work, run in order by settle() ----

  async #runOps(): Promise<void> {
    // Ops may queue more ops; take batches until none are left.
    while (this.#ops.length > 0) {
      const batch = this.#ops;
      this.#ops = [];
      for (const op of batch) await op();
    }
  }

  async #makeDir(a: Action): Promise<void> {
    if (a.done) return;
    const target = a.target!;
    try {
      const parentFd = this.#installer.openParent(target.slice(0, -1), true);
      const name = target.at(-1)!;
      try {
        const st = fs.lstatSync(procPath(parentFd, name), { throwIfNoEntry: false });
        a.dirExisted = st?.isDirectory() ?? false;
        // A symlink standing where a directory goes is replaced, never followed (GNU tar does the same).
        if (st?.isSymbolicLink() && !this.#options.keepExisting) await fsp.unlink(procPath(parentFd, name));
      } finally {
        fs.closeSync(parentFd);
      }
      fs.closeSync(this.#root.openDir(target, { lastMode: EXPLICIT_DIR_MODE }));
      a.dirMade = true;
    } catch (err) {
      this.#failed(a, err);
    }
  }

  async #beginFile(a: Action): Promise<void> {
    if (a.done) return;
    const target = a.target!;
    try {
      a.file = await this.#installer.begin(target.slice(0, -1), target.at(-1)!);
      if (a.file === null) this.#report(a, 'skipped', 'already exists (keep existing)');
    } catch (err) {
      this.#failed(a, err);
    }
  }

  async #writeFile(a: Action, chunk: Buffer): Promise<void> {
    if (!a.file || a.done) return;
    try {
      await this.#installer.write(a.file, chunk);
    } catch (err) {
      this.#failed(a, err);
    }
  }

  async #apply(a: Action, verdict: Verdict): Promise<void> {
    try {
      if (a.done || a.target === null) return;
      if (verdict.kind === 'superseded') return this.#report(a, 'skipped', 'superseded by a later attempt of the same file');
      if (verdict.kind === 'mismatch') return this.#report(a, 'not-installed', verdict.reason);
      const flagged = verdict.kind === 'verified' ? verdict.flagged : undefined;
      const e = a.entry;
      const target = a.target;
      const key = target.join('/');
      const meta: EntryMeta = { mode: e.mode, uid: e.uid, gid: e.gid, mtimeSec: e.mtimeSec, mtimeNsec: e.mtimeNsec };
      if (e.type === 'dir') {
        if (!a.dirMade) return;
        if (!(this.#options.keepExisting && a.dirExisted)) this.#dirs.set(key, { target, meta });
        return this.#report(a, 'installed', undefined, flagged);
      }
      if (e.type === 'file') {
        if (!a.file) return this.#report(a, 'failed', 'its temporary file was not written');
        const placed = await this.#installer.install(a.file, meta);
        if (placed === 'installed') {
          this.#installedFiles.set(key, a.file.ino);
          this.#totals.bytes += a.file.written;
        }
        return this.#placed(a, placed, flagged);
      }
      const dirFd = this.#installer.openParent(target.slice(0, -1), true);
      try {
        const placed = await this.#placeOther(a, dirFd, target.at(-1)!, meta);
        this.#placed(a, placed, flagged);
      } finally {
        fs.closeSync(dirFd);
      }
    } catch (err) {
      this.#failed(a, err);
    } finally {
      if (a.file) {
        await this.#installer.discard(a.file);
        a.file = undefined;
      }
      if (a.done && a.target !== null && this.#pendingNonDir.get(a.target.join('/')) === a) this.#pendingNonDir.delete(a.target.join('/'));
    }
  }

  async #placeOther(a: Action, dirFd: number, name: string, meta: EntryMeta): Promise<PlaceResult> {
    const e = a.entry;
    switch (e.type) {
      case 'symlink': {
        const linkTarget = e.linkTarget ?? '';
        return this.#installer.place(
          dirFd,
          name,
          'symlink',
          (tempPath) => fsp.symlink(linkTarget, tempPath),
          (tempPath) => this.#policy.applyToLink(tempPath, meta),
        );
      }
      case 'hardlink': {
        const link = a.link!;
        const linkKey = link.join('/');
        const ino = this.#installedFiles.get(linkKey);
        if (ino === undefined) {
          throw new PathRefused(`hard link target ${linkKey} is not a file extracted earlier in this run: only links to those are made`);
        }
        const srcFd = this.#installer.openParent(link.slice(0, -1), false);
        try {
          const srcPath = procPath(srcFd, link.at(-1)!);
          const st = fs.lstatSync(srcPath);
          if (!st.isFile() || st.ino !== ino) throw new PathRefused(`hard link target ${linkKey} is no longer the file extracted there`);
          const placed = await this.#installer.place(dirFd, name, 'hard link', (tempPath) => fsp.link(srcPath, tempPath));
          if (placed === 'installed') this.#installedFiles.set(a.target!.join('/'), ino);
          return placed;
        } finally {
          fs.closeSync(srcFd);
        }
      }
      case 'fifo':
      case 'chardev':
      case 'blockdev': {
        const type = e.type;
        return this.#installer.place(
          dirFd,
          name,
          type,
          (tempPath) => makeNode(dirFd, tempPath.slice(tempPath.lastIndexOf('/') + 1), type, e.devmajor, e.devminor),
          (tempPath) => this.#policy.applyToPath(tempPath, meta),
        );
      }
      default:
        throw new PathRefused(`unsupported entry type ${e.type}`);
    }
  }

  #placed(a: Action, placed: PlaceResult, flagged: string[] | undefined): void {
    if (placed === 'exists') this.#report(a, 'skipped', 'already exists (keep existing)');
    else this.#report(a, 'installed', undefined, flagged);
  }

  // ---- outcomes ----

  #pass(a: Action): void {
    a.done = true;
  }

  #refuse(a: Action, reason: string): void {
    this.#report(a, 'refused', reason);
  }

  #failed(a: Action, err: unknown): void {
    if (a.done) return;
    if (err instanceof PathRefused) this.#report(a, 'refused', err.message);
    else this.#report(a, 'failed', describeSystemError(err));
  }

  #report(a: Action, outcome: Outcome, reason?: string, flagged?: string[]): void {
    if (a.done) return;
    a.done = true;
    const o: EntryOutcome = { path: a.entry.name, type: a.entry.type, outcome };
    if (reason !== undefined) o.reason = reason;
    if (flagged !== undefined) o.flagged = flagged;
    const key = outcome === 'not-installed' ? 'notInstalled' : outcome;
    this.#totals[key]++;
    if (flagged) this.#totals.flagged++;
    const issue = outcome !== 'installed' || flagged !== undefined;
    if (issue || this.#options.collectOutcomes !== false) this.#outcomes.push(o);
    if (issue && outcome !== 'skipped') {
      this.#log?.warn({ path: o.path, outcome, reason, flagged }, 'entry not installed cleanly');
      this.#options.onIssue?.(o);
    }
  }

  #problem(message: string): void {
    this.#problems.push(message);
    this.#log?.error({ problem: message }, 'archive integrity problem');
  }

  // ---- the end ----

  async finish(): Promise<void> {
    // Work queued before a damaged chunk stopped the parser still counts.
    await this.#runOps();
    if (this.#current?.action) {
      // The archive ended inside this entry.
      const a = this.#current.action;
      this.#current = null;
      if (a.file) await this.#installer.discard(a.file);
      a.file = undefined;
      this.#report(a, 'not-installed', 'the archive ends inside this entry');
    }
    if (this.#segments === 0) {
      this.#foreign = true;
      this.#warnings.push('no manifest: nothing could be verified; entries were installed as read');
      this.#closeWindow(() => ({ kind: 'unverified' }));
    } else {
      if (this.#footer === null) {
        this.#problem('the archive has no manifest footer: it is incomplete (truncated, or the run that wrote it died)');
      }
      this.#closeWindow(() => ({ kind: 'mismatch', reason: 'no manifest segment covers this entry: the archive is incomplete' }));
    }
    await this.#runOps();
    await this.#applyDirectories();
    await this.#installer.discardAll();
    if (this.#leadingSlash.count > 0) {
      this.#warnings.push(
        `removed leading '/' from ${this.#leadingSlash.count} entry name${this.#leadingSlash.count > 1 ? 's' : ''} (first: ${JSON.stringify(this.#leadingSlash.first)})`,
      );
    }
  }

  /** Directory metadata last, deepest first: writing into a directory changes its mtime, and a read-only mode would stop its contents. */
  async #applyDirectories(): Promise<void> {
    const dirs = [...this.#dirs.values()].sort((x, y) => y.target.length - x.target.length);
    for (const { target, meta } of dirs) {
      try {
        const fd = this.#root.openDir(target, false);
        try {
          await this.#policy.applyToPath(procPath(fd), meta);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        this.#warnings.push(`${target.join('/')}: directory metadata not applied: ${err instanceof PathRefused ? err.message : describeSystemError(err)}`);
      }
    }
  }

  async cleanup(): Promise<void> {
    this.#ops = [];
    await this.#installer.discardAll();
  }

  result(summary: ReadArchiveSummary | null, target: string, durationMs: number): ExtractResult {
    const notFound = this.#selection.unmatched();
    for (const p of notFound) this.#warnings.push(`${p}: not found in the archive`);
    if (summary?.trailingGarbage) this.#warnings.push('non-zero bytes after the end-of-archive marker were ignored');
    const t = this.#totals;
    const status =
      this.#problems.length > 0 || t.notInstalled > 0 || this.#damaged
        ? ExitStatus.integrity
        : t.failed > 0
          ? ExitStatus.fatal
          : t.refused > 0 || t.flagged > 0 || notFound.length > 0
            ? ExitStatus.flagged
            : ExitStatus.ok;
    return {
      status,
      target,
      compression: summary?.compression ?? 'none',
      kind: this.#segments > 0 ? 'safebak' : 'foreign',
      complete: this.#footer !== null && !this.#damaged,
      resolver: this.#root.mode,
      nanosecondTimes: this.#policy.nanosecondTimes,
      entries: this.#outcomes,
      problems: this.#problems,
      warnings: this.#warnings,
      notFound,
      totals: { ...t, peakPending: this.#installer.peakPending },
      durationMs,
    };
  }
}

/** Compares an entry with its manifest record as verify does; the record is the authority. */
function checkRecord(a: Action, r: EntryRecord): Verdict {
  const e = a.entry;
  const mismatch = (reason: string): Verdict => ({ kind: 'mismatch', reason });
  if (r.path !== e.name) return mismatch(`the manifest names the entry at byte ${r.offset} ${JSON.stringify(r.path)}`);
  if (r.type !== e.type) return mismatch(`the archive entry is a ${e.type}, the manifest says ${r.type}`);
  if (r.type === 'file') {
    if (r.size !== e.size) return mismatch(`the archive entry holds ${e.size} bytes, the manifest says ${r.size}`);
    if (a.sha256 !== r.sha256) return mismatch('its data does not match the recorded sha256 (the archive is damaged)');
  }
  if (r.mode !== e.mode || r.uid !== e.uid || r.gid !== e.gid) return mismatch('its mode or ownership differs from the manifest');
  if (r.mtime !== formatManifestTime(e.mtimeSec, e.mtimeNsec)) return mismatch('its mtime differs from the manifest');
  const linkTarget = r.type === 'symlink' || r.type === 'hardlink' ? e.linkTarget : undefined;
  if ((r.linkTarget ?? undefined) !== linkTarget) return mismatch('its link target differs from the manifest');
  const vanished = r.reasons?.includes('vanished') ?? false;
  if (r.status === 'changed' && !vanished) return mismatch('recorded as changed during the backup, and no retry follows');
  if (r.status === 'unstable' || r.status === 'changed') return { kind: 'verified', flagged: [r.status, ...(r.reasons ?? [])] };
  return { kind: 'verified' };
}
