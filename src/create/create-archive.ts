import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { DEFAULT_SEGMENT_LIMITS, formatManifestTime, ManifestBuilder, MANIFEST_FORMAT, MANIFEST_VERSION } from '../archive/manifest.js';
import type { EntryRecord, HeaderRecord, Strategy } from '../archive/manifest.js';
import { openFileOutput, openStreamOutput } from '../archive/output.js';
import { explainOutputFailure } from '../archive/write-failure.js';
import type { ArchiveOutput, Compression } from '../archive/output.js';
import type { TarHeader } from '../archive/tar-header.js';
import { TarWriter } from '../archive/tar-writer.js';
import { defaultConfig } from '../config/config.js';
import type { Config } from '../config/config.js';
import { describeSystemError, ExitStatus, ioError, SafebakError } from '../errors.js';
import { newChunkPool, NotRegularFile, readWhole, streamFile } from '../transfer/copy.js';
import type { CopyOptions, WholeRead } from '../transfer/copy.js';
import type { TransferResult } from '../transfer/transfer-result.js';
import { loadNative } from '../native/native.js';
import { chooseStrategy } from '../transfer/choose.js';
import type { Choice } from '../transfer/choose.js';
import { FsProbe } from '../transfer/fs-probe.js';
import { LEASE_BROKEN, LeaseKeeper } from '../transfer/lease.js';
import type { Lease } from '../transfer/lease.js';
import { SmallFileBatcher } from '../transfer/small-file-batcher.js';
import { BatchSlot } from '../transfer/small-file-batcher.js';
import type { BatchedRead, BatchOutcome } from '../transfer/small-file-batcher.js';
import { snapshotFile } from '../transfer/snapshot.js';
import { spliceFile } from '../transfer/splice.js';
import type { RawEntrySink } from '../transfer/splice.js';
import { StrategyUnavailable } from '../transfer/strategy-unavailable.js';
import { ReadBack } from './read-back.js';
import { checkSourceRoots } from './source-roots.js';
import type { VerifyResult } from '../verify/verify-archive.js';
import { createExcludeMatcher } from '../walk/exclude.js';
import { walkBatches } from '../walk/walker.js';
import type { WalkEntry, WalkItem, WalkSkip } from '../walk/walker.js';
import { orderedPrefetch } from './ordered-prefetch.js';
import { TOOL } from '../version.js';
import type { FileStat } from '../file-stat.js';

export type CreateSettings = Omit<Config, 'logLevel' | 'logFile'>;

export interface CreateOptions extends Partial<CreateSettings> {
  /** Paths to archive, relative to `cwd`; their archive names are these, leading `/` stripped. */
  sources: string[];
  /** A file path (written under a temporary name, verified, then renamed) or a stream. */
  output: string | Writable;
  /** The directory sources are relative to (`-C DIR`); default the process's. */
  cwd?: string | undefined;
  signal?: AbortSignal | undefined;
  /** A host's pino logger; safebak is silent without one. */
  logger?: Logger | undefined;
  onProgress?: ((progress: CreateProgress) => void) | undefined;
  /** Called for every file that is flagged or skipped, as it happens. */
  onIssue?: ((issue: FileIssue) => void) | undefined;
  /** Keep every manifest record in the result (default true; a host with millions of files may prefer false). */
  collectRecords?: boolean | undefined;
  /** The nightly job writing this archive, recorded in the manifest header: retention deletes only its own job's archives. */
  job?: string | undefined;
}

export interface CreateProgress {
  phase: 'archive' | 'verify';
  files: number;
  /** Data bytes archived so far, or tar bytes re-read while verifying. */
  bytes: number;
  path?: string | undefined;
  strategy?: Strategy | undefined;
}

/** A file whose outcome is not a clean ok, or a path that was passed over. */
export interface FileIssue {
  path: string;
  /** `changed`: vanished mid-transfer; `unstable`: retries exhausted; `skipped`: not archived; `note`: passed over by design (a socket). */
  status: 'changed' | 'unstable' | 'skipped' | 'note';
  reasons: string[];
}

export interface CreateResult {
  /** 0 all ok, 1 some files flagged or skipped (the archive is sound). */
  status: ExitStatus;
  /** The final path of the archive, or null for a stream. */
  output: string | null;
  compression: Compression;
  totals: { entries: number; files: number; bytes: number; flagged: number; skipped: number; segments: number };
  /** Attempts that found their file changing and were retried. */
  retried: number;
  flagged: FileIssue[];
  notes: FileIssue[];
  strategies: Record<Strategy, number>;
  verification: { performed: true; result: VerifyResult } | { performed: false; reason: string };
  records?: EntryRecord[] | undefined;
  durationMs: number;
}

/**
 * Creates an archive (DESIGN §3): walks the sources, transfers every file
 * with a checksum over exactly the bytes written and a stability check,
 * writes tar (optionally zstd) with manifest segments, and for a file output
 * re-reads and verifies the whole archive before renaming it into place.
 * Problems with single files land in the result; fatal errors reject, and an
 * abort rejects with `signal.reason`; neither leaves a file under the final name.
 */
export async function createArchive(options: CreateOptions): Promise<CreateResult> {
  const settings = resolveSettings(options);
  const started = Date.now();
  const signal = options.signal;
  signal?.throwIfAborted();
  const log = options.logger?.child({ component: 'create' });
  const compression = chooseCompression(settings.compress, options.output);
  await checkSourceRoots(options.sources, options.cwd, settings);
  const outputOptions = { compression, level: settings.level };
  const output: ArchiveOutput =
    typeof options.output === 'string' ? await openFileOutput(options.output, outputOptions) : openStreamOutput(options.output, outputOptions);
  const onAbort = (): void => {
    output.stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let readBack: ReadBack | null = null;
  try {
    const selfKey = output.tempPath ? inodeKey(await fsp.stat(output.tempPath, { bigint: true })) : null;
    const job = new CreateJob(options, settings, output, selfKey, log);
    if (output.tempPath !== null && settings.verify) {
      readBack = await ReadBack.start(output.tempPath, {
        signal,
        onProgress: (p) => options.onProgress?.({ phase: 'verify', files: p.entries, bytes: p.bytes }),
      });
    }
    await job.run();
    signal?.throwIfAborted();
    await output.finish();
    let verification: CreateResult['verification'];
    if (output.tempPath === null) {
      verification = { performed: false, reason: 'the archive went to a stream; check the stored copy with `safebak verify`' };
    } else if (readBack === null) {
      verification = { performed: false, reason: 'read-back verification was turned off (--no-verify)' };
    } else {
      const result = await readBack.finish();
      log?.debug({ mode: readBack.mode, why: readBack.afterReason ?? undefined }, 'read-back verification');
      job.checkReadBack(result);
      verification = { performed: true, result };
    }
    await output.commit();
    log?.info({ output: options.output, totals: job.manifest.totals }, 'archive complete');
    return job.result(verification, compression, typeof options.output === 'string' ? options.output : null, Date.now() - started);
  } catch (err) {
    await readBack?.cancel();
    await output.abort();
    if (signal?.aborted) throw signal.reason;
    throw explainOutputFailure(err, typeof options.output === 'string' ? options.output : null);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function resolveSettings(options: CreateOptions): CreateSettings {
  const settings: CreateSettings = { ...defaultConfig };
  for (const key of Object.keys(settings) as (keyof CreateSettings)[]) {
    if (options[key] !== undefined) (settings as unknown as Record<string, unknown>)[key] = options[key];
  }
  if (!Array.isArray(options.sources) || options.sources.length === 0) {
    throw new SafebakError('SAFEBAK_USAGE', 'nothing to archive: give at least one source path');
  }
  if (options.output === '' || options.output === undefined || options.output === null) {
    throw new SafebakError('SAFEBAK_USAGE', 'no output: give an archive path or a stream');
  }
  return settings;
}

function chooseCompression(compress: Config['compress'], output: string | Writable): Compression {
  if (compress !== 'auto') return compress;
  return typeof output === 'string' && /\.(tar\.zst|tzst|zst)$/.test(output) ? 'zstd' : 'none';
}

function inodeKey(stat: FileStat): string {
  return `${stat.dev}:${stat.ino}`;
}

/** Floor-divides stat nanoseconds into tar's seconds and nanoseconds. */
function splitTime(ns: bigint): [number, number] {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return [Number(sec), Number(nsec)];
}

/** The tar header and the matching manifest fields of one entry. */
function describeEntry(name: string, type: TarHeader['type'], stat: FileStat, size: number, linkTarget?: string): TarHeader {
  const [mtimeSec, mtimeNsec] = splitTime(stat.mtimeNs);
  const device = type === 'chardev' || type === 'blockdev';
  const rdev = device ? stat.rdev : 0n;
  return {
    name: type === 'dir' ? `${name}/` : name,
    type,
    size,
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    mtimeSec,
    mtimeNsec,
    linkTarget,
    // Linux's dev_t packing (glibc's gnu_dev_major/minor); only devices carry it.
    devmajor: device ? Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)) : undefined,
    devminor: device ? Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) : undefined,
  };
}

function recordOf(h: TarHeader, offset: number, extra: Partial<EntryRecord> = {}): EntryRecord {
  return {
    kind: 'entry',
    path: h.name,
    type: h.type,
    size: h.type === 'file' ? h.size : undefined,
    sha256: extra.sha256,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    mtime: formatManifestTime(h.mtimeSec, h.mtimeNsec),
    linkTarget: h.linkTarget,
    offset,
    strategy: extra.strategy,
    strategyReason: extra.strategyReason,
    attempt: extra.attempt,
    status: extra.status ?? 'ok',
    reasons: extra.reasons,
  };
}

type Attempt = { result: TransferResult; offset: number; strategyReason?: string | undefined } | { error: unknown };
/**
 * A small file read ahead of its turn, with why it was copied: its bytes, or
 * (from a native batch) its finished tar entry, `entries[start, end)`.
 */
type Prepared = (WholeRead & { strategyReason?: string | undefined; batch?: undefined }) | BatchedRead;

/** The state of one run of `createArchive`: the walk, the writer and the manifest. */
class CreateJob {
  readonly manifest: ManifestBuilder;
  #options: CreateOptions;
  #settings: CreateSettings;
  #writer: TarWriter;
  #selfKey: string | null;
  /** The archive's own inode number: a cheap first test before the per-file key string is built. */
  #selfIno: bigint | null;
  #log: Logger | undefined;
  /** Whether debug lines are wanted: per-file ones are not even built otherwise. */
  #debug: boolean;
  /** The size bounds as bigints, converted once rather than per file. */
  #smallFileBytes: bigint;
  #wholeReadBytes: bigint;
  #batchedChoices: (Choice | undefined)[] = [];
  #copy: CopyOptions;
  #links = new Map<string, string>();
  #prefetchSeen = new Set<string>();
  #flagged: FileIssue[] = [];
  #notes: FileIssue[] = [];
  #records: EntryRecord[] | null;
  #strategies: Record<Strategy, number> = { copy: 0, splice: 0, snapshot: 0 };
  #retried = 0;
  #output: ArchiveOutput;
  #leases = new LeaseKeeper();
  #fs = new FsProbe();
  #nativeMissing: string | null;
  /** Small files read ahead in native batches (leases taken inside); null without the addon. */
  #batcher: SmallFileBatcher | null;
  #files = 0;
  #bytes = 0;

  constructor(options: CreateOptions, settings: CreateSettings, output: ArchiveOutput, selfKey: string | null, log: Logger | undefined) {
    this.#options = options;
    this.#settings = settings;
    this.#writer = new TarWriter(output.stream, output.releasesOnCallback, output.copyIn);
    this.#output = output;
    const native = loadNative();
    this.#nativeMissing = native.addon === null ? native.reason : null;
    log?.debug({ native: native.reason, raw: output.raw ? output.raw.kind : output.rawReason, leases: this.#leases.disabled ?? 'on' }, 'transfer capabilities');
    this.#selfKey = selfKey;
    this.#selfIno = selfKey === null ? null : BigInt(selfKey.slice(selfKey.indexOf(':') + 1));
    this.#log = log;
    this.#debug = log?.isLevelEnabled('debug') ?? false;
    this.#smallFileBytes = BigInt(settings.smallFileBytes);
    this.#wholeReadBytes = BigInt(settings.wholeReadBytes);
    this.#records = options.collectRecords === false ? null : [];
    this.#copy = { paranoid: settings.paranoid, recentSeconds: settings.recentSeconds, signal: options.signal, pool: newChunkPool() };
    this.#batcher =
      this.#nativeMissing === null
        ? new SmallFileBatcher({
            maxBytes: settings.wholeReadBytes,
            lease: this.#leases.disabled === null,
            paranoid: settings.paranoid,
            recentSeconds: settings.recentSeconds,
          })
        : null;
    const header: HeaderRecord = {
      kind: 'header',
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      hash: 'sha256',
      createdAt: new Date().toISOString(),
      tool: TOOL,
      sources: options.sources,
      ...(options.job === undefined ? {} : { job: options.job }),
      segmentEntries: settings.segmentEntries,
    };
    this.manifest = new ManifestBuilder(header, {
      entries: settings.segmentEntries ?? DEFAULT_SEGMENT_LIMITS.entries,
      bytes: settings.segmentBytes ?? DEFAULT_SEGMENT_LIMITS.bytes,
    });
  }

  async run(): Promise<void> {
    const s = this.#settings;
    // A few batches are read ahead; each holds at most a quarter of readAheadBytes of small files.
    const ahead = 3;
    const batches = walkBatches(
      this.#options.sources,
      {
        cwd: this.#options.cwd ?? process.cwd(),
        exclude: createExcludeMatcher(s.exclude),
        oneFileSystem: s.oneFileSystem,
        signal: this.#options.signal,
      },
      { items: s.readAhead, bytes: Math.max(1, Math.floor(s.readAheadBytes / (ahead + 1))), smallBytes: s.wholeReadBytes },
    );
    const prepare = (items: WalkItem[]): (Promise<Prepared | null> | BatchSlot | null)[] => {
      const prepared = items.map((item) => this.#prefetch(item));
      this.#batcher?.flush();
      return prepared;
    };
    for await (const { items, prepared } of orderedPrefetch(batches, prepare, ahead)) {
      for (let i = 0; i < items.length; i++) {
        this.#options.signal?.throwIfAborted();
        const item = items[i]!;
        if (item.kind === 'skip') this.#skip(item);
        else if (this.#selfKey !== null && item.stat.ino === this.#selfIno && inodeKey(item.stat) === this.#selfKey) {
          this.#note(item.name, 'is the archive being written; not archived');
        } else if (item.type === 'file') {
          const ahead = prepared[i] ?? null;
          if (ahead instanceof BatchSlot) {
            // Awaited only when the batch is still out or the file needs the general path.
            const outcome = ahead.outcome;
            const pending = this.#archiveBatched(item, outcome === undefined ? await ahead.wait() : outcome);
            if (pending !== undefined) await pending;
          } else await this.#archiveFile(item, ahead);
        }
        else await this.#archiveOther(item);
        if (this.manifest.due()) await this.#writeSegment(false);
      }
    }
    await this.#writeSegment(true);
    await this.#writer.finish();
  }

  /** Starts reading a small file ahead of its turn; never a file that may turn out to be a hard link. */
  #prefetch(item: WalkItem): Promise<Prepared | null> | BatchSlot | null {
    if (item.kind !== 'entry' || item.type !== 'file' || item.stat.size > this.#wholeReadBytes) return null;
    if (!this.#copiesAhead(item.stat)) return null;
    if (item.stat.nlink > 1n) {
      const key = inodeKey(item.stat);
      if (this.#prefetchSeen.has(key)) return null;
      this.#prefetchSeen.add(key);
    }
    if (this.#batcher !== null) {
      // Its strategy reason is chosen when it is written (#writeWhole): no promise per file for that.
      return this.#batcher.read(item.fsPath, item.name);
    }
    return this.#leasedWholeRead(item, 1);
  }

  /** Whether this file will be copied whatever the probes still to come find: only those are read ahead. */
  #copiesAhead(stat: FileStat): boolean {
    const s = this.#settings;
    if (s.strategy === 'copy' || this.#nativeMissing !== null) return true;
    if (s.strategy !== 'auto') return false;
    if (stat.size < this.#smallFileBytes || this.#output.raw === null) return true;
    // A larger file to a raw output: `auto` copies it too once its filesystem is known not to clone,
    // into a file always, into a pipe below spliceMinBytes (whether O_DIRECT opens then does not matter).
    return this.#fs.reflink(stat.dev) === false && this.#choiceOf(Number(stat.size), false, 1, false, true).strategy === 'copy';
  }

  /** A whole read under a read lease: refused → hot (content re-check), broken → changed. */
  async #leasedWholeRead(item: WalkEntry, attempt: number, choice?: Choice): Promise<Prepared | null> {
    const lease = await this.#leases.acquire(item.fsPath, item.stat);
    let whole: WholeRead | null = null;
    try {
      whole = await readWhole(item.fsPath, this.#settings.wholeReadBytes, { ...this.#copy, paranoid: this.#recheckAll(lease) });
    } finally {
      const broken = await lease.release();
      if (broken !== null && whole) whole.result.reasons.push(broken);
    }
    if (!whole) return null;
    const reason = choice?.reason ?? this.#choose(item, lease.hot, attempt, false, false).reason;
    return { ...whole, strategyReason: reason };
  }

  /**
   * Whether this attempt re-reads the file to compare contents whatever its
   * timestamps say: with --paranoid, for a hot file, and for a file no lease
   * watches (no addon, not ours, a filesystem without leases). Without a
   * lease nothing else would see a long-running mmap writer, whose stores to
   * already-dirty pages move neither mtime nor ctime.
   */
  #recheckAll(lease: Lease): boolean {
    return this.#copy.paranoid || lease.hot || !lease.held;
  }

  /** The strategy of one attempt, probing the filesystem only when the choice depends on it. */
  async #chooseProbed(item: WalkEntry, hot: boolean, attempt: number): Promise<Choice> {
    const s = this.#settings;
    const size = Number(item.stat.size);
    const large = size >= s.smallFileBytes;
    const native = this.#nativeMissing === null;
    const wantsReflink = native && s.strategy === 'auto' && (large || hot || attempt > 1);
    const reflink = wantsReflink ? await this.#fs.probeReflink(item.stat.dev, s.snapshotDir ?? dirname(item.fsPath)) : false;
    const raw = this.#output.raw;
    const wantsDirect = native && raw !== null && (s.strategy === 'splice' || (s.strategy === 'auto' && large && raw.kind === 'pipe'));
    const direct = wantsDirect ? await this.#fs.direct(item.stat.dev, item.fsPath) : false;
    return this.#choose(item, hot, attempt, reflink, direct);
  }

  /**
   * The strategy reason of a batched read's first attempt. Batched files are
   * those `auto` copies whatever O_DIRECT does and on filesystems that do not
   * clone (#copiesAhead): the choice depends only on the file being hot and on
   * its size against smallFileBytes, so it is made once per combination.
   */
  #batchedReason(item: WalkEntry, hot: boolean): string {
    const key = (hot ? 2 : 0) + (item.stat.size < this.#smallFileBytes ? 1 : 0);
    let choice = this.#batchedChoices[key];
    if (choice === undefined) {
      choice = this.#choose(item, hot, 1, false, true);
      this.#batchedChoices[key] = choice;
    } else if (this.#debug) {
      this.#log?.debug({ path: item.name, strategy: choice.strategy, reason: choice.reason, attempt: 1 }, 'strategy chosen');
    }
    return choice.reason;
  }

  #choose(item: WalkEntry, hot: boolean, attempt: number, reflink: boolean, direct: boolean): Choice {
    const choice = this.#choiceOf(Number(item.stat.size), hot, attempt, reflink, direct);
    if (this.#debug) this.#log?.debug({ path: item.name, strategy: choice.strategy, reason: choice.reason, attempt }, 'strategy chosen');
    return choice;
  }

  #choiceOf(size: number, hot: boolean, attempt: number, reflink: boolean, direct: boolean): Choice {
    return chooseStrategy({
      requested: this.#settings.strategy,
      size,
      hot,
      attempt,
      nativeMissing: this.#nativeMissing,
      rawMissing: this.#output.raw === null ? this.#output.rawReason : null,
      rawKind: this.#output.raw?.kind,
      direct,
      reflink,
      smallFileBytes: this.#settings.smallFileBytes,
      spliceMinBytes: this.#settings.spliceMinBytes,
    });
  }

  #skip(item: WalkSkip): void {
    if (!item.problem) {
      this.#note(item.name, item.reason);
      return;
    }
    this.manifest.addSkipped({ kind: 'skipped', path: item.name, reasons: [item.reason] });
    this.#issue({ path: item.name, status: 'skipped', reasons: [item.reason] });
  }

  #note(path: string, reason: string): void {
    const issue: FileIssue = { path, status: 'note', reasons: [reason] };
    this.#notes.push(issue);
    this.#log?.info({ path, reason }, 'passed over');
  }

  #issue(issue: FileIssue): void {
    if (issue.status !== 'note') this.#flagged.push(issue);
    this.#log?.warn({ path: issue.path, status: issue.status, reasons: issue.reasons }, 'file flagged');
    this.#options.onIssue?.(issue);
  }

  #addRecord(record: EntryRecord): void {
    this.manifest.addEntry(record);
    this.#records?.push(record);
  }

  async #archiveOther(item: WalkEntry): Promise<void> {
    const h = describeEntry(item.name, item.type, item.stat, 0, item.linkTarget);
    const offset = await this.#writer.entry(h);
    this.#addRecord(recordOf(h, offset));
  }

  /**
   * A file read in a native batch. The usual case, a file that held still
   * and has one link, is written and recorded without awaiting anything
   * (unless the writer's stage must be flushed); any other outcome takes the
   * general path, which records failures and retries changed files.
   */
  #archiveBatched(item: WalkEntry, outcome: BatchOutcome): Promise<void> | undefined {
    if (outcome !== null && !('error' in outcome) && outcome.result.reasons.length === 0 && item.stat.nlink === 1n) {
      const { batch, start, end, result } = outcome;
      const offset = this.#writer.stageEncoded(batch.entries, start, end);
      if (offset >= 0) {
        batch.done();
        const strategyReason = this.#batchedReason(item, outcome.hot);
        const h = describeEntry(item.name, 'file', result.stat, result.size);
        const record = recordOf(h, offset, { sha256: result.sha256, strategy: 'copy', strategyReason, attempt: 1, status: 'ok' });
        this.#strategies.copy++;
        if (this.#debug) this.#log?.debug({ path: item.name, strategy: 'copy', strategyReason, attempt: 1, status: 'ok', reasons: [] }, 'file transferred');
        this.#finishFile(item, [record], 'ok', []);
        return undefined;
      }
    }
    return this.#archiveFile(item, outcome !== null && 'error' in outcome ? Promise.reject(outcome.error) : Promise.resolve(outcome));
  }

  async #archiveFile(item: WalkEntry, prepared: Promise<Prepared | null> | null): Promise<void> {
    // The key is built only for files with more than one link: the others cannot be hard links.
    const key = item.stat.nlink > 1n ? inodeKey(item.stat) : '';
    const linkTarget = key !== '' ? this.#links.get(key) : undefined;
    if (linkTarget !== undefined) {
      const h = describeEntry(item.name, 'hardlink', item.stat, 0, linkTarget);
      this.#addRecord(recordOf(h, await this.#writer.entry(h)));
      return;
    }
    // Records of one file's attempts are held back until the last one, so that a
    // failed attempt can still learn that its file vanished before the retry.
    const records: EntryRecord[] = [];
    let finalStatus: FileIssue['status'] | 'ok' = 'ok';
    let finalReasons: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#attempt(item, attempt === 1 ? prepared : null, attempt);
      if ('error' in outcome) {
        const reason = reasonOfOpenError(outcome.error);
        const previous = records.at(-1);
        if (!previous) {
          this.manifest.addSkipped({ kind: 'skipped', path: item.name, reasons: [reason] });
          this.#issue({ path: item.name, status: 'skipped', reasons: [reason] });
          return;
        }
        // A retry that cannot open the file: the last attempt stands, and says why.
        previous.reasons = [...(previous.reasons ?? []), reason];
        previous.status = reason === 'vanished' ? 'changed' : 'unstable';
        finalStatus = previous.status;
        finalReasons = previous.reasons;
        break;
      }
      const { result, offset } = outcome;
      const h = describeEntry(item.name, 'file', result.stat, result.size);
      const changed = result.reasons.length > 0;
      const last = !changed || result.vanished || attempt > this.#settings.retries;
      const status = !changed ? 'ok' : result.vanished ? 'changed' : last ? 'unstable' : 'changed';
      records.push(
        recordOf(h, offset, {
          sha256: result.sha256,
          strategy: result.strategy,
          strategyReason: outcome.strategyReason,
          attempt,
          status,
          reasons: changed ? result.reasons : undefined,
        }),
      );
      this.#strategies[result.strategy]++;
      if (this.#debug) {
        this.#log?.debug(
          { path: item.name, strategy: result.strategy, strategyReason: outcome.strategyReason, attempt, status, reasons: result.reasons },
          'file transferred',
        );
      }
      if (last) {
        finalStatus = status;
        finalReasons = result.reasons;
        break;
      }
      this.#retried++;
      await sleep(this.#settings.retryDelayMs * attempt, undefined, { signal: this.#options.signal });
    }
    if (item.stat.nlink > 1n) this.#links.set(key, item.name);
    this.#finishFile(item, records, finalStatus, finalReasons);
  }

  /** Records a file's attempts (the last one stands) and reports it. */
  #finishFile(item: WalkEntry, records: EntryRecord[], finalStatus: FileIssue['status'] | 'ok', finalReasons: string[]): void {
    for (const record of records) this.#addRecord(record);
    const final = records.at(-1)!;
    this.#files++;
    this.#bytes += final.size ?? 0;
    this.#options.onProgress?.({ phase: 'archive', files: this.#files, bytes: this.#bytes, path: item.name, strategy: final.strategy });
    if (finalStatus !== 'ok') {
      this.manifest.countFlagged();
      this.#issue({ path: item.name, status: finalStatus, reasons: finalReasons });
    }
  }

  /**
   * One transfer of a file under a read lease (DESIGN §6): the strategy is
   * chosen per attempt (a refused lease makes the file hot), a forced one
   * that cannot serve the file falls back to copy, and a lease that broke
   * meanwhile makes the attempt changed.
   */
  async #attempt(item: WalkEntry, prepared: Promise<Prepared | null> | null, attempt: number): Promise<Attempt> {
    try {
      const ahead = prepared ? await prepared : null;
      if (ahead) return await this.#writeWhole(item, ahead);
      const lease = await this.#leases.acquire(item.fsPath, item.stat);
      let outcome: { result: TransferResult; offset: number; strategyReason: string } | null = null;
      try {
        let choice = await this.#chooseProbed(item, lease.hot, attempt);
        if (choice.strategy === 'copy' && item.stat.size <= this.#wholeReadBytes) {
          await lease.release();
          const whole = await this.#leasedWholeRead(item, attempt, choice);
          if (whole) return await this.#writeWhole(item, whole);
        }
        try {
          outcome = await this.#transfer(item, choice, lease);
        } catch (err) {
          if (!(err instanceof StrategyUnavailable)) throw err;
          choice = { strategy: 'copy', reason: `${choice.strategy} fell back to copy: ${err.message}` };
          this.#log?.debug({ path: item.name, reason: choice.reason }, 'strategy fell back');
          outcome = await this.#transfer(item, choice, lease);
        }
      } finally {
        const broken = await lease.release();
        if (broken !== null && outcome && !outcome.result.reasons.includes(LEASE_BROKEN)) outcome.result.reasons.push(broken);
      }
      return outcome;
    } catch (err) {
      if (isOpenFailure(err)) return { error: err };
      throw err;
    }
  }

  async #writeWhole(item: WalkEntry, whole: Prepared): Promise<Attempt> {
    if (whole.batch !== undefined) {
      const { batch, start, end } = whole;
      // Staged without a flush in the common case: no await per entry.
      let offset = this.#writer.stageEncoded(batch.entries, start, end);
      if (offset < 0) offset = await this.#writer.encodedEntry(batch.entries, start, end);
      batch.done();
      return { result: whole.result, offset, strategyReason: this.#batchedReason(item, whole.hot) };
    }
    const h = describeEntry(item.name, 'file', whole.result.stat, whole.data.length);
    return { result: whole.result, offset: await this.#writer.entry(h, whole.data), strategyReason: whole.strategyReason };
  }

  /** Runs one strategy; StrategyUnavailable means nothing of the entry was written. */
  async #transfer(item: WalkEntry, choice: Choice, lease: Lease): Promise<{ result: TransferResult; offset: number; strategyReason: string }> {
    let offset = -1;
    const sink: RawEntrySink = {
      header: async (size, stat) => {
        offset = await this.#writer.header(describeEntry(item.name, 'file', stat, size));
      },
      data: (chunk, release) => this.#writer.data(chunk, release),
      raw: async () => {
        const raw = this.#output.raw;
        if (raw === null) throw new Error(`internal: raw output requested without one (${this.#output.rawReason})`);
        await this.#writer.flush();
        await raw.drained();
        return raw;
      },
      rawWritten: (n) => this.#writer.rawWritten(n),
    };
    const options = { ...this.#copy, lease, hot: lease.hot, paranoid: this.#recheckAll(lease) };
    let result: TransferResult;
    let reason = choice.reason;
    if (choice.strategy === 'splice') {
      result = await spliceFile(item.fsPath, sink, options);
    } else if (choice.strategy === 'snapshot') {
      const snap = await snapshotFile(item.fsPath, sink, {
        ...options,
        raw: this.#output.raw !== null,
        probe: this.#fs,
        leases: this.#leases,
        dir: this.#settings.snapshotDir,
        memfdBytes: this.#settings.memfdSnapshotBytes,
      });
      result = snap;
      reason = `${reason}; image: ${snap.image === 'reflink' ? 'reflink clone' : `private copy (${snap.image})`}`;
    } else {
      result = await streamFile(item.fsPath, sink, options);
    }
    await this.#writer.endEntry();
    return { result, offset, strategyReason: reason };
  }

  async #writeSegment(final: boolean): Promise<void> {
    const { name, body } = this.manifest.takeSegment(final);
    const now = Math.floor(Date.now() / 1000);
    await this.#writer.entry(
      { name, type: 'file', size: body.length, mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtimeSec: now, mtimeNsec: 0 },
      body,
    );
  }

  /** The read-back must find exactly what was written, or the archive does not go into place. */
  checkReadBack(result: VerifyResult): void {
    const expected = this.manifest.totals;
    let problem: string | undefined;
    if (result.status === ExitStatus.integrity) problem = result.problems[0]?.message ?? 'integrity failure';
    else if (!result.complete) problem = 'the archive read back incomplete';
    else if (result.entries !== expected.entries || result.files !== expected.files || result.bytes !== expected.bytes) {
      problem = `read back ${result.entries} entries and ${result.bytes} bytes, wrote ${expected.entries} and ${expected.bytes}`;
    }
    if (problem !== undefined) {
      throw new SafebakError('SAFEBAK_VERIFY_FAILED', `read-back verification failed: ${problem}`, {
        path: typeof this.#options.output === 'string' ? this.#options.output : undefined,
      });
    }
  }

  result(verification: CreateResult['verification'], compression: Compression, output: string | null, durationMs: number): CreateResult {
    const t = this.manifest.totals;
    return {
      status: this.#flagged.length > 0 ? ExitStatus.flagged : ExitStatus.ok,
      output,
      compression,
      totals: { ...t, segments: this.manifest.segments },
      retried: this.#retried,
      flagged: this.#flagged,
      notes: this.#notes,
      strategies: this.#strategies,
      verification,
      records: this.#records ?? undefined,
      durationMs,
    };
  }
}

/** Errors of opening a file for an attempt: recorded against that file, never fatal to the run. */
function isOpenFailure(err: unknown): boolean {
  if (err instanceof NotRegularFile) return true;
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && ['ENOENT', 'EACCES', 'EPERM', 'ELOOP', 'ENXIO', 'EIO', 'ENOTDIR', 'ESTALE'].includes(code);
}

function reasonOfOpenError(err: unknown): string {
  if (err instanceof NotRegularFile) return err.message;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'vanished';
  if (code === 'ELOOP') return 'became a symlink';
  return `unreadable: ${describeSystemError(err)}`;
}
